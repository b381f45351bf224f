"""`python -m server bench fanout`: a real uvicorn server on loopback, a trainer connection sending
`move` messages of realistic size at a fixed rate, N viewers measuring delivery latency, and one
deliberately slow viewer that stops reading. Prints what each group saw."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect

from showcase_core.protocol import dumps, make, now_ms

TOKEN = "bench-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def move_payload(ply: int) -> dict:
    """A `move` with the shape and size of a showcase move (3 SE blocks, top-5, every map). The map
    values are load-test filler from a fixed formula, not model output: only the size matters here."""

    def ramp(k: int) -> list[float]:
        return [((i * 37 + k * 11) % 100) / 100 for i in range(81)]

    names = {"usi": "7g7f", "western": "P-7f", "japanese": "▲７六歩"}
    return {
        "game_id": "bench",
        "ply": ply,
        "sfen_before": "lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 1",
        "move": names,
        "sfen_after": "lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2",
        "chosen_prob": 0.25,
        "weights_version": 1,
        "insight": {
            "top": [{**names, "prob": 0.2} for _ in range(5)],
            "value": 0.1,
            "black_win": 0.55,
            "maps": {
                "se_attention": [ramp(1), ramp(2), ramp(3)],
                "se_attention_mean": ramp(4),
                "activation": [ramp(5), ramp(6), ramp(7)],
                "saliency": ramp(8),
                "policy_mass": ramp(9),
            },
            "phase": "opening",
            "think_ms": 2.0,
        },
    }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _viewer(
    url: str, lat: dict, counts: dict, key: int, ready: asyncio.Event, stop: asyncio.Event
) -> None:
    async with connect(url, proxy=None, max_size=2**22, open_timeout=60, compression=None) as ws:
        await ws.recv()  # snapshot
        ready.set()
        while not stop.is_set():
            try:
                text = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            received = now_ms()
            if text.startswith('{"t":"move"'):
                # The hub writes envelopes as {"t":..,"v":..,"ts":..,"d":{"game_id":..,"ply":..: slicing
                # them keeps the measuring side cheap enough not to become the bottleneck itself.
                ts = int(text[text.index('"ts":') + 5 : text.index(',"d":')])
                at = text.index('"ply":') + 6
                ply = int(text[at : text.index(",", at)])
                lat[ply // 100_000].append(received - ts)
                counts[key] += 1


async def _viewers(port: int) -> int:
    """How many viewers the server is feeding, from /healthz."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    body = (await reader.read()).split(b"\r\n\r\n", 1)[1]
    writer.close()
    return json.loads(body)["viewers"]


async def _fanout(port: int, clients: int, rate: float, seconds: float) -> dict:
    url = f"ws://127.0.0.1:{port}/ws"
    stop = asyncio.Event()
    # Phase 0 warms connections and caches up (delivery counted, latency not), phase 1 runs without
    # and phase 2 with the slow viewer.
    lat: dict[int, list[float]] = {0: [], 1: [], 2: []}
    counts = {i: 0 for i in range(clients)}
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = []
    for i in range(clients):
        tasks.append(asyncio.create_task(_viewer(url, lat, counts, i, readies[i], stop)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not SYN-flood our own listener
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    gc.freeze()  # the 500 connections are long-lived: keep the collector from rescanning them

    sent = {0: 0, 1: 0, 2: 0}
    slow_result: dict = {}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with connect(f"ws://127.0.0.1:{port}/ws/trainer", additional_headers=headers, proxy=None) as tr:
        seq = 0

        async def send(t, d):
            nonlocal seq
            await tr.send(dumps(make(t, d, seq=seq)))
            seq += 1

        await send(
            "hello",
            {
                "protocol": 1, "run_id": "bench", "config": {}, "model": {}, "compile": {}, "device": "cpu",
                "update": 0, "reward": {}, "weights_version": 1,
            },
        )  # fmt: skip
        await send(
            "game_start",
            {
                "game_id": "bench",
                "kind": "showcase",
                "start_sfen": "x",
                "black": "a",
                "white": "b",
                "weights_version": 1,
            },
        )
        slow = None
        for phase in (0, 1, 2):
            if phase == 2:
                # The slow viewer reads its snapshot and then nothing. A small receive buffer makes its
                # TCP window fill in seconds rather than after megabytes of loopback buffering.
                raw = socket.socket()
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                raw.connect(("127.0.0.1", port))
                slow = await connect(url, sock=raw, proxy=None, max_queue=1, max_size=2**22)
                await slow.recv()
                slow_started = time.monotonic()
                assert await _viewers(port) == clients + 1
            start = time.monotonic()
            n = int((min(2.0, seconds) if phase == 0 else seconds) * rate)
            for k in range(n):
                due = start + k / rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await send("move", move_payload(phase * 100_000 + k + 1))
                sent[phase] += 1
            await asyncio.sleep(2.0 if phase else 0.5)  # let deliveries finish
        # The slow viewer cannot tell it was dropped (it is not reading); the server can.
        deadline = time.monotonic() + 15
        while (viewers := await _viewers(port)) > clients and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        slow_result = {
            "disconnected": viewers == clients,
            "seen_gone_after_s": round(time.monotonic() - slow_started, 2),
            "server_viewers_after": viewers,
        }
        slow.transport.abort()
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    expected = sent[0] + sent[1] + sent[2]
    delivered = sorted(counts.values())
    p99 = {ph: _percentile(lat[ph], 0.99) for ph in (1, 2)}
    return {
        "benchmark": "fanout",
        "clients": clients,
        "rate_per_s": rate,
        "seconds_per_phase": seconds,
        "move_bytes": len(dumps(move_payload(1))),
        "sent": expected,
        "healthy_viewers_with_every_move": sum(1 for c in delivered if c == expected),
        "min_delivered": delivered[0] if delivered else 0,
        "latency_ms_p50": _percentile(lat[1] + lat[2], 0.5),
        "latency_ms_p99": _percentile(lat[1] + lat[2], 0.99),
        "p99_without_slow_viewer": p99[1],
        "p99_with_slow_viewer": p99[2],
        "p99_ratio_with_over_without": round(p99[2] / p99[1], 3) if p99[1] else None,
        "latency_ms_mean": round(statistics.fmean(lat[1] + lat[2]), 2) if lat[1] or lat[2] else None,
        "slow_viewer": slow_result,
    }


def bench_fanout(clients: int, rate: float, seconds: float) -> dict:
    port = _free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "SHOWCASE_TRAINER_TOKEN": TOKEN, "SHOWCASE_SEND_TIMEOUT_S": "2"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--port",
                str(port),
                "--data-dir",
                data,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.1)
            return asyncio.run(_fanout(port, clients, rate, seconds))
        finally:
            server.terminate()
            server.wait(30)
