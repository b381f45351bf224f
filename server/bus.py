"""The web tier on Redis: one primary worker, any number of viewer workers, one stream.

The primary is the server as it always was: it alone holds the trainer link, the poll engine and the
archive writes. With a Redis address set, every message its hub publishes is also sent, numbered and in
publish order, on one Redis pub/sub channel (`<prefix>:stream`). A viewer worker subscribes to that
channel and publishes each message on its own hub, so its viewers receive the primary's stream: the
same messages in the same order, numbered gap-free per viewer by the hub as before.

A viewer needs a snapshot that matches the point of the stream it starts from. A viewer worker asks
the primary on `<prefix>:snapshot`; the primary answers *on the stream channel*, between the messages,
so the snapshot sits exactly where the primary's state was when it was taken, and the viewer's deltas
start right after it. Viewers joining while a request is out share its answer (any snapshot on the
stream is valid for every worker at that point).

The held move of a prediction round never reaches the hub, so it never reaches Redis either.

Nothing is lost silently. A message the primary could not send (Redis down, its queue full) is counted
and leaves a gap in the numbering; a viewer worker that sees a gap, reconnects to Redis, or sees a
restarted primary (a new boot id) gives every one of its viewers a fresh snapshot, exactly what a page's
own resync does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from server.hub import Hub, Subscription, dumps
from showcase_core.protocol import now_ms

log = logging.getLogger("server.bus")

QUEUE_MAX = 20_000  # entries the primary holds for Redis; beyond it they are dropped and counted
QUEUE_BYTES = 64 * 2**20  # and at most this many payload bytes (a move with every map is ~30 kB)
BATCH = 256  # entries per pipelined round trip


def channels(prefix: str) -> tuple[str, str]:
    """(the stream channel, the snapshot request channel)."""
    return f"{prefix}:stream", f"{prefix}:snapshot"


def encode(header: dict, body: str) -> str:
    """One stream entry: a small JSON header line, then the payload text exactly as the hub made it."""
    return dumps(header) + "\n" + body


def decode(raw: str | bytes) -> tuple[dict, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    head, _, body = text.partition("\n")
    return json.loads(head), body


def _redis(url: str):
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(url, decode_responses=False, health_check_interval=10)


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError)


async def keep_connected(url: str, session, on_error: Callable[[BaseException, float], None]) -> None:
    """Run `session(client, connected)` on a fresh Redis client, and again after each failure, waiting
    0.5 s, doubling to 10 s; a session calls `connected()` once it is up, which resets the wait."""
    errors = _redis_errors()
    delay = 0.5

    def connected() -> None:
        nonlocal delay
        delay = 0.5

    while True:
        client = _redis(url)
        try:
            await session(client, connected)
        except* errors as group:
            on_error(group.exceptions[0], delay)
        finally:
            with contextlib.suppress(Exception):
                await client.aclose()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


class BusPrimary:
    """The primary worker's side: the hub's stream out to Redis, snapshots on request."""

    def __init__(
        self, url: str, prefix: str, hub: Hub, snapshot: Callable[[], dict], *, queue_max=QUEUE_MAX,
        queue_bytes=QUEUE_BYTES,
    ):  # fmt: skip
        self.url = url
        self.stream, self.requests = channels(prefix)
        self.snapshot = snapshot
        self.queue_max = queue_max
        self.queue_bytes = queue_bytes
        self._queued_bytes = 0
        self.boot = secrets.token_hex(6)  # a restarted primary is a new stream for the viewer workers
        self.n = 0  # the number of the last entry made (sent or dropped)
        self._queue: deque[list] = deque()  # [header, body], oldest first
        self._wake = asyncio.Event()
        self.sent = 0
        self.dropped = 0
        self.snapshots = 0
        self.snapshot_requests = 0
        self.state = "connecting"
        self.last_error: str | None = None
        hub.taps.append(self._tap)

    def stats(self) -> dict:
        return {
            "role": "primary",
            "state": self.state,
            "boot": self.boot,
            "entries": self.n,
            "sent": self.sent,
            "dropped": self.dropped,
            "queued": len(self._queue),
            "queued_bytes": self._queued_bytes,
            "snapshot_requests": self.snapshot_requests,
            "snapshots_sent": self.snapshots,
            "last_error": self.last_error,
        }

    def _tap(self, t: str, text: str, ts: int) -> None:
        self._enqueue({"k": "m", "t": t, "ts": ts}, text)

    def _enqueue(self, header: dict, body: str) -> None:
        self.n += 1
        header["n"], header["boot"] = self.n, self.boot
        if len(self._queue) >= self.queue_max or self._queued_bytes + len(body) > self.queue_bytes:
            self.dropped += 1  # the viewer workers see the gap and resync their viewers
            return
        self._queue.append([header, body])
        self._queued_bytes += len(body)
        self._wake.set()

    def answer(self) -> None:
        """A viewer worker asked for a snapshot: queue one at this point of the stream. If the newest
        queued entry is already a snapshot, nothing happened since: that one answers this request too."""
        self.snapshot_requests += 1
        if self._queue and self._queue[-1][0]["k"] == "snap":
            return
        self.snapshots += 1
        self._enqueue({"k": "snap", "ts": now_ms()}, dumps(self.snapshot()))

    async def run(self) -> None:
        """Connect, send, listen for snapshot requests; reconnect with backoff when Redis goes away."""
        await keep_connected(self.url, self._session, self._down)

    async def _session(self, client, connected) -> None:
        await client.ping()
        self.state = "connected"
        connected()
        log.info("stream bus connected to %s (boot %s)", self.url, self.boot)
        async with client.pubsub() as pubsub:
            await pubsub.subscribe(self.requests)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send(client))
                group.create_task(self._listen(pubsub))

    def _down(self, exc: BaseException, retry_in: float) -> None:
        # What could not be sent is counted; the viewer workers see the gap and resync.
        self.dropped += len(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        self.last_error = repr(exc)
        self.state = "disconnected"
        log.warning("stream bus: Redis unavailable (%s); retrying in %.1f s", self.last_error, retry_in)

    async def _send(self, client) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            self._queued_bytes -= sum(len(body) for _, body in batch)
            pipe = client.pipeline(transaction=False)
            for header, body in batch:
                pipe.publish(self.stream, encode(header, body))
            try:
                await pipe.execute()
            except BaseException:
                self.dropped += len(batch)
                raise
            self.sent += len(batch)

    async def _listen(self, pubsub) -> None:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                self.answer()


class MirroredLive:
    """The few live facts a viewer worker's own routes read (the run id, the trainer's latest status),
    kept from the stream it relays; everything else a viewer needs is in the snapshots."""

    def __init__(self):
        self.run_id: str | None = None
        self.status: dict | None = None
        self.trainer: dict[str, Any] = {"connected": False}

    def from_snapshot(self, snap: dict) -> None:
        trainer = snap.get("trainer") or {}
        self.trainer = {"connected": bool(trainer.get("connected"))}
        self.run_id = trainer.get("run_id")
        self.status = snap.get("status")

    def apply(self, t: str, d: dict) -> None:
        if t == "trainer_status":
            self.trainer = {"connected": bool(d.get("connected"))}
            self.run_id = d.get("run_id", self.run_id)
        elif t == "status":
            self.status = d


class NoSnapshot(Exception):
    """The primary worker did not answer a snapshot request in time."""


Ready = Callable[[dict, str, int], None]  # (snapshot, its text, ts), called at the snapshot's stream point


class BusMirror:
    """A viewer worker's side: the primary's stream from Redis onto this worker's hub."""

    def __init__(self, url: str, prefix: str, hub: Hub, *, worker: str, answer_timeout_s: float = 5.0):
        self.url = url
        self.stream, self.requests = channels(prefix)
        self.hub = hub
        self.worker = worker
        self.answer_timeout_s = answer_timeout_s
        # A request unanswered this long is asked again (it may have gone out before the primary was
        # on Redis), well within the time a joining viewer waits.
        self.reask_s = min(1.0, answer_timeout_s / 4)
        self.live = MirroredLive()
        self._waiting: list[Ready] = []
        self._asked_at: float | None = None  # when the outstanding request went out
        self._client = None
        self._ids = itertools.count(1)
        self.boot: str | None = None
        self.last_n: int | None = None
        self.received = 0
        self.gaps = 0  # entries missed (numbering jumps), each answered by a resync
        self.resyncs = 0  # viewers given a fresh snapshot after a gap, a reconnect or a primary restart
        self.snapshots_used = 0
        self.state = "connecting"
        self.last_error: str | None = None
        self.connected = asyncio.Event()

    def stats(self) -> dict:
        return {
            "role": "viewer",
            "worker": self.worker,
            "state": self.state,
            "primary_boot": self.boot,
            "last_entry": self.last_n,
            "received": self.received,
            "gaps": self.gaps,
            "resyncs": self.resyncs,
            "snapshots_used": self.snapshots_used,
            "waiting_for_snapshot": len(self._waiting),
            "last_error": self.last_error,
        }

    # -- the stream ------------------------------------------------------------------------------
    async def run(self) -> None:
        await keep_connected(self.url, self._session, self._down)

    async def _session(self, client, connected) -> None:
        reask = asyncio.get_running_loop().create_task(self._reask())
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.stream)
                self._client = client
                self.state = "connected"
                connected()
                self.connected.set()
                log.info("viewer worker %s relaying the stream from %s", self.worker, self.url)
                self.last_n = None  # whatever passed while we were away is unknown: resync
                self._resync_all(again=True)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._handle(message["data"])
        finally:
            reask.cancel()
            self.connected.clear()
            self._client = None

    async def _reask(self) -> None:
        """A request can go nowhere (the primary not on Redis yet): ask again while viewers wait."""
        while True:
            await asyncio.sleep(self.reask_s / 2)
            if self._waiting:
                self._ask()

    def _down(self, exc: BaseException, retry_in: float) -> None:
        self.last_error = repr(exc)
        self.state = "disconnected"
        log.warning(
            "viewer worker %s: Redis unavailable (%s); retrying in %.1f s", self.worker, exc, retry_in
        )

    def _handle(self, raw: bytes) -> None:
        header, body = decode(raw)
        self.received += 1
        n = header["n"]
        if header["boot"] != self.boot:
            if self.boot is not None:
                log.info("the primary restarted (boot %s): resyncing this worker's viewers", header["boot"])
                self._resync_all()
            self.boot = header["boot"]
        elif self.last_n is not None and n != self.last_n + 1:
            self.gaps += max(0, n - self.last_n - 1)
            self._resync_all()
        self.last_n = n
        d = json.loads(body)
        if header["k"] == "snap":
            self.live.from_snapshot(d)
            waiting, self._waiting, self._asked_at = self._waiting, [], None
            if waiting:
                self.snapshots_used += 1
            for ready in waiting:
                ready(d, body, header["ts"])
            return
        t = header["t"]
        self.live.apply(t, d)
        self.hub.publish(t, d, header["ts"], body)

    # -- snapshots -------------------------------------------------------------------------------
    def _wait(self, ready: Ready) -> None:
        self._waiting.append(ready)
        self._ask()

    def _ask(self, *, again: bool = False) -> None:
        """Ask the primary for a snapshot unless a request is already out (its answer serves every
        waiter); `again` after a reconnect, when an earlier request may have gone nowhere."""
        now = time.monotonic()
        recent = self._asked_at is not None and now - self._asked_at < self.reask_s
        if (recent and not again) or self._client is None or not self._waiting:
            return
        self._asked_at = now
        request = dumps({"worker": self.worker, "req": next(self._ids)})
        task = asyncio.get_running_loop().create_task(self._client.publish(self.requests, request))
        task.add_done_callback(self._asked)

    def _asked(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.last_error = repr(task.exception())
            self._asked_at = None  # the next joiner asks again

    def _unwait(self, ready: Ready) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove(ready)

    def _resync_all(self, *, again: bool = False) -> None:
        """Every viewer of this worker gets a fresh snapshot at the next one on the stream."""
        subs = self.hub.each()
        for sub in subs:
            self._waiting.append(self._restarter(sub))
        self.resyncs += len(subs)
        self._ask(again=again)

    def _restarter(self, sub: Subscription) -> Ready:
        def ready(d: dict, text: str, ts: int) -> None:
            if sub.closed_reason is None:
                sub.restart([("snapshot", d, ts, text)])

        return ready

    def resync(self, sub: Subscription) -> None:
        """Give `sub` a fresh snapshot at the next one on the stream (a page's `resync`)."""
        self._wait(self._restarter(sub))

    async def snapshot(self) -> dict:
        """A current snapshot (for a page's first paint); NoSnapshot when the primary does not answer."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()

        def ready(d: dict, text: str, ts: int) -> None:
            if not future.done():
                future.set_result(d)

        self._wait(ready)
        try:
            return await asyncio.wait_for(future, self.answer_timeout_s)
        except TimeoutError:
            raise NoSnapshot("the primary worker did not answer a snapshot request") from None
        finally:
            self._unwait(ready)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscriber registered on this worker's hub exactly at a snapshot's point of the stream,
        starting with that snapshot."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()

        def ready(d: dict, text: str, ts: int) -> None:
            if not future.done():
                future.set_result(self.hub.attach([("snapshot", d, ts, text)]))

        self._wait(ready)
        try:
            sub = await asyncio.wait_for(future, self.answer_timeout_s)
        except TimeoutError:
            raise NoSnapshot("the primary worker did not answer a snapshot request") from None
        except BaseException:
            if future.done() and not future.cancelled():
                self.hub.detach(future.result())
            raise
        finally:
            self._unwait(ready)
        try:
            yield sub
        finally:
            self.hub.detach(sub)
