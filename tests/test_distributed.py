"""Data-parallel PPO under a real `torchrun` with 2 CPU ranks (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ddp_update import run
from fake_server import free_port
from test_knobs import small_overrides

ROOT = Path(__file__).resolve().parents[1]


def torchrun(
    nproc: int, *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
           "--master-port", str(free_port()), *args]  # fmt: skip
    environ = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT}:{ROOT / 'tests'}", **(env or {})}
    return subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout)


def test_two_ranks_take_the_step_one_process_takes_on_the_whole_batch(tmp_path, monkeypatch):
    done = torchrun(2, str(ROOT / "tests" / "ddp_update.py"), str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    (tmp_path / "single").mkdir()
    single = run(tmp_path / "single")  # one process, the whole batch
    for rank in ranks:
        for g_rank, g_single in zip(rank["grads"], single["grads"], strict=True):
            torch.testing.assert_close(g_rank, g_single, rtol=1e-4, atol=1e-6)
        for w_rank, w_single in zip(rank["weights"], single["weights"], strict=True):
            torch.testing.assert_close(w_rank, w_single, rtol=1e-4, atol=1e-6)
    assert any(float(g.abs().sum()) > 0 for g in single["grads"])
    # The metrics are the global batch's, the same on both ranks.
    for key in ("losses/policy", "losses/value", "losses/entropy", "ppo/approx_kl", "ppo/clipfrac",
                "ppo/grad_norm", "ppo/explained_variance", "adv/mean", "adv/std"):  # fmt: skip
        for rank in ranks:
            assert rank["metrics"][key] == pytest.approx(single["metrics"][key], rel=1e-4, abs=1e-6), key
    assert 0 < single["metrics"]["ppo/clipfrac"] < 1  # clipping is exercised, not only the plain ratio
    for key in ("adv/hist_raw", "adv/hist_norm"):
        assert ranks[0]["metrics"][key] == ranks[1]["metrics"][key] == single["metrics"][key]


def test_a_torchrun_training_run_has_rank_0_alone_write_and_publish_and_resumes_with_another_n(tmp_path):
    from fake_server import FakeServer

    run_dir = tmp_path / "run"
    server = FakeServer(free_port()).start()
    try:
        sets = [*small_overrides(), "curriculum.random_opponent_envs=8", "checkpoint.every_updates=2"]
        args = ["-m", "trainer", "train", "--updates", "2", "--run-dir", str(run_dir), "--json",
                "--server", f"ws://127.0.0.1:{server.port}/ws/trainer"]  # fmt: skip
        for item in sets:
            args += ["--set", item]
        done = torchrun(2, *args, env={"SHOWCASE_TRAINER_TOKEN": "t0ken"})
        assert done.returncode == 0, done.stderr[-3000:]
        received = []
        while not server.received.empty():
            received.append(server.received.get())
    finally:
        server.stop()
    assert server.auth == ["Bearer t0ken"]  # one link: rank 0 alone publishes
    hellos = [payload for envelope, payload in received if envelope.t == "hello"]
    assert len(hellos) == 1 and hellos[0].config["env"]["num_envs"] == 8  # the global config
    record = json.loads((run_dir / "run.json").read_text())
    assert record["distributed"] == {"world_size": 2, "rank": 0, "backend": "gloo", "envs_per_rank": 8,
                                     "minibatch_per_rank": 16}  # fmt: skip
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["update"] for line in lines] == [1, 2]
    assert all(line["perf/ranks"] == 2 for line in lines)
    # 8 self-play + 8 random-opponent envs over both ranks, 8 steps each: every rank's samples count.
    assert lines[-1]["perf/samples"] == 2 * 16 * 8
    files = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert files == ["latest.pt", "update_000002.pt"], files  # written once, by rank 0
    # The same run resumes on one process (any N): its updates continue from 3.
    again = ["-m", "trainer", "train", "--updates", "1", "--run-dir", str(run_dir), "--json", "--resume"]
    for item in sets:
        again += ["--set", item]
    one = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    done = subprocess.run(
        [sys.executable, *again], cwd=ROOT, capture_output=True, text=True, timeout=300, env=one
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["update"] for line in lines] == [1, 2, 3]
    assert lines[-1]["perf/samples"] == 3 * 16 * 8


def test_env_counts_that_do_not_split_over_the_ranks_are_refused_with_the_field_named(tmp_path):
    args = ["-m", "trainer", "train", "--updates", "1", "--run-dir", str(tmp_path / "r"), "--json"]
    for item in [*small_overrides(), "env.num_envs=3", "curriculum.random_opponent_envs=5"]:
        args += ["--set", item]
    done = torchrun(2, *args)
    assert done.returncode != 0
    assert "env.num_envs = 3 cannot be split evenly over 2 ranks" in done.stderr
