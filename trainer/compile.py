"""torch.compile with numerical validation against eager, and an honest fallback.

Two compiled copies share the eager module's parameters: one for the PPO update (train mode, with
gradients, minibatch shape) and one for acting (eval mode, no gradients, one row per env), so neither
mode nor shape changes force a retrace of the other. Both are checked against eager on sample batches;
any exception or a difference above the tolerance falls back to eager (both copies), and the reason is
recorded in `CompileStatus`, which goes into the run record and the `hello` message.
"""

from __future__ import annotations

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
                expected = [t.detach() for t in eager_fn(obs, mask)]
                got = [t.detach() for t in compiled_fn(obs, mask)]
            errors.append(_max_error(expected, got, mask))
    except Exception as exc:  # any compiler failure means eager, with the reason kept
        status.fallback_reason = f"compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        return CompiledModel(model, eager_train, eager_infer, status)
    status.compile_seconds = round(time.perf_counter() - start, 2)
    status.validation_max_error = max(errors)
    if not status.validation_max_error <= tolerance:  # also catches NaN
        status.fallback_reason = (
            f"validation failed: max error {status.validation_max_error:.3g} exceeds tolerance {tolerance:g}"
        )
        return CompiledModel(model, eager_train, eager_infer, status)
    status.compiled = True
    status.mode = mode
    return CompiledModel(model, compiled_train, compiled_infer, status)
