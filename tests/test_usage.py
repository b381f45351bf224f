"""How an update uses its buffer (trainer/usage.py): each sample's phase read from its observation
equals the insight's rule on the position; the counts by phase and side are exact for a hand-made
rollout; inside a real update the clipped counts add up to its clip fraction."""

import math
import random

import numpy as np
import pytest
import torch
from test_ppo import TinyPolicy

from showcase_core.shogi.features import N_PLANES, observe
from showcase_core.shogi.game import Game
from trainer.insight import game_phase
from trainer.ppo import PPOSettings, Rollout, ppo_update
from trainer.usage import PHASES, BufferUsage, phases


def positions(seed=0, plies=220, max_plies=300):
    """Positions of a random game that reach every phase (observation, the rule's phase)."""
    rng = random.Random(seed)
    game = Game(max_plies=max_plies)
    out = []
    while not game.is_over and game.ply < plies:
        out.append((observe(game), game_phase(game)))
        game.push(rng.choice(game.legal_moves()))
    return out


def test_the_phase_read_from_an_observation_is_the_insights_rule():
    seen = [p for seed in range(3) for p in positions(seed)]
    obs = torch.from_numpy(np.stack([o for o, _ in seen]))
    got = phases(obs, 300)
    assert [PHASES[i] for i in got.tolist()] == [p for _, p in seen]
    assert {p for _, p in seen} == set(PHASES)  # all three were tested


def test_counts_by_phase_and_side_are_exact_for_a_hand_made_rollout():
    # 2 steps x 3 envs; envs 0-1 are self-play, env 2 plays a scripted opponent.
    game = Game(max_plies=300)
    start = torch.from_numpy(observe(game))  # opening, Black to move
    game.push_usi("7g7f")
    white = torch.from_numpy(observe(game))  # opening, White to move
    late = next(torch.from_numpy(o) for o, p in positions(1) if p == "endgame")
    roll = Rollout.empty(2, 3, N_PLANES, 8)
    roll.obs[0, 0], roll.obs[0, 1], roll.obs[0, 2] = start, white, start
    roll.obs[1, 0], roll.obs[1, 1], roll.obs[1, 2] = late, start, late
    roll.values[:] = torch.tensor([[0.5, -0.2, 0.9], [0.1, 0.3, -0.9]])
    advantages = torch.tensor([[0.1, -3.0, 0.2], [0.0, 0.3, 0.1]])  # the top tenth: sample 1 (opening)
    u = BufferUsage(roll, advantages, max_plies=300, selfplay_envs=2)
    late_side = 0 if late[42, 0, 0] > 0.5 else 1
    assert u.phase.tolist() == [0, 0, 0, 2, 0, 2]
    assert u.side.tolist() == [0, 1, 2, late_side, 0, 2]
    # Two minibatches: samples 0, 1, 3 (1 and 3 clipped), then 2, 4, 5 (5 clipped).
    u.visit(torch.tensor([0, 1, 3]), torch.tensor([False, True, True]), torch.tensor([1.0, 2.0, 3.0]))
    u.visit(torch.tensor([2, 4, 5]), torch.tensor([False, False, True]), torch.tensor([4.0, 5.0, 6.0]))
    m = u.metrics()
    assert m["buffer/samples_opening"] == 4 / 6 and m["buffer/samples_endgame"] == 2 / 6
    assert m["buffer/samples_middlegame"] == 0
    assert m["buffer/clipped_opening"] == 1 / 3 and m["buffer/clipped_endgame"] == 2 / 3
    assert m["buffer/clip_rate_opening"] == 1 / 4 and m["buffer/clip_rate_endgame"] == 1.0
    assert m["buffer/clip_rate_middlegame"] is None  # no visits
    assert m["buffer/high_adv_opening"] == 1.0
    black = [0, 4] + ([3] if late_side == 0 else [])
    entropy = {0: 1.0, 1: 2.0, 3: 3.0, 4: 5.0}
    values = {0: 0.5, 1: -0.2, 3: 0.1, 4: 0.3}
    whites = [i for i in (1, 3) if i not in black]
    assert m["side/black_entropy"] == pytest.approx(sum(entropy[i] for i in black) / len(black))
    assert m["side/white_entropy"] == pytest.approx(sum(entropy[i] for i in whites) / len(whites))
    assert m["side/black_clip_rate"] == pytest.approx(sum(i in (1, 3) for i in black) / len(black))
    assert m["side/black_value"] == pytest.approx(sum(values[i] for i in black) / len(black))
    assert m["side/white_value"] == pytest.approx(sum(values[i] for i in whites) / len(whites))


def test_inside_an_update_the_clipped_counts_add_up_to_its_clip_fraction():
    n_actions, T, N = 6, 4, 8
    model = TinyPolicy(n_actions)
    roll = Rollout.empty(T, N, n_planes=N_PLANES, n_actions=n_actions)
    obs = [torch.from_numpy(o) for o, _ in positions(2)]
    for t in range(T):
        for j in range(N):
            roll.obs[t, j] = obs[(t * N + j) * 5 % len(obs)]
    roll.masks[:] = True
    gen = torch.Generator().manual_seed(0)
    roll.actions[:] = torch.randint(0, n_actions, (T, N), generator=gen)
    roll.logprobs[:] = math.log(1 / n_actions)
    advantages = torch.where(roll.actions == 2, 1.0, -0.25)
    settings = PPOSettings(update_epochs=4, minibatch_size=8, ent_coef=0.0, clip_coef=0.05)
    opt = torch.optim.SGD(model.parameters(), lr=2.0)
    usage = BufferUsage(roll, advantages, max_plies=300, selfplay_envs=N)
    m = ppo_update(
        model, opt, list(model.parameters()), roll, advantages, advantages.clone(), settings, gen, usage
    )
    clipped = sum((m[f"buffer/clip_rate_{p}"] or 0) * float(usage.visited[i]) for i, p in enumerate(PHASES))
    assert m["ppo/clipfrac"] > 0
    assert clipped / float(usage.visited.sum()) == pytest.approx(m["ppo/clipfrac"], rel=1e-6)
    assert float(usage.visited.sum()) == T * N * m["ppo/epochs_run"]
    assert sum(m[f"buffer/clipped_{p}"] or 0 for p in PHASES) == pytest.approx(1.0)
