"""torch.compile: validated against eager for both model kinds; failures fall back with the reason.

Compiling costs tens of seconds on this CPU, so each model kind is compiled once, in small sizes.
"""

import torch

from trainer.compile import compile_model
from trainer.model import ModelArgs, build_model
from trainer.shogi.vecenv import VecEnv


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
