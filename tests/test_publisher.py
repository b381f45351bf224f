"""The publisher against a real websocket server on loopback: order, hello on every connect, bounded
queue while the server is away, drop counts reported, reconnect after a restart, controls delivered."""

import queue
import time

import pytest
from fake_server import FakeServer, free_port

from showcase_core.protocol import Control, Hello, Status, make
from showcase_core.publisher import Publisher

TOKEN = "s3cret-token"


def hello() -> Hello:
    return Hello(
        protocol=1,
        run_id="test",
        config={},
        model={"kind": "baseline"},
        compile={"compiled": False},
        device="cpu",
        update=0,
        reward={},
        weights_version=0,
    )


def status(update: int) -> Status:
    return Status(
        state="training", update=update, samples=update * 10, weights_version=update, showcase="playing",
        move_interval_s=2.0,
    )  # fmt: skip


def milestone(i: int) -> dict:
    return {"kind": "kl_spike", "update": i, "title": f"m{i}", "detail": "d"}


@pytest.fixture
def port():
    return free_port()


def test_hello_first_then_messages_in_order_with_token(port):
    server = FakeServer(port).start()
    pub = Publisher(f"ws://127.0.0.1:{port}", TOKEN, hello).start()
    try:
        for i in range(5):
            pub.publish("milestone", milestone(i))
        envelope, first = server.take()
        assert envelope.t == "hello" and envelope.v == 0 and isinstance(first, Hello)
        got = [server.take() for _ in range(5)]
        assert [p.update for _, p in got] == [0, 1, 2, 3, 4]
        assert [e.v for e, _ in got] == [1, 2, 3, 4, 5]
        assert server.auth == [f"Bearer {TOKEN}"]
    finally:
        pub.stop()
        server.stop()


def test_bounded_while_away_then_drops_reported_after_connect(port):
    pub = Publisher(f"ws://127.0.0.1:{port}", TOKEN, hello, max_events=10, backoff_initial=0.05).start()
    try:
        for i in range(50):
            pub.publish("milestone", milestone(i))  # no server: must neither block nor raise
            pub.publish("status", status(i))
        assert pub.pending() == 10 + 1  # ten events plus the latest status
        assert pub.dropped["milestone"] == 40
        server = FakeServer(port).start()
        try:
            envelope, _ = server.take()
            assert envelope.t == "hello"
            envelope, st = server.take()
            assert envelope.t == "status" and st.update == 49 and st.dropped == {"milestone": 40}
            kept = [server.take()[1].update for _ in range(10)]
            assert kept == list(range(10))  # the oldest were kept, later ones counted as dropped
        finally:
            server.stop()
    finally:
        pub.stop()


def test_reconnects_after_the_server_restarts_and_sends_hello_again(port):
    server = FakeServer(port).start()
    pub = Publisher(f"ws://127.0.0.1:{port}", TOKEN, hello, backoff_initial=0.05, backoff_max=0.2).start()
    try:
        assert server.take()[0].t == "hello"
        server.stop()
        deadline = time.monotonic() + 10
        while pub.connected.is_set():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        pub.publish("milestone", milestone(7))
        server = FakeServer(port).start()
        envelope, _ = server.take()
        assert envelope.t == "hello" and envelope.v == 0
        assert server.take()[1].update == 7
        assert pub.connects == 2
    finally:
        pub.stop()
        server.stop()


def test_on_connect_messages_follow_hello_on_every_connection(port):
    replay = [("milestone", milestone(99))]
    server = FakeServer(port).start()
    pub = Publisher(
        f"ws://127.0.0.1:{port}", TOKEN, hello, on_connect=lambda: list(replay), backoff_initial=0.05
    )
    pub.start()
    try:
        assert [server.take()[0].t for _ in range(2)] == ["hello", "milestone"]
        server.stop()
        while pub.connected.is_set():
            time.sleep(0.02)
        server = FakeServer(port).start()
        first, second = server.take(), server.take()
        assert (first[0].t, first[0].v, second[0].t, second[0].v) == ("hello", 0, "milestone", 1)
        assert second[1].update == 99
    finally:
        pub.stop()
        server.stop()


def test_controls_reach_the_handler_and_bad_ones_are_ignored(port):
    server = FakeServer(port).start()
    got: queue.Queue = queue.Queue()
    pub = Publisher(f"ws://127.0.0.1:{port}", TOKEN, hello, on_control=got.put).start()
    try:
        server.take()
        server.send({"t": "control", "v": 0, "ts": 0, "d": {"action": "explode"}})  # refused, logged
        server.send({"t": "move", "v": 1, "ts": 0, "d": {}})  # not a server -> trainer message
        server.send(make("control", Control(action="speed", seconds=3.0), seq=2))
        control = got.get(timeout=5)
        assert control.action == "speed" and control.seconds == 3.0
        assert got.empty() and pub.connected.is_set()
    finally:
        pub.stop()
        server.stop()


def test_invalid_payload_is_refused_on_the_callers_side(port):
    pub = Publisher(f"ws://127.0.0.1:{port}", TOKEN, hello)
    with pytest.raises(ValueError, match="milestone"):
        pub.publish("milestone", {"kind": "kl_spike"})
    with pytest.raises(ValueError, match="hello"):
        pub.publish("hello", hello())


class _FailingLink:
    """A websocket whose `send` raises like a dropped connection after `ok` sends."""

    def __init__(self, ws, ok: int):
        self._ws, self._ok = ws, ok

    def __getattr__(self, name):
        return getattr(self._ws, name)

    def __aiter__(self):
        return self._ws.__aiter__()

    async def send(self, text):
        if self._ok == 0:
            from websockets.exceptions import ConnectionClosedError

            await self._ws.close()
            raise ConnectionClosedError(None, None)
        self._ok -= 1
        await self._ws.send(text)


class _BreaksOnce(Publisher):
    def __init__(self, *args, ok: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._ok = ok

    async def _session(self, ws):
        if self.connects == 1:
            ws = _FailingLink(ws, self._ok)
        await super()._session(ws)


def test_a_send_failing_mid_batch_puts_the_unsent_rest_back_in_order(port):
    pub = _BreaksOnce(f"ws://127.0.0.1:{port}", TOKEN, hello, ok=3, backoff_initial=0.05, backoff_max=0.1)
    pub.start()
    try:
        for i in range(10):
            pub.publish("milestone", milestone(i))  # queued while there is no server: one batch
        server = FakeServer(port).start()
        try:
            got = []
            while len(got) < 12:
                envelope, payload = server.take()
                got.append(envelope.t if envelope.t == "hello" else payload.update)
            # hello, 0 and 1 went out; the send of 2 failed; the next connection sends 2..9.
            assert got == ["hello", 0, 1, "hello", *range(2, 10)]
            assert pub.dropped == {} and pub.pending() == 0 and pub.connects == 2
        finally:
            server.stop()
    finally:
        pub.stop()


def test_requeue_past_the_bound_counts_the_overflow_as_dropped():
    pub = Publisher("ws://127.0.0.1:9", TOKEN, hello, max_events=3)
    pub.publish("milestone", milestone(10))
    pub._requeue([("milestone", pub_m) for pub_m in (milestone(1), milestone(2), milestone(3))])
    assert pub.dropped == {"milestone": 1}
    assert [p["update"] if isinstance(p, dict) else p.update for _, p in pub._events] == [1, 2, 10]


def test_process_stats_measure_this_process_cpu_and_memory():
    from showcase_core.sysstats import ProcessStats

    stats = ProcessStats(min_interval_s=0.1)
    first = stats.sample()
    assert first["cpu_percent"] is None and first["rss_mb"] > 10 and first["cores"] >= 1
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 0.2 s of CPU
        pass
    second = stats.sample()
    assert second["cpu_percent"] > 0
    # A sample right after a measured one repeats it instead of measuring over a few milliseconds.
    assert stats.sample()["cpu_percent"] == second["cpu_percent"]


def test_gpu_stats_are_none_on_the_cpu():
    from trainer.live import gpu_stats

    assert gpu_stats("cpu") is None


def test_thumbnails_are_conflated_while_the_server_is_away():
    from showcase_core.protocol import TrainingGames

    pub = Publisher("ws://127.0.0.1:9/ws/trainer", "tok", lambda: None, max_events=10)
    for update in range(3000):
        pub.publish("training_games", TrainingGames(update=update, games=[]))
    assert len(pub._events) == 0 and pub._latest["training_games"].update == 2999 and not pub.dropped
