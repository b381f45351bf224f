"""GAE step by step on the trainer's side: a traced game's rows are the rollout's own numbers and the
advantages the update got, ply by ply, across rollout boundaries."""

import pytest
import torch

from showcase_core.protocol import GaeTrace as GaeTraceMessage
from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES
from showcase_core.shogi.game import Game
from trainer.gae_trace import GaeTrace
from trainer.ppo import Rollout
from trainer.selfplay import Collector

GAMMA, LAMBDA = 0.95, 0.9


def fake_value(obs):
    return torch.tanh(obs[:, :14].sum((1, 2, 3)) * 0.01 - 0.3)  # any fixed function of the position


def traced_game(out_dir=None, seed=3, max_plies=14):
    """Tiny self-play until one traced game ends: (trace, what was published, each update's rollout)."""
    collector = Collector(4, max_plies=max_plies, gamma=GAMMA, material_shaping=1.0, random_opponent_envs=0,
                          seed=seed, cap_is_draw=True)  # fmt: skip
    rollout = Rollout.empty(5, 4, N_PLANES, N_ACTIONS)
    gen = torch.Generator().manual_seed(0)

    def act(obs, mask):
        weights = torch.where(mask, torch.rand(mask.shape, generator=gen), torch.tensor(0.0))
        actions = torch.multinomial(weights, 1, generator=gen).squeeze(1)  # seeded: the same game every run
        return actions, torch.zeros(len(actions)), fake_value(obs)

    published = []
    trace = GaeTrace(collector, gamma=GAMMA, gae_lambda=LAMBDA, emit=lambda t, d: published.append((t, d)),
                     out_dir=out_dir)  # fmt: skip
    kept = {}
    for update in range(1, 100):
        stats = collector.collect(rollout, act, fake_value)
        advantages, returns = rollout.advantages(GAMMA, LAMBDA)
        kept[update] = ({k: v.clone() for k, v in vars(rollout).items()}, advantages.clone(), returns.clone())
        trace.after_gae(update, rollout, advantages, returns, stats.episodes)
        if trace.finished:
            break
    (done,) = trace.finished
    return done, published, kept


def test_a_traced_game_carries_the_rollouts_own_numbers_across_rollouts(tmp_path):
    done, published, kept = traced_game(tmp_path / "gae")
    assert published == [("gae_trace", done)]
    GaeTraceMessage.model_validate(done)  # a valid protocol message
    assert (tmp_path / "gae").is_dir() and len(list((tmp_path / "gae").glob("trace_*.json"))) == 1
    rows, j = done["rows"], done["env"]
    assert done["plies"] == len(rows) and done["first_update"] < done["last_update"]  # it spans rollouts
    assert any(r["segment_end"] for r in rows[:-1])
    game = Game(done["start_sfen"], max_plies=100)
    for i, row in enumerate(rows):
        tensors, adv, ret = kept[row["update"]]
        t = row["step"]
        assert row["ply"] == i + 1 and row["sfen"] == game.sfen()
        assert row["mover"] == ("black" if game.turn == 0 else "white")
        game.push_usi(row["usi"])
        # Read from the rollout the update trained on, exactly.
        for key, tensor in (("reward", "rewards"), ("value", "values"), ("next_value", "next_values"),
                            ("next_sign", "next_sign"), ("potential", "potentials"),
                            ("next_potential", "next_potentials")):  # fmt: skip
            assert row[key] == float(tensors[tensor][t, j]), (key, row)
        assert row["terminated"] == bool(tensors["terminated"][t, j])
        assert row["advantage"] == float(adv[t, j]) and row["return"] == float(ret[t, j])
        # ... and the formulas the page shows hold for them.
        assert row["delta"] == pytest.approx(
            row["reward"]
            + GAMMA * row["next_sign"] * row["next_value"] * (not row["terminated"])
            - row["value"],
            abs=1e-6,
        )
        assert row["return"] == pytest.approx(row["advantage"] + row["value"], abs=1e-6)
        if row["segment_end"] or row["terminated"] or row["truncated"]:
            assert row["advantage"] == pytest.approx(row["delta"], abs=1e-6)
        else:
            following = rows[i + 1]["advantage"]
            expected = row["delta"] + GAMMA * LAMBDA * row["next_sign"] * following
            assert row["advantage"] == pytest.approx(expected, abs=1e-6)
    assert game.sfen() == done["final_sfen"]
    assert rows[-1]["terminated"] and rows[-1]["next_value"] == 0.0
