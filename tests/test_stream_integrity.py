"""A long stream's bookkeeping against a real uvicorn: a reconnecting trainer's replay reaches viewers
once, interrupted games are closed as such, and the archive says so."""

import asyncio
import json
import socket
import time

import httpx
from test_server import Running, game_messages, hello, send_all, trainer_headers
from test_store import insight
from websockets.asyncio.client import connect

from showcase_core.shogi.game import Game

TRAINER = "{}/ws/trainer"


def until(fetch, done, timeout=10.0):
    """Fetch until `done(value)` (the archive writes in the background), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met: {value!r}"[:500]
        time.sleep(0.02)


async def _drain(viewer, until_t, until_pred=lambda d: True, timeout=10):
    seen = []
    while True:
        m = json.loads(await asyncio.wait_for(viewer.recv(), timeout))
        seen.append(m)
        if m["t"] == until_t and until_pred(m["d"]):
            return seen


def test_a_reconnecting_trainers_replay_reaches_each_viewer_once(tmp_path):
    messages, _ = game_messages(plies=12)
    start, moves = messages[0], messages[1:-1]

    async def go():
        async with connect(f"{srv.ws}/ws", proxy=None) as viewer:
            await viewer.recv()  # snapshot
            async with connect(
                TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None
            ) as tr:
                await send_all(tr, [("hello", hello()), start, *moves[:3]])
                first = await _drain(viewer, "move", lambda d: d["ply"] == 3)
            await _drain(viewer, "trainer_status", lambda d: not d["connected"])
            async with connect(
                TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None
            ) as tr:
                # What the publisher sends on a reconnect: hello, the game so far (on_connect), then
                # its queue, which may hold the same game_start and moves again, then a new move.
                await send_all(tr, [("hello", hello()), start, *moves[:3], start, moves[2], moves[3]])
                second = await _drain(viewer, "move", lambda d: d["ply"] == 4)
            return first, second

    with Running(tmp_path) as srv:
        first, second = asyncio.run(go())
        health = httpx.get(f"{srv.http}/healthz").json()
        game = httpx.get(f"{srv.http}/api/games/g-1").json()
    feed = lambda seen: [(m["t"], m["d"].get("ply")) for m in seen if m["t"] in ("game_start", "move")]  # noqa: E731
    assert feed(first) == [("game_start", None), ("move", 1), ("move", 2), ("move", 3)]
    assert feed(second) == [("move", 4)]
    assert health["trainer_repeats_skipped"] == 1 + 3 + 1 + 1  # start, 3 moves, start, move 3
    assert [m["ply"] for m in game["moves"]] == [1, 2, 3, 4]


def test_games_cut_off_are_closed_as_interrupted_and_reopen_if_their_trainer_plays_on(tmp_path):
    old, _ = game_messages(seed=1, plies=12, game_id="g-old")
    new, _ = game_messages(seed=2, plies=6, game_id="g-new")

    async def feed(srv, messages):
        async with connect(TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello()), *messages])
            await tr.send('{"t":"not-a-type"}')  # the server closes the link once all before is handled
            await tr.wait_closed()

    port = None
    with Running(tmp_path) as srv:
        port = srv.port
        asyncio.run(feed(srv, old[:4]))  # three moves of g-old, then the trainer is gone
        game = lambda: httpx.get(f"{srv.http}/api/games/g-old").json()  # noqa: E731
        until(game, lambda g: g["plies"] == 3 and g["result"] is None)
    with Running(tmp_path, port=port) as srv:  # a server restart closes what was left open
        after_restart = httpx.get(f"{srv.http}/api/games/g-old").json()
        listed = httpx.get(f"{srv.http}/api/games", params={"result": "interrupted"}).json()
        asyncio.run(feed(srv, old[:6]))  # the same trainer plays on: the game reopens
        reopened = until(game, lambda g: g["plies"] == 5)
        asyncio.run(feed(srv, new[:3]))  # a new showcase game: g-old was cut off for good
        cut = until(game, lambda g: g["result"] is not None)
        asyncio.run(feed(srv, new[3:]))
        finished = httpx.get(f"{srv.http}/api/games/g-new").json()
    assert (after_restart["result"], after_restart["reason"]) == (
        "interrupted", "the server restarted mid-game",
    )  # fmt: skip
    assert after_restart["ended_at"] is not None and [g["id"] for g in listed["games"]] == ["g-old"]
    assert (reopened["result"], reopened["ended_at"], reopened["plies"]) == (None, None, 5)
    assert cut["result"] == "interrupted" and "next showcase game" in cut["reason"] and cut["plies"] == 5
    assert finished["result"] == new[-1][1]["result"] and len(finished["moves"]) == 6


def test_a_round_closes_by_itself_after_the_window_plus_the_stream_delay(tmp_path):
    from test_polls import say, scene
    from test_polls import until as until_async

    window, delay = 1.0, 1.0
    with Running(tmp_path, predict_window_s=window, stream_delay_s=delay, reveal_s=0.1) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                await http.post("/api/polls", json={"kind": "predict"})
                opened = await viewer.wait("poll_open")
                answer = show.pending["move"]["usi"]
                closes = opened["d"]["closes_at_ms"] / 1000
                # After the window but inside the stream delay: viewers only now see the position.
                await until_async(lambda: time.time() > closes - delay + 0.2)
                late = await say(http, "late_viewer", f"!predict {answer}")
                reveal = await viewer.wait("poll_reveal", timeout=10)  # nobody closed it
                closed = await viewer.wait("poll_closed", timeout=10)
                return opened, late, reveal, closed, time.time()

        opened, late, reveal, closed, seen_at = asyncio.run(go())
    sent = opened["ts"] / 1000
    assert abs(opened["d"]["closes_at_ms"] / 1000 - sent - (window + delay)) < 0.25
    assert late.startswith("counted")
    assert closed["d"]["outcome"] == "revealed" and reveal["ts"] / 1000 >= opened["d"]["closes_at_ms"] / 1000
    assert seen_at - sent < window + delay + 5


def test_a_viewer_joining_or_resyncing_mid_round_gets_the_poll_but_never_the_held_move(tmp_path):
    from test_polls import Viewer, scene

    with Running(tmp_path, predict_window_s=600) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                await http.post("/api/polls", json={"kind": "predict"})
                await viewer.wait("poll_open")
                held = show.pending
                async with Viewer(srv) as late:
                    snapshot = await late.wait("snapshot")
                    await late.ws.send(json.dumps({"t": "resync", "v": 0, "ts": 0, "d": {}}))
                    again = await late.wait("snapshot", count=2)
                    return held, snapshot, again, late.frames

        held, snapshot, again, frames = asyncio.run(go())
    for s in (snapshot, again):
        assert s["d"]["poll"]["kind"] == "predict" and s["d"]["poll"]["sfen"] == held["sfen_before"]
        assert s["d"]["reveal"] is None
    assert again["v"] == 0  # a resync starts the numbering again
    after = Game(held["sfen_before"])
    after.push_usi(held["move"]["usi"])
    secrets = {held["move"]["usi"], held["move"]["western"], held["move"]["japanese"], after.sfen()}
    assert not any(secret in frame for frame in frames for secret in secrets)


class StalledViewer:
    """A viewer on a stalled connection: a raw socket that does the websocket handshake, then reads
    nothing (a tiny receive buffer), so what the server sends it backs up on the server."""

    def __init__(self, port: int):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def drain_to_close(self, timeout: float = 60.0) -> tuple[int, int | None]:
        """Read at last: (data frames received, the close code) once the close frame is in (or EOF)."""
        self.sock.settimeout(timeout)
        data, frames, i = b"", 0, 0
        try:
            while chunk := self.sock.recv(1 << 20):
                data += chunk
                while True:  # every whole frame received so far (server frames are not masked)
                    opcode, size, head = data[i] & 0x0F if i < len(data) else None, None, 2
                    if i + 2 > len(data):
                        break
                    size = data[i + 1] & 0x7F
                    if size == 126:
                        size, head = int.from_bytes(data[i + 2 : i + 4], "big"), 4
                    elif size == 127:
                        size, head = int.from_bytes(data[i + 2 : i + 10], "big"), 10
                    if i + head + size > len(data):
                        break
                    if opcode == 0x8:
                        return frames, int.from_bytes(data[i + head : i + head + 2], "big")
                    frames += opcode in (0x1, 0x2)
                    i += head + size
        finally:
            self.sock.close()
        return frames, None


def test_a_viewer_that_stops_reading_is_closed_with_1008_and_the_others_get_everything(tmp_path):
    moves = []
    for seed in range(1):  # a long game' worth of full-size moves: far more than buffers hold
        messages, _ = game_messages(seed=seed, plies=200)
        for _, d in messages[1:-1]:
            ply = len(moves) + 1
            moves.append(("move", {**d, "ply": ply, "insight": insight(blocks=9, seed=ply)}))  # ~34 kB
    start = game_messages(plies=2)[0][0]

    async def go():
        stalled = StalledViewer(srv.port)
        async with connect(f"{srv.ws}/ws", proxy=None, max_size=2**24) as fast:
            await fast.recv()

            async def read_fast():
                plies = []
                while len(plies) < len(moves):
                    m = json.loads(await asyncio.wait_for(fast.recv(), 30))
                    if m["t"] == "move":
                        plies.append(m["d"]["ply"])
                return plies

            reader = asyncio.create_task(read_fast())
            async with connect(
                TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None
            ) as tr:
                await send_all(tr, [("hello", hello()), start])
                for i, move in enumerate(moves):
                    await send_all(tr, [move], start_seq=2 + i)
                    await asyncio.sleep(0)  # a trainer's pace: one move at a time, not one burst
                got = await reader
        frames, code = await asyncio.to_thread(stalled.drain_to_close)
        return got, frames, code

    with Running(tmp_path, viewer_queue=32, send_timeout_s=0.5) as srv:
        got, frames, code = asyncio.run(go())
        health = httpx.get(f"{srv.http}/healthz").json()
    assert got == [d["ply"] for _, d in moves]  # the reading viewer missed nothing
    assert code == 1008 and frames < len(moves)  # the stalled one was cut off, with the reason code
    assert health["viewers"] == 0
