"""torch.compile with numerical validation against eager, and an honest fallback.

Two compiled copies share the eager module's parameters: one for the PPO update (train mode, with
gradients, minibatch shape) and one for acting (eval mode, no gradients, one row per env), so neither
mode nor shape changes force a retrace of the other. Both are checked against eager on sample batches;
any exception or a difference above the tolerance falls back to eager (both copies), and the reason is
recorded in `CompileStatus`, which goes into the run record and the `hello` message.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from trainer.config import COMPILE_MODES


@dataclass
class CompileStatus:
    """What happened when compiling; serialisable as it stands."""

    requested_mode: str
    compiled: bool = False  # True only when both copies compiled and validated
    mode: str = "off"  # the mode in use ("off" after a fallback)
    fallback_reason: str | None = None
    validation_max_error: float | None = None  # max |compiled - eager| over logits (legal) and value
    tolerance: float | None = None
    compile_seconds: float | None = None
    details: dict[str, str] = field(default_factory=dict)
    state: str = "eager"  # eager (off), compiling (in the background), compiled, fallback

    def describe(self) -> str:
        """One line for the status strip: which network is running and why."""
        if self.compiled:
            return f"compiled ({self.mode})"
        if self.state == "compiling":
            return f"eager, compiling ({self.requested_mode}) in the background"
        if self.fallback_reason:
            return f"eager (compile fell back: {self.fallback_reason})"
        return "eager (compile off)"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class CompiledModel:
    """The eager module plus the callables to use for training and for acting."""

    eager: nn.Module
    train_forward: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    infer_forward: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    status: CompileStatus


class ModeCall:
    """Call `fn` (the eager model or its compiled copy) with the model fixed in train or eval mode.

    The mode is set outside the compiled region, so each compiled copy only ever sees one mode.
    """

    def __init__(self, model: nn.Module, fn: Callable, training: bool):
        self.model, self.fn, self.training = model, fn, training

    def __call__(self, obs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        previous = self.model.training
        if previous != self.training:
            self.model.train(self.training)
        try:
            return self.fn(obs, mask)
        finally:
            if previous != self.training:
                self.model.train(previous)


def _max_error(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor], mask) -> float:
    logits_err = (a[0] - b[0]).abs().masked_fill(~mask, 0.0).max()
    value_err = (a[1] - b[1]).abs().max()
    return float(torch.maximum(logits_err, value_err))


def compile_model(
    model: nn.Module,
    mode: str,
    infer_sample: tuple[torch.Tensor, torch.Tensor],
    train_sample: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    tolerance: float = 1e-3,
    lock: threading.Lock | None = None,
) -> CompiledModel:
    """Compile `model` for training and inference, validate both against eager, or fall back to eager.

    Graphs are static in shape: give samples with the batch sizes the copies will be called with
    (acting: the number of envs; training: the minibatch), so the validation run is the only trace.
    """
    train_sample = train_sample or infer_sample
    status = CompileStatus(requested_mode=mode, tolerance=tolerance)
    eager_train, eager_infer = ModeCall(model, model, True), ModeCall(model, model, False)
    if mode == "off":
        return CompiledModel(model, eager_train, eager_infer, status)
    if mode not in COMPILE_MODES:
        status.fallback_reason = f"unsupported compile mode {mode!r}; expected one of {COMPILE_MODES}"
        status.state = "fallback"
        return CompiledModel(model, eager_train, eager_infer, status)

    start = time.perf_counter()
    try:
        compiled_train = ModeCall(model, torch.compile(model, mode=mode, dynamic=False), True)
        compiled_infer = ModeCall(model, torch.compile(model, mode=mode, dynamic=False), False)
        errors = []
        # Each copy is traced under the grad mode it will run in, so validation is its only trace.
        for eager_fn, compiled_fn, (obs, mask), grad in (
            (eager_infer, compiled_infer, infer_sample, False),
            (eager_train, compiled_train, train_sample, True),
        ):
            with torch.set_grad_enabled(grad):
                if lock is not None:
                    compiled_fn(obs, mask)  # trace and compile outside the lock: training goes on
                # Under the lock no optimizer step changes the weights between the two calls.
                with lock if lock is not None else contextlib.nullcontext():
                    expected = [t.detach() for t in eager_fn(obs, mask)]
                    got = [t.detach() for t in compiled_fn(obs, mask)]
            errors.append(_max_error(expected, got, mask))
    except Exception as exc:  # any compiler failure means eager, with the reason kept
        status.fallback_reason = f"compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        status.state = "fallback"
        return CompiledModel(model, eager_train, eager_infer, status)
    status.compile_seconds = round(time.perf_counter() - start, 2)
    status.validation_max_error = max(errors)
    if not status.validation_max_error <= tolerance:  # also catches NaN
        status.fallback_reason = (
            f"validation failed: max error {status.validation_max_error:.3g} exceeds tolerance {tolerance:g}"
        )
        status.state = "fallback"
        return CompiledModel(model, eager_train, eager_infer, status)
    status.compiled = True
    status.mode = mode
    status.state = "compiled"
    return CompiledModel(model, compiled_train, compiled_infer, status)


def sharing_copy(model: nn.Module) -> nn.Module:
    """A second module tree over the same parameter and buffer tensors: its own train/eval flags (so a
    compile thread can switch modes without touching the training model), the same weights, and
    gradients that land in the parameters the optimizer holds."""
    memo = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    return copy.deepcopy(model, memo)


class BackgroundCompile:
    """`compile_model` in a thread, so training starts eager at once. The copy being compiled shares
    the model's parameters (`sharing_copy`); validation takes `lock`, which the training loop holds
    while it changes the weights. `poll()` hands over the result once, when it is ready."""

    def __init__(self, model, mode, infer_sample, train_sample, *, tolerance: float, lock: threading.Lock):
        self.status = CompileStatus(requested_mode=mode, tolerance=tolerance, state="compiling")
        self._args = (sharing_copy(model), mode, infer_sample, train_sample)
        self._tolerance, self._lock = tolerance, lock
        self._result: CompiledModel | None = None
        self._taken = False
        self._thread = threading.Thread(target=self._run, name="compile", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._result = compile_model(*self._args, tolerance=self._tolerance, lock=self._lock)
        except BaseException as exc:  # whatever it was, training goes on eager
            status = CompileStatus(requested_mode=self.status.requested_mode, tolerance=self._tolerance)
            status.fallback_reason = f"compile failed: {type(exc).__name__}: {exc}"[:300]
            self._result = CompiledModel(self._args[0], None, None, status)  # type: ignore[arg-type]
        finally:
            if not self._result.status.compiled:
                self._result.status.state = "fallback"
            self.status = self._result.status

    def poll(self) -> CompiledModel | None:
        """The finished result, once (None while compiling and after it was taken)."""
        if self._taken or self._thread.is_alive() or self._result is None:
            return None
        self._taken = True
        return self._result

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
