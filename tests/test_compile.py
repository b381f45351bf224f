"""torch.compile: validated against eager for both model kinds; failures fall back with the reason.

Compiling costs tens of seconds on this CPU, so each model kind is compiled once, in small sizes.
"""

import torch

from showcase_core.shogi.vecenv import VecEnv
from trainer.compile import compile_model
from trainer.model import ModelArgs, build_model


def sample(batch: int):
    env = VecEnv(batch)
    return torch.from_numpy(env.obs.copy()), torch.from_numpy(env.mask.copy())


def check_compiles(args: ModelArgs):
    torch.manual_seed(0)
    model = build_model(args)
    infer, train = sample(4), sample(8)
    compiled = compile_model(model, "default", infer, train, tolerance=1e-3)
    status = compiled.status
    assert status.compiled, status.fallback_reason
    assert status.mode == "default" and status.fallback_reason is None
    assert 0 <= status.validation_max_error <= 1e-3
    # The compiled copies agree with eager in use, and training gradients flow through the compiled one.
    with torch.no_grad():
        model.eval()
        expected = model(*infer)
        got = compiled.infer_forward(*infer)
    assert torch.allclose(expected[1], got[1], atol=1e-3)
    logits, value = compiled.train_forward(*train)
    (value.sum() + torch.log_softmax(logits, -1)[:, 0].sum()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_restower_compiles_and_validates():
    check_compiles(ModelArgs(kind="restower", depth=1, width=8, se_ratio=0.25, value_hidden=8))


def test_baseline_compiles_and_validates():
    check_compiles(ModelArgs(kind="baseline", width=4, value_hidden=8))


def test_unsupported_mode_falls_back_to_eager_with_reason():
    model = build_model(ModelArgs(kind="baseline", width=2, value_hidden=4))
    compiled = compile_model(model, "turbo", sample(2))
    assert not compiled.status.compiled and compiled.status.mode == "off"
    assert "unsupported compile mode 'turbo'" in compiled.status.fallback_reason
    logits, value = compiled.infer_forward(*sample(2))
    assert logits.shape == (2, 13527) and value.shape == (2,)


def test_compiler_error_falls_back_with_reason():
    model = build_model(ModelArgs(kind="baseline", width=2, value_hidden=4))
    obs, mask = sample(2)
    wrong = (obs[:, :40], mask)  # 40 planes: the network cannot run this, compiled or not
    compiled = compile_model(model, "default", wrong)
    assert not compiled.status.compiled
    assert compiled.status.fallback_reason.startswith("compile failed: ")
    assert compiled.status.as_dict()["requested_mode"] == "default"


def test_off_is_eager_without_a_reason():
    model = build_model(ModelArgs(kind="baseline", width=2, value_hidden=4))
    compiled = compile_model(model, "off", sample(2))
    assert not compiled.status.compiled and compiled.status.fallback_reason is None


def test_background_compile_validates_while_training_goes_on_and_trains_the_same_weights():
    """The compiled copy is made in a thread over the model's own parameters: while it compiles, the
    main thread keeps stepping the optimizer (under the lock); once ready it validates, and a step
    through the compiled training forward moves the optimizer's parameters."""
    import threading
    import time

    from trainer.compile import BackgroundCompile

    torch.manual_seed(0)
    model = build_model(ModelArgs(kind="restower", depth=1, width=8, se_ratio=0.25, value_hidden=8))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    infer, train = sample(4), sample(8)
    lock = threading.Lock()
    background = BackgroundCompile(model, "default", infer, train, tolerance=1e-3, lock=lock)
    assert background.status.state == "compiling" and "compiling" in background.status.describe()
    steps, deadline = 0, time.monotonic() + 300
    while (done := background.poll()) is None:
        assert time.monotonic() < deadline, "the background compile did not finish in 300 s"
        with lock:
            _, value = model(*train)
            opt.zero_grad()
            value.sum().backward()
            opt.step()
        steps += 1
    assert steps > 0 and background.poll() is None  # handed over once
    assert done.status.compiled and done.status.state == "compiled", done.status.fallback_reason
    assert done.status.describe() == "compiled (default)"
    before = [p.detach().clone() for p in model.parameters()]
    logits, value = done.train_forward(*train)
    opt.zero_grad()
    (value.sum() + logits.float().logsumexp(-1).sum()).backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    with torch.no_grad():
        model.eval()
        assert torch.allclose(model(*infer)[1], done.infer_forward(*infer)[1], atol=1e-3)


def test_background_compile_falls_back_on_a_forced_mismatch(monkeypatch):
    """A compiler that returns wrong numbers (a stand-in that adds 1 to the value) is caught by the
    validation: eager stays, with the reason."""
    import threading

    from trainer import compile as compile_module
    from trainer.compile import BackgroundCompile

    def wrong_compile(model, **kwargs):
        def run(obs, mask):
            logits, value = model(obs, mask)
            return logits, value + 1.0

        return run

    monkeypatch.setattr(compile_module.torch, "compile", wrong_compile)
    model = build_model(ModelArgs(kind="baseline", width=2, value_hidden=4))
    background = BackgroundCompile(
        model, "default", sample(2), sample(2), tolerance=1e-3, lock=threading.Lock()
    )
    background.join(60)
    done = background.poll()
    assert done is not None and not done.status.compiled and done.status.state == "fallback"
    assert done.status.fallback_reason.startswith("validation failed: max error 1 exceeds")
    assert "compile fell back: validation failed" in done.status.describe()


def test_training_starts_eager_and_switches_to_the_compiled_model(tmp_path):
    """`compile.background` (the default): the run's first update is eager; when the compiled copy
    validates, run.json and the trainer's status line say compiled, and training went on meanwhile."""
    import json
    import threading
    import time

    from trainer.config import load_config
    from trainer.loop import StopFlag, train

    run_dir = tmp_path / "run"
    cfg = load_config(
        None,
        [
            f"run.run_dir='{run_dir}'", "run.updates=100000", "run.threads=2", "model.preset='custom'",
            "model.depth=1", "model.width=8", "model.value_hidden=8", "env.num_envs=8", "env.max_plies=40",
            "ppo.num_steps=4", "ppo.minibatch_size=32", "eval.every_updates=0",
            "curriculum.random_opponent_envs=0", "checkpoint.every_updates=1000",
        ],
    )  # fmt: skip
    assert cfg.compile.mode == "default" and cfg.compile.background
    stop = StopFlag()
    result = {}
    thread = threading.Thread(target=lambda: result.update(r=train(cfg, stop=stop)), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            record = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
            if record.get("compile", {}).get("state") in ("compiled", "fallback"):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the compile never finished")
        metrics = run_dir / "metrics.jsonl"
        switched_at = len(metrics.read_text().splitlines())
        while len(metrics.read_text().splitlines()) < switched_at + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set("test")
        thread.join(120)
    assert record["compile"]["state"] == "compiled", record["compile"]["fallback_reason"]
    ran = [json.loads(line)["perf/compiled"] for line in metrics.read_text().splitlines()]
    assert ran[0] == 0.0 and ran[-1] == 1.0  # eager while compiling, then the compiled copy
    assert ran == sorted(ran)  # switched once, never back
    assert result["r"].compile_status["compiled"] and result["r"].updates >= switched_at + 2
