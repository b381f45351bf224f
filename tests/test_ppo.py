"""PPO math: GAE for alternating movers against hand-computed values, KL/clipfrac, entropy, schedules."""

import math

import numpy as np
import pytest
import torch

from showcase_core.shogi.features import N_PLANES
from trainer.model import legal_entropy, masked_logits
from trainer.ppo import (
    ADV_HIST_EDGES,
    PPOSettings,
    Rollout,
    explained_variance,
    gae,
    histogram,
    lr_at,
    policy_stats,
    ppo_update,
)


def col(*xs):
    """A (T, 1) tensor from per-step values."""
    return torch.tensor(xs, dtype=torch.float32)[:, None]


def flags(*xs):
    return torch.tensor(xs, dtype=torch.bool)[:, None]


@pytest.mark.parametrize(("g", "lam"), [(0.9, 0.8), (1.0, 1.0), (0.99, 0.95), (0.5, 0.0)])
def test_gae_two_player_episode_won_by_the_last_mover(g, lam):
    # Three plies A, B, A; A's last move mates (+1 to the mover). Values from each mover's view.
    v0, v1, v2 = 0.1, -0.2, 0.3
    adv, ret = gae(
        rewards=col(0.0, 0.0, 1.0),
        values=col(v0, v1, v2),
        next_values=col(v1, v2, 0.77),  # the last one is ignored: terminated
        next_sign=col(-1.0, -1.0, -1.0),
        terminated=flags(False, False, True),
        truncated=flags(False, False, False),
        gamma=g,
        gae_lambda=lam,
    )
    d2 = 1.0 - v2
    d1 = g * -v2 - v1
    d0 = g * -v1 - v0
    a2 = d2
    a1 = d1 - g * lam * a2  # the next state's advantage belongs to the opponent: negated
    a0 = d0 - g * lam * a1
    assert adv[:, 0].tolist() == pytest.approx([a0, a1, a2], abs=1e-6)
    assert ret[:, 0].tolist() == pytest.approx([a0 + v0, a1 + v1, a2 + v2], abs=1e-6)


@pytest.mark.parametrize(("g", "lam"), [(0.9, 0.8), (1.0, 0.5), (0.99, 0.95)])
def test_gae_truncation_bootstraps_and_cuts_and_new_game_starts_fresh(g, lam):
    # Steps 0-1: a game truncated after step 1 (final position value 0.4 for its mover);
    # step 2: a new game, cut by the end of the rollout and bootstrapped from 0.6.
    v0, v1, v2 = 0.2, -0.1, 0.05
    adv, _ = gae(
        rewards=col(0.0, 0.0, 0.0),
        values=col(v0, v1, v2),
        next_values=col(v1, 0.4, 0.6),
        next_sign=col(-1.0, -1.0, -1.0),
        terminated=flags(False, False, False),
        truncated=flags(False, True, False),
        gamma=g,
        gae_lambda=lam,
    )
    a2 = g * -0.6 - v2
    a1 = g * -0.4 - v1  # bootstraps from the final position, no carry from the next game
    a0 = (g * -v1 - v0) - g * lam * a1
    assert adv[:, 0].tolist() == pytest.approx([a0, a1, a2], abs=1e-6)


def test_gae_same_mover_sign_for_curriculum_steps():
    # Against a scripted opponent the agent moves again in the next state: sign +1, no negation.
    g, lam = 0.9, 0.7
    adv, _ = gae(
        rewards=col(0.0, -1.0),
        values=col(0.5, 0.25),
        next_values=col(0.25, 0.0),
        next_sign=col(1.0, 1.0),
        terminated=flags(False, True),
        truncated=flags(False, False),
        gamma=g,
        gae_lambda=lam,
    )
    a1 = -1.0 - 0.25
    a0 = (g * 0.25 - 0.5) + g * lam * a1
    assert adv[:, 0].tolist() == pytest.approx([a0, a1])


def test_policy_stats_match_a_reference_computation():
    old = torch.log(torch.tensor([0.5, 0.2, 0.1, 0.4]))
    new = torch.log(torch.tensor([0.65, 0.2, 0.05, 0.3]))
    ratio, kl, clipfrac = policy_stats(new, old, clip_coef=0.2)
    r = [0.65 / 0.5, 1.0, 0.5, 0.3 / 0.4]
    assert ratio.tolist() == pytest.approx(r, rel=1e-5)
    assert float(kl) == pytest.approx(np.mean([(x - 1) - math.log(x) for x in r]), rel=1e-5)
    assert float(clipfrac) == pytest.approx(0.75)  # 1.3, 0.5 and 0.75 fall outside [0.8, 1.2]
    # k3 is never negative, even where the plain mean log-ratio would be.
    _, kl2, _ = policy_stats(torch.log(torch.tensor([0.9, 0.1])), torch.log(torch.tensor([0.5, 0.5])), 0.2)
    assert float(kl2) > 0


def test_entropy_is_the_legal_move_entropy():
    logits = torch.tensor([[1.0, 2.0, 3.0, 10.0, -4.0]])
    mask = torch.tensor([[True, True, True, False, False]])
    ent = legal_entropy(masked_logits(logits, mask), mask)
    p = torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0)
    assert float(ent) == pytest.approx(float(-(p * p.log()).sum()), rel=1e-6)
    uniform = legal_entropy(masked_logits(torch.zeros(1, 5), mask), mask)
    assert float(uniform) == pytest.approx(math.log(3), rel=1e-6)
    assert torch.isfinite(ent).all() and float(ent) > 0


def test_explained_variance_and_histograms():
    returns = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(returns, returns) == pytest.approx(1.0)
    assert explained_variance(torch.zeros(4), returns) == pytest.approx(0.0)
    assert math.isnan(explained_variance(torch.zeros(3), torch.ones(3)))
    counts = histogram(torch.tensor([-10.0, -0.01, 0.01, 0.2, 9.0]))
    assert len(counts) == len(ADV_HIST_EDGES) - 1 and sum(counts) == 5
    assert counts[0] == 1 and counts[-1] == 1  # outliers clamp into the end bins
    assert counts[11] == 1 and counts[12] == 2  # bins of width 0.25 around zero


def test_lr_schedules():
    assert lr_at("constant", 1e-3, 0.7) == 1e-3
    assert lr_at("linear", 1e-3, 0.25) == pytest.approx(7.5e-4)
    assert lr_at("cosine", 1e-3, 0.5) == pytest.approx(5e-4)
    assert lr_at("cosine", 1e-3, 1.0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="schedule"):
        lr_at("step", 1e-3, 0.1)


class TinyPolicy(torch.nn.Module):
    """Logits from a free table: enough to check the update's bookkeeping."""

    def __init__(self, n_actions: int):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(n_actions))
        self.v = torch.nn.Parameter(torch.zeros(()))

    def forward(self, obs, mask):
        b = obs.shape[0]
        return masked_logits(self.logits.expand(b, -1), mask), self.v.expand(b)


def test_first_minibatch_has_ratio_one_and_update_moves_toward_advantage():
    n_actions, T, N = 6, 4, 8
    model = TinyPolicy(n_actions)
    roll = Rollout.empty(T, N, n_planes=1, n_actions=n_actions)
    roll.masks[:] = True
    roll.masks[..., 5] = False
    gen = torch.Generator().manual_seed(0)
    roll.actions[:] = torch.randint(0, 5, (T, N), generator=gen)
    roll.logprobs[:] = math.log(1 / 5)  # uniform over the 5 legal actions, as the zero table gives
    advantages = torch.where(roll.actions == 2, 1.0, -0.25)
    returns = advantages.clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    settings = PPOSettings(update_epochs=1, minibatch_size=T * N, ent_coef=0.0, clip_coef=0.2)
    metrics = ppo_update(model, opt, list(model.parameters()), roll, advantages, returns, settings, gen)
    assert metrics["ppo/approx_kl"] == pytest.approx(0.0, abs=1e-7)  # old and new policy coincide
    assert metrics["ppo/clipfrac"] == 0.0
    assert metrics["losses/entropy"] == pytest.approx(math.log(5), rel=1e-5)
    assert int(model.logits.argmax()) == 2  # the advantaged action gained probability
    assert sum(metrics["adv/hist_raw"]) == T * N == sum(metrics["adv/hist_norm"])


def test_bfloat16_autocast_update_runs_and_stays_finite():
    from showcase_core.shogi.vecenv import VecEnv
    from trainer.model import ModelArgs, build_model

    torch.manual_seed(0)
    model = build_model(ModelArgs(depth=1, width=8, value_hidden=8))
    env = VecEnv(8)
    T, N = 2, 8
    roll = Rollout.empty(T, N, n_planes=N_PLANES, n_actions=13527)
    for t in range(T):
        roll.obs[t] = torch.from_numpy(env.obs)
        roll.masks[t] = torch.from_numpy(env.mask)
        with torch.no_grad():
            action, logprob, _, value = model.get_action_and_value(roll.obs[t], roll.masks[t])
        roll.actions[t], roll.logprobs[t], roll.values[t] = action, logprob, value
        env.step(action.numpy())
    adv, ret = roll.advantages(0.99, 0.95)
    settings = PPOSettings(update_epochs=1, minibatch_size=8, amp=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    metrics = ppo_update(model, opt, list(model.parameters()), roll, adv, ret, settings, torch.Generator())
    for key in ("losses/policy", "losses/value", "losses/entropy", "ppo/approx_kl", "ppo/grad_norm"):
        assert math.isfinite(metrics[key]), key
    assert metrics["ppo/approx_kl"] >= 0
