"""`python -m server bench analysis`: how far the live engine analysis trails the showcase while the
trainer trains. Runs what `make run` runs (`python -m server up`: uvicorn, the supervised trainer
training on the CPU, the showcase at the given pace, the analysis engine in the server) in a fresh
data directory, watches the viewer feed and times, for every showcase move, its arrival and the
arrival of its `analysis`. Prints p50 / p99 lag, how many moves were judged, skipped (the engine fell
behind and the newest position went first) or never judged, and the engine's own search times."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect

from server.bench import _free_port, _percentile


async def _watch(port: int, moves: int, timeout_s: float) -> dict:
    arrived: dict[tuple[str, int], float] = {}
    judged: dict[tuple[str, int], float] = {}
    search_ms: list[int] = []
    url = f"ws://127.0.0.1:{port}/ws"
    deadline = time.monotonic() + timeout_s
    async with connect(url, proxy=None, max_size=2**24, open_timeout=60) as ws:
        while len(arrived) < moves and time.monotonic() < deadline:
            try:
                text = await asyncio.wait_for(ws.recv(), 5)
            except TimeoutError:
                continue
            now = time.monotonic()
            m = json.loads(text)
            if m["t"] == "move":
                arrived.setdefault((m["d"]["game_id"], m["d"]["ply"]), now)
            elif m["t"] == "analysis":
                judged.setdefault((m["d"]["game_id"], m["d"]["ply"]), now)
                search_ms.append(m["d"]["elapsed_ms"])
        # The last moves' analyses may still be on their way.
        settle = time.monotonic() + 10
        while time.monotonic() < settle and any(k not in judged for k in list(arrived)[-3:]):
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 1))
            except TimeoutError:
                continue
            if m["t"] == "analysis":
                judged.setdefault((m["d"]["game_id"], m["d"]["ply"]), time.monotonic())
                search_ms.append(m["d"]["elapsed_ms"])
    lags = [judged[k] - t for k, t in arrived.items() if k in judged]
    return {"moves": len(arrived), "lags": lags, "judged": len(lags), "search_ms": search_ms}


def _healthz(port: int) -> dict:
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()


def bench_analysis(interval_s: float, moves: int, *, warmup_s: float = 120.0) -> dict:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        cmd = [
            sys.executable, "-m", "server", "up", "--port", str(port), "--data-dir", data,
            "--trainer-set", f"live.move_interval_s={interval_s}",
        ]  # fmt: skip
        server = subprocess.Popen(
            cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _healthz(port)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.5)
            started = time.monotonic()
            watched = asyncio.run(_watch(port, moves, warmup_s + moves * interval_s * 3))
            health = _healthz(port)
            seconds = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(60)
    lags, engine = watched["lags"], health["engine"]
    trainer = health["trainer"]
    return {
        "benchmark": "analysis",
        "interval_s": interval_s,
        "cores": os.cpu_count(),
        "moves_seen": watched["moves"],
        "moves_judged": watched["judged"],
        "moves_not_judged": watched["moves"] - watched["judged"],
        "lag_s_p50": round(_percentile(lags, 0.5), 3) if lags else None,
        "lag_s_p99": round(_percentile(lags, 0.99), 3) if lags else None,
        "lag_s_max": round(max(lags), 3) if lags else None,
        "engine_search_ms_p50": _percentile(watched["search_ms"], 0.5),
        "engine_search_ms_p99": _percentile(watched["search_ms"], 0.99),
        "server_analysed": engine["analysed"],
        "server_skipped": engine["skipped"],
        "server_failed": engine["failed"],
        "engine": engine.get("engine"),
        "trainer_update_at_end": trainer.get("update"),
        "seconds": round(seconds, 1),
    }
