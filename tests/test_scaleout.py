"""The web tier on Redis: a primary worker and viewer workers sharing one stream through a real
`redis-server`, viewers on each, a scripted trainer on the primary, a prediction round."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from fake_server import free_port
from test_pages import browser  # noqa: F401 (browser: fixture)
from test_polls import ScriptedShowcase, Viewer, admin, say
from test_server import TOKEN, Running
from websockets.asyncio.client import connect

from server.bus import BusMirror, encode
from server.hub import Hub, dumps
from server.redisproc import RedisProcess, redis_binary
from showcase_core.shogi.game import Game

pytestmark = pytest.mark.skipif(redis_binary() is None, reason="redis-server is not installed")


@pytest.fixture
def redis_url(tmp_path):
    with RedisProcess(tmp_path / "redis") as r:
        yield r.url


async def until(predicate, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def relaying(base: str, timeout=15):
    """Wait until the viewer worker at `base` is subscribed to the stream, and its primary is on Redis."""
    async with httpx.AsyncClient() as http:
        deadline = time.monotonic() + timeout
        while True:
            try:
                health = (await http.get(f"{base}/healthz")).json()
                primary = health["primary"]
                if health["bus"]["state"] == "connected" and (
                    primary is None
                    or (await http.get(f"{primary}/healthz")).json()["bus"]["state"] == "connected"
                ):
                    return health
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{base} never relayed the stream")
            await asyncio.sleep(0.05)


def after_snapshot(viewer: Viewer) -> list[tuple]:
    """What a viewer received after its snapshot: (type, sequence number, ts, payload)."""
    out = [json.loads(f) for f in viewer.frames]
    assert out[0]["t"] == "snapshot" and out[0]["v"] == 0
    return [(m["t"], m["v"], m["ts"], m["d"]) for m in out[1:]]


def test_two_workers_give_their_viewers_one_stream_and_the_held_move_stays_secret(tmp_path, redis_url):
    # No live engine analysis here: its messages come when the engine is done, so the two streams
    # could be compared while one is still on its way (the relay itself is what is tested).
    common = {"redis_url": redis_url, "predict_window_s": 600, "reveal_s": 0.2, "load_every_s": 600,
              "analysis_nodes": 0}  # fmt: skip
    with (
        Running(tmp_path, **common) as primary,
        Running(tmp_path, role="viewer", primary_url=primary.http, **common) as worker,
    ):

        async def go():
            await relaying(worker.http)
            async with (
                Viewer(primary) as here,
                Viewer(worker) as there,
                httpx.AsyncClient(base_url=primary.http, headers=admin(tmp_path)) as http,
                httpx.AsyncClient(base_url=worker.http, headers=admin(tmp_path)) as other,
            ):
                await until(lambda: here.frames and there.frames, what="both snapshots")
                first_here, first_there = json.loads(here.frames[0]), json.loads(there.frames[0])
                assert first_here["t"] == first_there["t"] == "snapshot"
                assert first_here["d"] == first_there["d"]  # the same state, taken from the primary
                async with ScriptedShowcase(primary) as show:
                    await there.wait("game_start")
                    r = await http.post("/api/polls", json={"kind": "predict"})
                    assert r.status_code == 201, r.text
                    await there.wait("poll_open")
                    pending = show.pending
                    answer = pending["move"]
                    await say(http, "alice", f"!predict {answer['usi']}")
                    await say(http, "bob", f"!predict {answer['usi']}")
                    await there.wait("poll_tally", count=3)
                    held_after = Game(pending["sfen_before"])
                    held_after.push_usi(answer["usi"])
                    before_reveal = {"primary": list(here.frames), "viewer worker": list(there.frames)}
                    # What only the primary does is refused on the viewer worker, with where to go.
                    refused = await other.post("/api/polls/current/close")
                    assert refused.status_code == 421 and primary.http in refused.json()["detail"]
                    assert (await other.get("/api/polls/current")).status_code == 421
                    assert (await http.post("/api/polls/current/close")).status_code == 200
                    reveal = (await there.wait("poll_reveal"))["d"]
                    assert reveal["answer"] == answer and reveal["winners"] == ["alice", "bob"]
                    played = (await there.wait("move"))["d"]
                    assert played["move"]["usi"] == answer["usi"]
                    await there.wait("leaderboard")
                    await there.wait("poll_closed")
                    await show.play(next(iter(Game(played["sfen_after"]).legal_usi())))
                    await there.wait("move", count=2)
                # The trainer went away: the last message both streams get.
                for viewer in (here, there):
                    await until(
                        lambda v=viewer: any(not m["d"]["connected"] for m in v.messages("trainer_status")),
                        what="the trainer's departure",
                    )
                await until(lambda: len(here.frames) == len(there.frames), what="the same length")
                # Replays come from the shared archive on either worker.
                game = (await other.get("/api/games/g-1")).json()
                assert [m["usi"] for m in game["moves"]][:1] == [answer["usi"]]
                return before_reveal, after_snapshot(here), after_snapshot(there), pending, held_after

        before_reveal, stream_here, stream_there, pending, held_after = asyncio.run(go())
    # Identical streams: every message, its sequence number and time stamp, in the same order.
    assert stream_here == stream_there
    kinds = [t for t, *_ in stream_there]
    assert {"trainer_status", "game_start", "poll_open", "poll_tally", "poll_reveal", "move"} <= set(kinds)
    assert [v for _, v, *_ in stream_there] == list(range(1, len(stream_there) + 1))  # gap-free
    for where, frames in before_reveal.items():
        for frame in frames:
            assert json.loads(frame)["t"] not in ("pending_move", "poll_reveal"), where
            assert held_after.sfen() not in frame, where
            assert dumps(pending["insight"]) not in frame, where


def test_a_viewer_worker_refuses_the_trainer_and_control_with_the_primarys_address(tmp_path, redis_url):
    with (
        Running(tmp_path, redis_url=redis_url) as primary,
        Running(tmp_path, redis_url=redis_url, role="viewer", primary_url=primary.http) as worker,
    ):

        async def go():
            await relaying(worker.http)
            async with connect(f"{worker.ws}/ws/trainer", proxy=None,
                               additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:  # fmt: skip
                with pytest.raises(Exception) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 1008 and primary.http in closed.value.rcvd.reason
            async with httpx.AsyncClient(base_url=worker.http) as http:
                primary_only = [("POST", "/api/control/pause"), ("POST", "/api/chat"), ("GET", "/api/knobs"),
                                ("GET", "/"), ("POST", "/api/games/x/analyse")]  # fmt: skip
                for method, path in primary_only:
                    r = await http.request(method, path)
                    assert r.status_code == 421, (method, path, r.status_code)
                    assert r.json()["primary"] == primary.http
                assert (await http.get("/api/games")).status_code == 200
                assert (await http.get("/api/ladder")).status_code == 200
                page = await http.get("/overlay")
                assert page.status_code == 200 and '"protocol"' in page.text  # the snapshot, inlined
                health = (await http.get("/healthz")).json()
                assert health["role"] == "viewer" and health["ok"] is True

        asyncio.run(go())


def viewer_worker(tmp_path, port, redis_url, primary):
    env = {**os.environ, "SHOWCASE_ROLE": "viewer", "SHOWCASE_REDIS_URL": redis_url,
           "SHOWCASE_PRIMARY_URL": primary.http, "SHOWCASE_WORKER_NAME": f"w{port}"}  # fmt: skip
    cmd = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class At:
    """Where a Viewer connects: a worker that runs as a process of its own."""

    def __init__(self, port):
        self.ws, self.http = f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"


def test_a_killed_viewer_worker_restarts_while_the_primary_keeps_serving(tmp_path, redis_url):
    port = free_port()
    worker = At(port)
    with Running(tmp_path, redis_url=redis_url, load_every_s=600) as primary:
        procs = [viewer_worker(tmp_path, port, redis_url, primary)]
        try:

            async def go():
                await relaying(worker.http)
                async with Viewer(primary) as here, ScriptedShowcase(primary) as show:
                    await here.wait("game_start")
                    doomed = Viewer(worker)
                    await doomed.__aenter__()
                    await until(lambda: doomed.frames, what="a snapshot from the worker")
                    await show.play("7g7f")
                    await doomed.wait("move")
                    os.kill(procs[0].pid, signal.SIGKILL)
                    procs[0].wait(10)
                    await show.play("3c3d")  # the primary's viewers go on while the worker is down
                    assert (await here.wait("move", count=2))["d"]["ply"] == 2
                    await doomed.__aexit__()
                    procs.append(viewer_worker(tmp_path, port, redis_url, primary))
                    await relaying(worker.http)
                    async with Viewer(worker) as back:
                        await until(lambda: back.frames, what="a snapshot after the restart")
                        snap = json.loads(back.frames[0])["d"]
                        assert [m["move"]["usi"] for m in snap["moves"]] == ["7g7f", "3c3d"]
                        await show.play("2g2f")
                        moved = (await back.wait("move"))["d"]
                        assert moved["ply"] == 3 and (await here.wait("move", count=3))["d"] == moved

            asyncio.run(go())
        finally:
            for proc in procs:
                proc.kill()
                proc.wait(10)


def test_a_gap_or_a_restarted_primary_gives_every_viewer_a_fresh_snapshot():
    """The mirror's bookkeeping, fed stream entries directly: a jump in the numbering is counted and
    answered at the next snapshot on the stream; so is a new boot id (a restarted primary)."""

    async def go():
        hub = Hub()
        mirror = BusMirror("unix:///nonexistent", "t", hub, worker="w")
        snap = {"moves": [], "n": 1}

        def entry(n, boot="A", kind="m", t="move", body=None):
            header = {"k": kind, "n": n, "boot": boot, "ts": 1000 + n}
            if kind == "m":
                header["t"] = t
            return encode(header, dumps(body if body is not None else {"n": n})).encode()

        async with hub.subscribe([("snapshot", snap, 1)]) as sub:
            for n in (1, 2):
                mirror._handle(entry(n))
            assert [(await sub.get())["d"].get("n") for _ in range(3)] == [1, 1, 2]
            mirror._handle(entry(5))  # 3 and 4 never came
            assert mirror.gaps == 2 and mirror.resyncs == 1 and len(mirror._waiting) == 1
            mirror._handle(entry(6, kind="snap", body={"moves": ["x"], "n": 6}))
            first = await sub.get()
            assert first["t"] == "snapshot" and first["v"] == 0 and first["d"]["moves"] == ["x"]
            assert sub.backlog == 0  # the stale entry 5 was dropped with the old stream
            mirror._handle(entry(7))
            assert (await sub.get())["d"] == {"n": 7}
            mirror._handle(entry(1, boot="B"))  # the primary restarted: its numbering starts again
            assert mirror.gaps == 2 and mirror.resyncs == 2 and len(mirror._waiting) == 1
            mirror._handle(entry(2, boot="B", kind="snap", body={"moves": [], "n": 0}))
            again = await sub.get()
            assert again["t"] == "snapshot" and again["d"]["n"] == 0

    asyncio.run(go())


def test_up_with_two_workers_starts_redis_and_a_viewer_worker_and_stops_them_all(tmp_path):
    port = free_port()
    while not all(_port_free(port + i) for i in range(2)):
        port = free_port()
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "server", "up", "--no-trainer", "--workers", "2", "--port", str(port),
           "--data-dir", str(data)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:

        async def go():
            health = await relaying(f"http://127.0.0.1:{port + 1}", timeout=30)
            assert health["primary"] == f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                assert (await http.get("/healthz")).json()["bus"]["state"] == "connected"
            viewer = Viewer(At(port + 1))
            async with viewer:
                await until(lambda: viewer.frames, what="a snapshot through the viewer worker")
            assert json.loads(viewer.frames[0])["t"] == "snapshot"

        asyncio.run(go())
        assert (data / "redis" / "redis.sock").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    assert "redis-server started" in out and "viewer-1 started" in out
    assert not (data / "redis" / "redis.sock").exists() or not _answers(data / "redis" / "redis.sock")
    assert _port_free(port + 1)  # the viewer worker is gone too


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT are no listener
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _answers(sock) -> bool:
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except redis.exceptions.ConnectionError:
        return False


def test_the_primary_keeps_serving_when_redis_dies_and_counts_what_it_could_not_relay(tmp_path):
    redis_proc = RedisProcess(tmp_path / "redis").start()
    try:
        with Running(tmp_path, redis_url=redis_proc.url, load_every_s=600) as primary:

            async def go():
                async with (
                    Viewer(primary) as here,
                    ScriptedShowcase(primary) as show,
                    httpx.AsyncClient(base_url=primary.http) as http,
                ):
                    await here.wait("game_start")
                    await until(lambda: primary_bus(primary).sent >= 2, what="the stream relayed")
                    redis_proc.stop()
                    for usi in ("7g7f", "3c3d", "2g2f"):
                        await show.play(usi)
                    assert (await here.wait("move", count=3))["d"]["move"]["usi"] == "2g2f"
                    # Queued while it reconnects, dropped and counted when the next attempt fails too.
                    await until(lambda: primary_bus(primary).dropped >= 3, what="the moves counted as lost")
                    bus = (await http.get("/healthz")).json()["bus"]
                    assert bus["state"] == "disconnected" and "ConnectionError" in bus["last_error"]
                    # Nothing unaccounted:
                    assert bus["entries"] == bus["sent"] + bus["dropped"] + bus["queued"]

            asyncio.run(go())
    finally:
        redis_proc.stop()


def primary_bus(srv):
    return srv.server.config.app.state.services.bus


def test_the_primarys_queue_to_redis_is_bounded_and_what_does_not_fit_is_counted():
    from server.bus import BusPrimary, decode

    async def go():
        hub = Hub()
        bus = BusPrimary("unix:///nonexistent", "t", hub, lambda: {"s": 1}, queue_max=50, queue_bytes=2000)
        sizes = []
        for i in range(40):
            payload = {"ply": i, "pad": "x" * 90}
            sizes.append(len(dumps(payload)))
            hub.publish("move", payload, i)
        fit = max(k for k in range(41) if sum(sizes[:k]) <= 2000)  # in order, until the budget is spent
        stats = bus.stats()
        assert stats["queued"] == fit and stats["dropped"] == 40 - fit and 0 < fit < 40
        assert stats["entries"] == 40 == stats["queued"] + stats["dropped"] + stats["sent"]
        assert stats["queued_bytes"] <= 2000
        bus.answer()  # a snapshot request: its 7 bytes still fit, it is queued after the moves
        bus.answer()  # and a second one before anything happened is answered by the same snapshot
        assert bus.stats()["dropped"] == 40 - fit and bus.n == 41 and bus.stats()["queued"] == fit + 1
        assert bus._queue[-1][0]["k"] == "snap" and bus.snapshots == 1 and bus.snapshot_requests == 2
        header, body = decode(encode(*bus._queue[0]).encode())
        assert header == {"k": "m", "t": "move", "ts": 0, "n": 1, "boot": bus.boot}
        assert json.loads(body) == {"ply": 0, "pad": "x" * 90}

    asyncio.run(go())


def test_after_redis_comes_back_the_viewer_workers_viewers_get_a_fresh_snapshot_and_the_stream(tmp_path):
    redis_proc = RedisProcess(tmp_path / "redis").start()
    try:
        common = {"redis_url": redis_proc.url, "load_every_s": 600}
        with (
            Running(tmp_path, **common) as primary,
            Running(tmp_path, role="viewer", primary_url=primary.http, **common) as worker,
        ):

            async def go():
                await relaying(worker.http)
                async with Viewer(worker) as there:
                    await there.wait("snapshot")  # joined before the game starts, so it sees game_start
                    async with ScriptedShowcase(primary) as show:
                        await there.wait("game_start")
                        await scenario(there, show)

            async def scenario(there, show):
                await show.play("7g7f")
                await there.wait("move")
                redis_proc.stop()
                await show.play("3c3d")  # relayed to nobody: Redis is down
                await until(lambda: primary_bus(primary).dropped >= 1, what="the loss counted")
                redis_proc.start()
                await there.wait("snapshot", count=2, timeout=30)  # the resync after the reconnect
                snap = there.messages("snapshot")[1]
                assert snap["v"] == 0 and [m["move"]["usi"] for m in snap["d"]["moves"]] == [
                    "7g7f",
                    "3c3d",
                ]
                await show.play("2g2f")
                moved = (await there.wait("move", count=2))["d"]
                assert moved["ply"] == 3  # the live stream goes on after the fresh snapshot
                mirror = worker.server.config.app.state.services.mirror
                assert mirror.resyncs >= 1 and mirror.state == "connected"

            asyncio.run(go())
    finally:
        redis_proc.stop()


def test_a_snapshot_request_that_went_nowhere_is_asked_again_while_viewers_wait():
    class Requests:  # stands in for the Redis client: records what the worker publishes
        def __init__(self):
            self.sent = []

        async def publish(self, channel, message):
            self.sent.append((channel, json.loads(message)))

    async def go():
        hub = Hub()
        mirror = BusMirror("unix:///nonexistent", "t", hub, worker="w", answer_timeout_s=0.2)
        mirror._client = Requests()
        reask = asyncio.create_task(mirror._reask())
        async with hub.subscribe() as sub:
            mirror.resync(sub)
            await until(lambda: len(mirror._client.sent) >= 3, timeout=5, what="asked again")
            assert {channel for channel, _ in mirror._client.sent} == {"t:snapshot"}
            assert all(m["worker"] == "w" for _, m in mirror._client.sent)
            header = {"k": "snap", "n": 1, "boot": "A", "ts": 5}
            mirror._handle(encode(header, dumps({"moves": []})).encode())  # answered: nobody waits
            asked = len(mirror._client.sent)
            await asyncio.sleep(0.5)
            assert len(mirror._client.sent) == asked and (await sub.get())["t"] == "snapshot"
        reask.cancel()

    asyncio.run(go())


def test_the_control_room_says_the_stream_goes_through_redis(browser, tmp_path, redis_url):  # noqa: F811
    with (
        Running(tmp_path, redis_url=redis_url) as primary,
        Running(tmp_path, redis_url=redis_url, role="viewer", primary_url=primary.http) as worker,
    ):
        deadline = time.monotonic() + 15  # relaying (sync: Playwright's own loop runs in this thread)
        while httpx.get(f"{worker.http}/healthz").json()["bus"]["state"] != "connected":
            assert time.monotonic() < deadline, "the viewer worker never relayed the stream"
            time.sleep(0.05)
        token = (tmp_path / "data" / "admin_token").read_text().strip()
        page = browser.new_page()
        page.goto(f"{primary.http}/?token={token}")
        page.wait_for_function("() => document.getElementById('bus-line').textContent.includes('Redis')")
        line = page.locator("#bus-line").inner_text()
        page.close()
    assert line.startswith("web tier: Redis connected, ") and line.endswith(" snapshots")
    assert "not relayed" not in line
