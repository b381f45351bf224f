"""The whole thing: `python -m server up` with a real trainer child on loopback, and a trainer that
reconnects by itself when the server restarts. Tiny model, short games."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from fake_server import free_port
from websockets.asyncio.client import connect

from showcase_core.shogi.records import from_kif

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "model.preset='custom'", "model.depth=1", "model.width=8", "model.value_hidden=8", "env.num_envs=8",
    "env.max_plies=6", "ppo.num_steps=8", "ppo.minibatch_size=32", "eval.every_updates=0",
    "checkpoint.every_updates=2", "live.move_interval_s=0.05", "run.threads=1",
    "curriculum.random_opponent_envs=0", "compile.mode='off'",
]  # fmt: skip


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


async def trainer_state(ws, connected: bool, timeout: float = 30) -> dict:
    """Read the feed until the trainer is (dis)connected as asked; returns that status payload."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        status = m["d"]["trainer"] if m["t"] == "snapshot" else m["d"] if m["t"] == "trainer_status" else None
        if status is not None and status["connected"] is connected:
            return status
    raise AssertionError(f"trainer never became connected={connected}")


def test_up_supervises_the_trainer_and_archives_its_games(tmp_path):
    port, data = free_port(), tmp_path / "data"
    sets = [arg for item in TINY for arg in ("--trainer-set", item)]
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "server", "up", "--port", str(port), "--data-dir", str(data), *sets],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")

        async def watch():
            async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None) as ws:
                first = await trainer_state(ws, True)
                kinds: set[str] = set()
                while not {"move", "metrics"} <= kinds:  # the live feed carries both
                    kinds.add(json.loads(await asyncio.wait_for(ws.recv(), 30))["t"])
                pid = int(
                    re.findall(r"trainer started \(pid (\d+)", (tmp_path / "server.log").read_text())[-1]
                )
                os.kill(pid, signal.SIGKILL)
                t0 = time.monotonic()
                await trainer_state(ws, False)
                noticed = time.monotonic() - t0
                again = await trainer_state(ws, True, timeout=60)
                return first, noticed, again

        first, noticed, again = asyncio.run(watch())
        assert noticed < 2.5  # the feed says "offline" promptly
        assert again["run_id"] == first["run_id"] or again["run_id"] is not None
        text = (tmp_path / "server.log").read_text()
        assert "restarting in" in text and text.count("trainer started") >= 2

        client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        finished = []
        while not finished:
            assert time.monotonic() < deadline, "no finished showcase game archived"
            games = client.get("/api/games", params={"limit": 200}).json()["games"]
            finished = [g for g in games if g["result"] not in (None, "interrupted")]
            time.sleep(0.2)
        # The showcase game the SIGKILL cut off was closed as such when the new trainer's game began.
        cut = [g for g in games if g["result"] == "interrupted"]
        assert all(g["kind"] == "showcase" and "trainer went away" in g["reason"] for g in cut)
        game = client.get(f"/api/games/{finished[0]['id']}").json()
        assert len(game["moves"]) == game["plies"] and game["moves"][0]["insight"] is not None
        kif = client.get(f"/api/games/{game['id']}/export").text
        assert from_kif(kif).game.sfen() == game["final_sfen"]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(90)
        log.close()
    assert server.returncode == 0
    assert "SIGTERM" in (data / "trainer.log").read_text()  # the trainer was asked to stop and saved


def test_trainer_reconnects_by_itself_after_the_server_restarts(tmp_path):
    port, data = free_port(), tmp_path / "data"
    env = {**os.environ, "SHOWCASE_TRAINER_TOKEN": "tok-123"}
    serve = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", str(data)]
    server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sets = [arg for item in TINY for arg in ("--set", item)]
    trainer = subprocess.Popen(
        [sys.executable, "-m", "trainer", "train", "--json", "--server", f"ws://127.0.0.1:{port}/ws/trainer",
         "--run-dir", str(tmp_path / "run"), *sets, "--set", "env.max_plies=200",
         "--set", "live.move_interval_s=0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")

        async def connected_once():
            async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None) as ws:
                return await trainer_state(ws, True)

        async def snapshot_game():
            async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None) as ws:
                return json.loads(await ws.recv())["d"]

        before = asyncio.run(connected_once())
        deadline = time.monotonic() + 20
        while (running := asyncio.run(snapshot_game()))["game"] is None:
            assert time.monotonic() < deadline, "no showcase game started"
            time.sleep(0.1)
        server.send_signal(signal.SIGINT)
        server.wait(30)
        server = subprocess.Popen(
            serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_http(f"http://127.0.0.1:{port}/healthz")
        after = asyncio.run(connected_once())
        assert after["run_id"] == before["run_id"] and trainer.poll() is None

        # A viewer of the restarted server sees the game in progress from its first move: the
        # trainer replays it on reconnect (the archive kept it; the live snapshot starts empty).
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 10
        while True:
            snap = asyncio.run(snapshot_game())
            if snap["game"] is not None and snap["game"]["game_id"] == running["game"]["game_id"]:
                break
            # The only excuse: that game ended while the server was down (then there is nothing to replay).
            old = client.get(f"/api/games/{running['game']['game_id']}").json()
            if old.get("result") is not None:
                snap = None
                break
            assert time.monotonic() < deadline, "the restarted server never learned the game in progress"
            time.sleep(0.1)
        if snap is not None:
            plies = [m["ply"] for m in snap["moves"]]
            assert plies == list(range(1, len(plies) + 1))
            assert all(m["game_id"] == snap["game"]["game_id"] for m in snap["moves"])
    finally:
        trainer.send_signal(signal.SIGTERM)
        trainer.wait(60)
        server.send_signal(signal.SIGINT)
        server.wait(30)


def test_up_with_two_trainer_processes_trains_data_parallel_and_stops_them_cleanly(tmp_path):
    port, data = free_port(), tmp_path / "data"
    sets = [arg for item in TINY for arg in ("--trainer-set", item)]
    log = (tmp_path / "server.log").open("w")
    cmd = [sys.executable, "-m", "server", "up", "--port", str(port), "--data-dir", str(data),
           "--trainer-procs", "2", *sets]  # fmt: skip
    server = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")

        async def watch():
            async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None) as ws:
                await trainer_state(ws, True, timeout=90)
                while True:  # an update of both ranks reached the feed
                    m = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if m["t"] == "metrics":
                        return m["d"]

        metrics = asyncio.run(watch())
        assert metrics["values"]["perf/ranks"] == 2
        record = json.loads((data / "run" / "run.json").read_text())
        assert record["distributed"]["world_size"] == 2 and record["distributed"]["envs_per_rank"] == 4
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(120)
        log.close()
    assert server.returncode == 0, (tmp_path / "server.log").read_text()[-2000:]
    assert (data / "run" / "checkpoints" / "latest.pt").exists()  # rank 0 saved on the way out
    lines = [json.loads(x) for x in (data / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["update"] for x in lines] == list(range(1, len(lines) + 1))  # once each, by rank 0
