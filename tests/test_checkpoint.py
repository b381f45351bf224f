"""Checkpoints survive kill -9 mid-write, refuse corrupt or foreign files, and resume the same run."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from trainer.checkpoint import CheckpointError, ObservationMismatch, load_checkpoint, save_checkpoint
from trainer.config import load_config
from trainer.loop import train

ROOT = Path(__file__).resolve().parents[1]


def minimal(update: int, payload=None) -> dict:
    return {
        "model": {"w": torch.full((3,), float(update))},
        "model_args": {"kind": "baseline"},
        "update": update,
        "config": {},
        **({"big": payload} if payload is not None else {}),
    }


def test_kill_during_save_leaves_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "latest.pt"
    save_checkpoint(path, minimal(1))
    writer = textwrap.dedent(
        f"""
        import sys, torch
        from trainer.checkpoint import save_checkpoint
        big = torch.ones(100_000_000)  # 400 MB: long enough to be caught mid-write
        print("saving", flush=True)
        payload = {{"model": {{}}, "model_args": {{}}, "update": 2, "config": {{}}, "big": big}}
        save_checkpoint({str(path)!r}, payload)
        print("saved", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "saving"
    deadline = time.monotonic() + 60

    def writing() -> bool:
        for f in tmp_path.glob(".latest.pt.*.tmp"):
            try:
                return f.stat().st_size > 0
            except FileNotFoundError:  # renamed into place between the listing and the look
                return False
        return False

    while not writing():  # the kill lands mid-write, not after a guessed delay
        assert proc.poll() is None, "the writer finished before it was caught writing"
        assert time.monotonic() < deadline, "the temporary file never appeared"
        time.sleep(0.001)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    leftovers = list(tmp_path.glob(".latest.pt.*.tmp"))
    assert leftovers, "the kill should have landed during the write"
    data = load_checkpoint(path)
    assert data["update"] == 1 and torch.equal(data["model"]["w"], torch.ones(3))


def test_corrupt_truncated_foreign_and_incompatible_checkpoints_are_refused(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", minimal(5))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)
    with pytest.raises(CheckpointError, match="not a Shogi Showcase checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="made for model"):
        load_checkpoint(good, model_args={"kind": "restower"})
    assert load_checkpoint(good, model_args={"kind": "baseline"})["update"] == 5


def small_config(run_dir: Path, updates: int):
    return load_config(
        None,
        [
            f"run.run_dir='{run_dir}'",
            f"run.updates={updates}",
            "run.threads=2",
            "model.preset='custom'",
            "model.depth=1",
            "model.width=8",
            "model.value_hidden=8",
            "env.num_envs=8",
            "env.max_plies=40",
            "ppo.num_steps=8",
            "ppo.minibatch_size=32",
            "eval.every_updates=0",
            "curriculum.random_opponent_envs=0",
            "ppo.update_epochs=4",
            "checkpoint.every_updates=1",
            "compile.mode='off'",
        ],
    )


def test_resume_continues_update_counter_optimizer_and_curves(tmp_path):
    run_dir = tmp_path / "run"
    first = train(small_config(run_dir, 2))
    assert first.updates == 2
    saved = load_checkpoint(first.checkpoint)
    steps_saved = max(s["step"] for s in saved["optimizer"]["state"].values())
    assert steps_saved == 2 * 4 * (8 * 8 // 32)  # updates x epochs x minibatches

    second = train(small_config(run_dir, 3), resume=True)
    assert second.updates == 5 and second.samples == 5 * 64
    resumed = load_checkpoint(second.checkpoint)
    assert max(s["step"] for s in resumed["optimizer"]["state"].values()) == steps_saved + 3 * 4 * 2
    record = json.loads((run_dir / "run.json").read_text())
    assert record["start_update"] == 2 and record["resumed_from"].endswith("latest.pt")
    curve = [json.loads(line)["update"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert curve == [1, 2, 3, 4, 5]


def test_resume_refuses_a_checkpoint_for_another_model(tmp_path):
    run_dir = tmp_path / "run"
    train(small_config(run_dir, 1))
    other = small_config(run_dir, 1)
    other.model.width = 16
    with pytest.raises(CheckpointError, match="made for model"):
        train(other, resume=True)


def test_a_run_from_the_46_plane_observation_is_set_aside_not_resumed_or_lost(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(small_config(run_dir, 2))
    latest = run_dir / "checkpoints" / "latest.pt"
    old = load_checkpoint(latest)
    old.pop("format"), old.pop("version"), old.pop("observation_planes")
    save_checkpoint(latest, {**old, "observation_planes": 46})  # as the previous version wrote it
    with pytest.raises(ObservationMismatch, match="46-plane observation"):
        load_checkpoint(latest)
    result = train(small_config(run_dir, 1), resume=True)
    aside = [d for d in run_dir.iterdir() if d.name.startswith("checkpoints-set-aside-")]
    assert result.updates == 1  # a fresh run, from update 0
    assert len(aside) == 1
    assert (aside[0] / "latest.pt").exists() and (aside[0] / "metrics.jsonl").read_text().count("\n") == 2
    assert [json.loads(x)["update"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1]
    assert "starting afresh" in capsys.readouterr().err


def test_kill_between_update_checkpoints_resumes_from_the_timed_one(tmp_path):
    """Checkpoints by updates are far apart (1000); the timed one (every 0.3 s here, 2 minutes by
    default) is what survives a kill -9. The resumed run keeps its id and repeats no update number."""
    run_dir = tmp_path / "run"
    sets = [
        "model.preset='custom'", "model.depth=1", "model.width=8", "model.value_hidden=8",
        "env.num_envs=8", "env.max_plies=40", "ppo.num_steps=8", "ppo.minibatch_size=32",
        "eval.every_updates=0", "curriculum.random_opponent_envs=0", "run.threads=1",
        "checkpoint.every_updates=1000", "checkpoint.every_minutes=0.005", "compile.mode='off'",
    ]  # fmt: skip
    argv = [sys.executable, "-m", "trainer", "train", "--run-dir", str(run_dir), "--updates", "100000"]
    for s in sets:
        argv += ["--set", s]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latest, metrics = run_dir / "checkpoints" / "latest.pt", run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if latest.exists() and metrics.exists() and len(metrics.read_text().splitlines()) >= 6:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the trainer wrote no timed checkpoint and six updates within 120 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = load_checkpoint(latest)
    assert 1 <= saved["update"] < 1000  # not an every-1000-updates checkpoint: a timed one
    written = [json.loads(line)["update"] for line in metrics.read_text().splitlines() if line.endswith("}")]
    assert max(written) >= saved["update"]

    cfg = load_config(None, [*sets, "run.updates=2", f"run.run_dir='{run_dir}'", "run.threads=2"])
    result = train(cfg, resume=True)
    assert result.updates == saved["update"] + 2
    curve = [json.loads(line)["update"] for line in metrics.read_text().splitlines()]
    assert curve == list(range(1, saved["update"] + 3))  # continues, each update once
    record = json.loads((run_dir / "run.json").read_text())
    assert record["run_id"] == saved["run_id"] and record["start_update"] == saved["update"]
