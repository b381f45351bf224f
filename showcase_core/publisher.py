"""The trainer's link to the server: a websocket client in its own thread that training never waits on.

`publish(t, payload)` validates the message and hands it over without blocking. While the server is
away, conflating types (metrics, status) keep only the latest, event types (moves, games, milestones,
evaluations) are kept up to a bound and then dropped and counted; the counts go out in the next
`status` once the link is back. Every (re)connect starts with `hello`, then whatever `on_connect`
returns (the showcase game so far). Reconnects back off
exponentially with jitter. A send that fails mid-batch puts the unsent rest back at the front of the
queue (or counts it dropped past the bound), so nothing leaves the queue unsent and uncounted.
`control` messages from the server are handed to `on_control` (called on the publisher's thread:
keep it short, e.g. set a flag).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from showcase_core.protocol import (
    TO_TRAINER,
    Control,
    Hello,
    Payload,
    ProtocolError,
    Status,
    dumps,
    make,
    parse,
    validate_payload,
)

log = logging.getLogger("showcase_core.publisher")

CONFLATE = frozenset({"metrics", "status", "training_games"})  # newest only: state, not events


class Publisher:
    """Send trainer messages to `url` with `token`; start() once, stop() at the end."""

    def __init__(
        self,
        url: str,
        token: str,
        hello: Callable[[], Hello],
        *,
        on_control: Callable[[Control], None] | None = None,
        on_connect: Callable[[], list[tuple[str, Payload]]] | None = None,
        max_events: int = 2000,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ):
        self.url = url
        self._token = token
        self._hello = hello
        self._on_control = on_control
        self._on_connect = on_connect
        self.max_events = max_events
        self._backoff = (backoff_initial, backoff_max)
        self._lock = threading.Lock()
        self._events: deque[tuple[str, Payload]] = deque()
        self._latest: dict[str, Payload] = {}
        self.dropped: Counter[str] = Counter()
        self._dropped_unreported = False
        self.sent = 0
        self.connects = 0
        self.connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()

    # -- the training side ------------------------------------------------------------------------------
    def publish(self, t: str, payload: Payload | dict[str, Any]) -> None:
        """Queue a message; never blocks and never raises for a full queue (it counts a drop)."""
        if t == "hello":
            raise ProtocolError("hello is sent by the publisher itself on every connect")
        validated = validate_payload(t, payload)  # a bad message fails here, on the caller's side
        with self._lock:
            if t in CONFLATE:
                self._latest[t] = validated  # by design only the newest matters
            elif len(self._events) >= self.max_events:
                self.dropped[t] += 1
                self._dropped_unreported = True
            else:
                self._events.append((t, validated))
        self._poke()

    def pending(self) -> int:
        with self._lock:
            return len(self._events) + len(self._latest)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                loop.call_soon_threadsafe(wake.set)

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Publisher:
        assert self._thread is None, "publisher already started"
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="publisher", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Try to flush what is queued (up to `timeout`), then close the link and the thread."""
        self._stopping.set()
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main(ready))
        finally:
            loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._wake = asyncio.Event()
        ready.set()
        delay = self._backoff[0]
        while not self._stopping.is_set():
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self._token}"},
                    proxy=None,
                    open_timeout=5,
                    max_size=2**20,
                ) as ws:
                    self.connects += 1
                    delay = self._backoff[0]
                    await self._session(ws)
                    if self._stopping.is_set():
                        return
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                log.info("trainer link down (%s); retrying in %.1f s", type(exc).__name__, delay)
            except InvalidURI:
                log.error("server URL %r is not a websocket URL; publisher stops", self.url)
                return
            finally:
                self.connected.clear()
            if self._stopping.is_set():
                return
            # Exponential backoff with full jitter, cut short by stop().
            sleep = random.uniform(0.5, 1.0) * delay
            delay = min(delay * 2, self._backoff[1])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped(), timeout=sleep)

    async def _stopped(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(0.05)

    async def _session(self, ws) -> None:
        seq = 0

        async def send(t: str, payload: Payload) -> None:
            nonlocal seq
            await ws.send(dumps(make(t, payload, seq=seq)))
            seq += 1
            self.sent += 1

        await send("hello", self._hello())
        # State a (re)started server cannot know, e.g. the showcase game in progress; the server
        # stores it idempotently, so repeating what it already has is harmless.
        for t, payload in self._on_connect() if self._on_connect else []:
            await send(t, payload)
        self.connected.set()
        receiver = asyncio.create_task(self._receive(ws))
        try:
            while True:
                batch = self._take()
                for i, (t, payload) in enumerate(batch):
                    try:
                        await send(t, payload)
                    except BaseException:
                        # The link died mid-batch: what was not confirmed sent goes back to the front
                        # of the queue for the next connection (the server stores moves and games
                        # idempotently, so the one in flight may safely arrive twice).
                        self._requeue(batch[i:])
                        raise
                if not batch:
                    if self._stopping.is_set():
                        await ws.close()
                        return
                    self._wake.clear()
                    if receiver.done():
                        receiver.result()  # re-raise ConnectionClosed
                        return
                    waiter = asyncio.create_task(self._wake.wait())
                    await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
        finally:
            receiver.cancel()

    def _take(self) -> list[tuple[str, Payload]]:
        """Everything queued, conflated state first; a status carries the drop counts when any."""
        with self._lock:
            batch = list(self._latest.items())
            self._latest.clear()
            batch += list(self._events)
            self._events.clear()
            if self._dropped_unreported:
                status = next((p for t, p in batch if t == "status"), None)
                if isinstance(status, Status):
                    status.dropped = {k: v for k, v in self.dropped.items() if v}
                    self._dropped_unreported = False
        return batch

    def _requeue(self, unsent: list[tuple[str, Payload]]) -> None:
        """Put back what a failed send left over, ahead of anything queued since; a conflated type
        newer than the unsent one wins, and events past the bound are dropped and counted."""
        with self._lock:
            events = [(t, p) for t, p in unsent if t not in CONFLATE]
            for t, p in unsent:
                if t in CONFLATE:
                    self._latest.setdefault(t, p)
            room = max(0, self.max_events - len(self._events))
            for t, _ in events[room:]:
                self.dropped[t] += 1
                self._dropped_unreported = True
            self._events.extendleft(reversed(events[:room]))

    async def _receive(self, ws) -> None:
        async for text in ws:
            try:
                _, payload = parse(text, allowed=TO_TRAINER)
            except ProtocolError as exc:
                log.warning("ignoring a bad message from the server: %s", exc)
                continue
            if self._on_control is not None and isinstance(payload, Control):
                try:
                    self._on_control(payload)
                except Exception:  # a control handler bug must not take the link down
                    log.exception("control handler failed")
