"""Model shapes, masking, the bilinear head's action layout, insight outputs, presets."""

import math

import torch

from showcase_core.shogi.actions import DROP_BASE, N_ACTIONS, decode_action
from showcase_core.shogi.vecenv import VecEnv
from trainer.model import (
    PRESETS,
    ActorCritic,
    ActorCriticResTower,
    BilinearPolicyHead,
    ModelArgs,
    build_model,
    masked_logits,
    sample_logits,
)


def batch(n: int = 3):
    env = VecEnv(n)
    rng = __import__("numpy").random.default_rng(0)
    for _ in range(7):
        env.step(env.sample_random_actions(rng))
    return torch.from_numpy(env.obs.copy()), torch.from_numpy(env.mask.copy())


def test_bilinear_head_puts_each_square_pair_at_its_action_index():
    torch.manual_seed(0)
    head = BilinearPolicyHead(channels=5, dim=4)
    x = torch.randn(2, 5, 9, 9)
    logits = head(x)
    assert logits.shape == (2, N_ACTIONS)
    q = head.query(x).reshape(2, 2, 4, 81)
    k = head.key(x).reshape(2, 4, 81)
    d = head.drop(x).reshape(2, 7, 81)
    for action in [0, 1, 159, 160, 9718, 9719, 12959, DROP_BASE, DROP_BASE + 40 * 7 + 3, N_ACTIONS - 1]:
        frm, to, promote, piece = decode_action(action, 0)
        if piece is None:
            expected = (q[:, int(promote), :, frm] * k[:, :, to]).sum(-1) / math.sqrt(4)
        else:
            expected = d[:, piece, to]
        assert torch.allclose(logits[:, action], expected, atol=1e-5), action


def test_forward_masks_illegal_moves_and_values_are_bounded():
    obs, mask = batch()
    for args in (PRESETS["cpu-small"], ModelArgs(kind="baseline", width=4, value_hidden=8)):
        model = build_model(args).eval()
        with torch.no_grad():
            logits, value = model(obs, mask)
            probs = torch.softmax(logits, -1)
        assert probs[~mask].max() == 0 and torch.allclose(probs.sum(-1), torch.ones(3))
        assert ((value > -1) & (value < 1)).all()


def test_get_action_and_value_scores_given_actions_and_samples_legal_ones():
    torch.manual_seed(1)
    obs, mask = batch()
    model = build_model(ModelArgs(depth=1, width=8, value_hidden=8)).eval()
    with torch.no_grad():
        action, logprob, entropy, value = model.get_action_and_value(obs, mask)
        assert mask[torch.arange(3), action].all()
        again = model.get_action_and_value(obs, mask, action)
        assert torch.allclose(again[1], logprob) and torch.allclose(again[3], value)
        assert torch.allclose(model.get_value(obs), value)
        greedy = model.get_action_and_value(obs, mask, temperature=0)[0]
        logits, _ = model(obs, mask)
        assert torch.equal(greedy, logits.argmax(-1))
        assert (entropy > 0).all()


def test_insight_comes_from_the_same_pass():
    obs, mask = batch()
    tower = ActorCriticResTower(ModelArgs(depth=2, width=8, se_ratio=0.5, value_hidden=8)).eval()
    with torch.no_grad():
        *_, seen = tower.get_action_and_value(obs, mask, return_insight=True)
    assert len(seen.gates) == len(seen.activations) == 2
    assert seen.gates[0].shape == (3, 8) and ((seen.gates[0] > 0) & (seen.gates[0] < 1)).all()
    assert seen.activations[1].shape == (3, 8, 9, 9)
    no_se = ActorCriticResTower(ModelArgs(depth=1, width=8, se_ratio=0.0, value_hidden=8)).eval()
    with torch.no_grad():
        *_, seen = no_se.get_action_and_value(obs, mask, return_insight=True)
    assert seen.gates == [None]
    baseline = ActorCritic(ModelArgs(kind="baseline", width=4, value_hidden=8))
    with torch.no_grad():
        *_, seen = baseline.get_action_and_value(obs, mask, return_insight=True)
    assert seen.activations[0].shape == (3, 4, 9, 9)


def test_presets():
    prod = PRESETS["production"]
    assert (prod.depth, prod.width, prod.se_ratio) == (9, 256, 0.25)
    linear = build_model(ModelArgs(depth=1, width=8, value_hidden=8, policy_head="linear"))
    obs, mask = batch(2)
    with torch.no_grad():
        assert linear(obs, mask)[0].shape == (2, N_ACTIONS)


def _masked(probs_rows: list[list[float]], width: int = N_ACTIONS) -> torch.Tensor:
    """(B, width) masked logits whose softmax is each row's `probs` on its first entries."""
    out = torch.full((len(probs_rows), width), torch.finfo(torch.float32).min)
    for b, probs in enumerate(probs_rows):
        for a, p in enumerate(probs):
            if p > 0:
                out[b, a * 97] = math.log(p)  # spread over the action space
    return out


def test_sample_logits_matches_the_categorical_distribution():
    torch.manual_seed(7)
    logits = _masked([[0.5, 0.3, 0.2]] * 20_000)
    action, logp = sample_logits(logits)
    counts = torch.bincount(action, minlength=N_ACTIONS)
    assert counts.sum() == 20_000 and set(torch.nonzero(counts).flatten().tolist()) == {0, 97, 194}
    freq = counts[[0, 97, 194]].double() / 20_000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.012)  # 3.5 sigma
    expected = torch.distributions.Categorical(logits=logits).log_prob(action)
    assert torch.allclose(logp, expected, atol=1e-6)


def test_sample_logits_is_the_inverse_cdf_and_never_draws_an_illegal_action(monkeypatch):
    logits = _masked([[0.25, 0.0, 0.5, 0.25]] * 5)  # entry 97 illegal, between two legal ones
    below_one = torch.nextafter(torch.tensor(1.0), torch.tensor(0.0)).item()
    draws = torch.tensor([[0.0], [0.2499], [0.2501], [0.7501], [below_one]])
    monkeypatch.setattr(torch, "rand", lambda shape, **kw: draws.to(kw.get("dtype", torch.float32)))
    action, _ = sample_logits(logits)
    assert action.tolist() == [0, 0, 194, 291, 291]
    draws = torch.ones(5, 1)  # a draw that rounds up to the total takes the last legal entry
    action, _ = sample_logits(logits)
    assert action.tolist() == [291] * 5


def test_sample_logits_on_random_masks_stays_legal():
    torch.manual_seed(3)
    mask = torch.rand(64, N_ACTIONS) < 0.005
    mask[:, 5] = True
    logits = masked_logits(torch.randn(64, N_ACTIONS) * 30, mask)  # peaked rows too
    for _ in range(20):
        action, logp = sample_logits(logits)
        assert mask.gather(1, action[:, None]).all()
        assert torch.isfinite(logp).all() and (logp <= 0).all()
