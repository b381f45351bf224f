"""Environment workers (`env.workers`): the rules in spawned processes, the same rollout as in the
trainer's process, the opponent mix and the thumbnails reaching into them, and a dead worker as an
error that names it."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES
from trainer.envworkers import EnvWorkerError, EnvWorkers, split
from trainer.ppo import Rollout
from trainer.selfplay import Collector


def first_legal(obs, mask):
    """A deterministic policy: the lowest legal action (so two collectors given the same positions
    play the same games)."""
    a = mask.to(torch.uint8).argmax(dim=1)
    return a, torch.zeros(len(a)), torch.zeros(len(a))


def sampled(seed):
    gen = torch.Generator().manual_seed(seed)

    def act(obs, mask):
        logits = torch.where(mask, 0.0, -1e9)
        a = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=gen).squeeze(1)
        return a, torch.zeros(len(a)), torch.zeros(len(a))

    return act


def value_of(obs):
    return torch.zeros(len(obs))


def collect(collector, steps, act, rounds=2):
    out = []
    for _ in range(rounds):
        rollout = Rollout.empty(steps, collector.num_envs, N_PLANES, N_ACTIONS)
        stats = collector.collect(rollout, act, value_of)
        out.append((rollout, stats))
    return out


def test_split_spreads_envs_evenly_first_workers_taking_the_remainder():
    assert split(7, 3) == [3, 2, 2]
    assert split(2, 3) == [1, 1, 0]
    assert sum(split(96, 4)) == 96


def test_self_play_in_workers_is_the_same_rollout_bit_for_bit_as_in_process():
    kwargs = dict(max_plies=24, gamma=0.95, material_shaping=1.0, material_cap=30.0, random_opponent_envs=0,
                  seed=5, cap_is_draw=True)  # fmt: skip
    local = Collector(5, **kwargs)
    remote = Collector(5, **kwargs, workers=2)
    try:
        # A sampled policy from the same seed: the same positions give the same actions.
        a, b = collect(local, 16, sampled(1)), collect(remote, 16, sampled(1))
        for (ra, sa), (rb, sb) in zip(a, b, strict=True):
            for name in ("obs", "masks", "actions", "rewards", "terminated", "truncated", "next_sign",
                         "potentials", "next_potentials"):  # fmt: skip
                assert torch.equal(getattr(ra, name), getattr(rb, name)), name
            assert [(e.env, e.length, e.reason, e.winner, e.final_sfen) for e in sa.episodes] == [
                (e.env, e.length, e.reason, e.winner, e.final_sfen) for e in sb.episodes
            ]
        assert sum(len(s.episodes) for _, s in b) >= 5  # games ended (24-ply cap) in both workers
        views = [g.sfen() for g in remote.selfplay.games]
        assert views == [g.sfen() for g in local.selfplay.games]
    finally:
        remote.close()


def test_opponent_groups_in_workers_keep_their_order_mix_and_agent_to_move():
    remote = Collector(3, max_plies=20, gamma=0.95, material_shaping=1.0, random_opponent_envs=5,
                       greedy_opponent_envs=2, seed=7, workers=2)  # fmt: skip
    try:
        assert remote.num_envs == 10
        obs, mask = remote.observation()
        assert obs.shape == (10, N_PLANES, 9, 9) and mask.shape == (10, N_ACTIONS)
        assert mask.any(axis=1).all()  # every env has a legal move
        rounds = collect(remote, 12, sampled(2))
        against_random = sum(len(s.vs_opponent) for _, s in rounds)
        against_greedy = sum(len(s.vs_greedy) for _, s in rounds)
        assert against_random and against_greedy
        # Each opponent group hands its observations back with the agent to move, in its colour.
        colours = remote.curriculum.agent_colour
        games = remote.curriculum.games
        assert len(games) == 5 and len(colours) == 5
        assert all((g.sfen().split()[1] == "b") == (c == 0) for g, c in zip(games, colours, strict=True))
        # The opponent mix reaches the workers: from their next games, every one is against greedy.
        remote.set_greedy_share(1.0)
        collect(remote, 20, sampled(3))  # every game in progress ends at the 20-ply cap
        _, stats = collect(remote, 20, sampled(4), rounds=1)[0]
        assert stats.vs_greedy and not stats.vs_opponent
        assert remote.curriculum.uses_alt.all()
    finally:
        remote.close()


def test_a_worker_that_dies_is_an_error_naming_it_not_a_hang():
    workers = EnvWorkers(2, {"self": 4}, max_plies=30, seed=1)
    try:
        os.kill(workers._procs[1].pid, signal.SIGKILL)
        workers._procs[1].join(10)
        with pytest.raises(EnvWorkerError, match=r"env worker 1 died \(exit code -9\)"):
            workers.step(np.zeros(4, dtype=np.int64))
    finally:
        workers.close()
    assert all(not p.is_alive() for p in workers._procs)


def test_an_illegal_action_is_the_workers_error_with_the_position():
    workers = EnvWorkers(1, {"self": 2}, max_plies=30, seed=1)
    try:
        with pytest.raises(EnvWorkerError, match=r"env worker 0 failed: IllegalMoveError: env 0: action 0"):
            workers.step(np.zeros(2, dtype=np.int64))
    finally:
        workers.close()


def test_the_worker_module_does_not_import_torch():
    code = "import sys, trainer.envworkers; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_training_run_with_env_workers_learns_and_leaves_no_process_behind(tmp_path):
    import json
    import multiprocessing

    from test_knobs import small_overrides

    from trainer.config import load_config
    from trainer.loop import train

    cfg = load_config(None, [f"run.run_dir='{tmp_path / 'run'}'", "run.updates=2", *small_overrides(),
                             "curriculum.random_opponent_envs=4", "env.workers=2"])  # fmt: skip
    result = train(cfg)
    assert result.updates == 2
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in lines] == [1, 2]
    assert all(x["perf/samples"] > 0 for x in lines)
    assert multiprocessing.active_children() == []
