"""The opponent pool (fictitious self-play): past snapshots as opponents, unusable ones skipped."""

import json
from dataclasses import asdict

import numpy as np
import torch

from showcase_core.shogi.vecenv import VecEnv
from trainer.checkpoint import save_checkpoint
from trainer.config import load_config
from trainer.league import OpponentPool
from trainer.loop import train
from trainer.model import ModelArgs, build_model

ARGS = ModelArgs(depth=1, width=8, value_hidden=8)


def snapshot(path, model, update, args=ARGS):
    return save_checkpoint(
        path, {"model": model.state_dict(), "model_args": asdict(args), "update": update, "config": {}}
    )


def test_pool_draws_usable_snapshots_and_skips_missing_corrupt_and_foreign_ones(tmp_path):
    torch.manual_seed(0)
    current, past = build_model(ARGS), build_model(ARGS)
    pool = OpponentPool(tmp_path, current, model_args=asdict(ARGS), size=3, device=torch.device("cpu"))
    assert pool.refresh(current) == "current"  # nothing in the pool yet: a frozen copy of itself

    (tmp_path / "pool_000010.pt").write_bytes(b"not a checkpoint")  # corrupt
    (tmp_path / "pool_000020.pt").symlink_to(tmp_path / "gone.pt")  # missing
    other = ModelArgs(depth=1, width=16, value_hidden=8)
    snapshot(tmp_path / "pool_000030.pt", build_model(other), 30, other)  # another network
    assert pool.refresh(current) == "current"
    assert set(pool.skipped) == {"pool_000010.pt", "pool_000020.pt", "pool_000030.pt"}
    assert "corrupt" in pool.skipped["pool_000010.pt"]
    assert "no such checkpoint" in pool.skipped["pool_000020.pt"]
    assert "made for model" in pool.skipped["pool_000030.pt"]

    snapshot(tmp_path / "pool_000040.pt", past, 40)
    assert pool.refresh(current) == "update 40"
    for name, p in pool.opponent.model.state_dict().items():
        assert torch.equal(p, past.state_dict()[name])  # plays the past weights, not the current ones
    env = VecEnv(3)
    actions = pool.opponent(env, np.arange(3), np.random.default_rng(0))
    assert env.mask[np.arange(3), actions].all()
    assert pool.status()["opponent_update"] == 40


def test_pool_keeps_the_newest_snapshots(tmp_path):
    model = build_model(ARGS)
    pool = OpponentPool(tmp_path, model, model_args=asdict(ARGS), size=2, device=torch.device("cpu"))
    for update in (5, 10, 15):
        pool.add(lambda path, u=update: snapshot(path, model, u), update)
    assert [p.name for p in pool.snapshots()] == ["pool_000010.pt", "pool_000015.pt"]


def test_training_with_a_pool_records_the_mix_and_who_the_games_were_against(tmp_path):
    run_dir = tmp_path / "run"
    sets = [
        f"run.run_dir='{run_dir}'", "run.updates=4", "run.threads=2", "model.preset='custom'",
        "model.depth=1", "model.width=8", "model.value_hidden=8", "env.num_envs=4", "env.max_plies=12",
        "ppo.num_steps=8", "ppo.minibatch_size=32", "eval.every_updates=0",
        "curriculum.random_opponent_envs=2", "curriculum.pool_envs=2", "curriculum.pool_size=2",
        "curriculum.pool_every_updates=1", "curriculum.pool_refresh_updates=1", "compile.mode='off'",
    ]  # fmt: skip
    result = train(load_config(None, sets))
    assert result.updates == 4
    record = json.loads((run_dir / "run.json").read_text())
    assert record["opponent_mix"] == {"self": 0.5, "random": 0.25, "greedy": 0.0, "past_self": 0.25}
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    drawn = [m["pool/opponent_update"] for m in lines]
    assert drawn[:2] == [-1.0, 1.0]  # its frozen self first, then the only snapshot there is
    assert drawn[2] in (1.0, 2.0) and drawn[3] in (2.0, 3.0)  # the two newest are kept
    assert any(m.get("pool/games", 0) > 0 for m in lines) and all(
        0 <= m.get("pool/score", 0) <= 1 for m in lines
    )
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("pool_*.pt")) == [
        "pool_000003.pt",
        "pool_000004.pt",
    ]
