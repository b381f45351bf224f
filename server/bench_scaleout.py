"""`python -m server bench scaleout`: the fan-out with many viewers, one web worker against N workers on
Redis, in the same run.

Each configuration runs as real processes: `python -m server serve` alone, then `python -m server up
--no-trainer --workers N` (the primary plus N - 1 viewer workers and a private redis-server). The
viewers are real websocket clients spread over several client processes (so the measuring side is not
one process's event loop), each viewer on worker `i % N`. One trainer connection on the primary sends
showcase-sized `move` messages at a fixed rate; each viewer measures send-to-arrival latency from the
envelope's time stamp (the trainer's, kept through Redis) and counts what it got. Lost = moves sent
that a viewer never received, summed over viewers; a viewer cut off or never connected counts all of
its moves as lost.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server.bench import _free_port, _percentile, move_payload
from showcase_core.protocol import dumps, make, now_ms

TOKEN = "bench-token"


def _client_main(urls: list[str], indices: list[int], conn) -> None:
    """One client process: its share of the viewers, each on `urls[i % len(urls)]`."""
    import gc

    from websockets.asyncio.client import connect

    async def run():
        counts = dict.fromkeys(indices, 0)
        lat: list[int] = []
        failed: list[str] = []
        ready = 0
        stop = asyncio.Event()

        async def viewer(i: int):
            nonlocal ready
            url = urls[i % len(urls)]
            try:
                async with connect(url, proxy=None, max_size=2**23, open_timeout=120, compression=None) as ws:
                    first = await asyncio.wait_for(ws.recv(), 120)
                    assert first.startswith('{"t":"snapshot"')
                    ready += 1
                    while not stop.is_set():
                        try:
                            text = await asyncio.wait_for(ws.recv(), 0.5)
                        except TimeoutError:
                            continue
                        if text.startswith('{"t":"move"'):
                            received = now_ms()
                            ts = int(text[text.index('"ts":') + 5 : text.index(',"d":')])
                            lat.append(received - ts)
                            counts[i] += 1
            except Exception as exc:  # counted: its moves are lost
                failed.append(f"{type(exc).__name__}: {exc}"[:200])

        tasks = []
        for k, i in enumerate(indices):
            tasks.append(asyncio.create_task(viewer(i)))
            if k % 50 == 49:
                await asyncio.sleep(0.05)  # do not SYN-flood the listeners
        deadline = time.monotonic() + 180
        while ready + len(failed) < len(indices) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        gc.freeze()
        conn.send(("ready", ready, len(failed)))
        await asyncio.to_thread(conn.recv)  # "stop"
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        conn.send(("done", counts, lat, failed[:5], len(failed)))

    asyncio.run(run())


def _wait_http(port: int, path: str, ok, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            body = json.loads(data.split(b"\r\n\r\n", 1)[1])
            if ok(body):
                return body
        except (OSError, ValueError, IndexError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port} did not become ready")
        time.sleep(0.2)


async def _trainer(port: int, rate: float, seconds: float) -> tuple[int, int]:
    """Send the moves at `rate`; returns (moves delivered to the server, trainer-link reconnects). An
    overloaded server drops the link (its 2 s keepalive); the trainer reconnects and goes on, as the real
    publisher does, and the move that failed is sent again."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    headers = {"Authorization": f"Bearer {TOKEN}"}
    hello = {"protocol": 1, "run_id": "bench", "config": {}, "model": {}, "compile": {}, "device": "cpu",
             "update": 0, "reward": {}, "weights_version": 1}  # fmt: skip
    start_game = {"game_id": "bench", "kind": "showcase", "start_sfen": "x", "black": "a", "white": "b",
                  "weights_version": 1}  # fmt: skip
    total, sent, reconnects, k = int(seconds * rate), 0, -1, 0
    start = time.monotonic()
    while k < total:
        reconnects += 1
        url = f"ws://127.0.0.1:{port}/ws/trainer"
        async with connect(url, additional_headers=headers, proxy=None, ping_interval=None) as tr:
            seq = 0

            async def send(t, d):
                nonlocal seq
                await tr.send(dumps(make(t, d, seq=seq)))
                seq += 1

            try:
                await send("hello", hello)
                await send("game_start", start_game)
                while k < total:
                    delay = start + k / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    await send("move", move_payload(k + 1))
                    k += 1
                    sent += 1
                await asyncio.sleep(3.0)  # let deliveries finish
            except ConnectionClosed:
                continue
    return sent, reconnects


def _run_config(workers: int, viewers: int, procs: int, rate: float, seconds: float) -> dict:
    port = _free_port() if workers == 1 else _free_block(workers)
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as data:
        env = {**os.environ, "SHOWCASE_TRAINER_TOKEN": TOKEN, "SHOWCASE_SEND_TIMEOUT_S": "5",
               "SHOWCASE_LOAD_EVERY_S": "600", "SHOWCASE_ANALYSIS_NODES": "0"}  # fmt: skip
        if workers == 1:
            cmd = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", data]
        else:
            cmd = [sys.executable, "-m", "server", "up", "--no-trainer", "--workers", str(workers),
                   "--port", str(port), "--data-dir", data]  # fmt: skip
        log = Path(data) / "bench-server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, start_new_session=True)
        try:
            _wait_http(port, "/healthz", lambda h: "viewers" in h)
            for i in range(1, workers):
                _wait_http(port + i, "/healthz", lambda h: h.get("bus", {}).get("state") == "connected")
            urls = [f"ws://127.0.0.1:{port + i}/ws" for i in range(workers)]
            ctx = mp.get_context("spawn")
            pipes, children = [], []
            for p in range(procs):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_client_main, args=(urls, list(range(p, viewers, procs)), child))
                proc.start()
                pipes.append(parent)
                children.append(proc)
            connected = failed = 0
            for parent in pipes:
                _, ok, bad = parent.recv()
                connected, failed = connected + ok, failed + bad
            per_worker = [_wait_http(port + i, "/healthz", lambda h: True)["viewers"] for i in range(workers)]
            sent, reconnects = asyncio.run(_trainer(port, rate, seconds))
            for parent in pipes:
                parent.send("stop")
            counts: dict[int, int] = {}
            lat: list[int] = []
            errors: list[str] = []
            for parent in pipes:
                _, c, latencies, errs, _failed = parent.recv()
                counts.update(c)
                lat += latencies
                errors += errs
            for proc in children:
                proc.join(30)
            health = [_wait_http(port + i, "/healthz", lambda h: True) for i in range(workers)]
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    received = sum(counts.values())
    return {
        "workers": workers,
        "viewers": viewers,
        "client_processes": procs,
        "connected": connected,
        "connect_failures": failed,
        "viewers_per_worker": per_worker,
        "moves_sent": sent,
        "trainer_link_reconnects": reconnects,
        "expected_deliveries": sent * viewers,
        "delivered": received,
        "lost": sent * viewers - received,
        "viewers_with_every_move": sum(1 for c in counts.values() if c == sent),
        "latency_ms_p50": _percentile(lat, 0.5),
        "latency_ms_p99": _percentile(lat, 0.99),
        "cut_off_as_too_slow": sum(h.get("disconnected_slow", 0) for h in health[1:])
        + (health[0].get("disconnected_slow", 0) if workers > 1 else 0),
        "bus": health[0].get("bus") if workers > 1 else None,
        "relay_gaps": sum(h["bus"]["gaps"] for h in health[1:]),
        "errors": errors[:5],
    }


def _free_block(n: int) -> int:
    """A port with the next n - 1 free as well."""
    for _ in range(100):
        base = _free_port()
        if base + n > 65535:
            continue
        try:
            socks = []
            for i in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports")


def bench_scaleout(viewers: int, workers: int, procs: int, rate: float, seconds: float) -> dict:
    one = _run_config(1, viewers, procs, rate, seconds)
    many = _run_config(workers, viewers, procs, rate, seconds)
    return {
        "benchmark": "scaleout",
        "move_bytes": len(dumps(move_payload(1))),
        "rate_per_s": rate,
        "seconds": seconds,
        "cpu_cores": os.cpu_count(),
        "one_worker": one,
        f"{workers}_workers": many,
        "p99_ratio_many_over_one": round(many["latency_ms_p99"] / one["latency_ms_p99"], 3)
        if one["latency_ms_p99"] and many["latency_ms_p99"]
        else None,
    }
