"""Fan-out: publish once, every subscriber reads at its own pace from its own bounded queue.

- Event topics (moves, games, milestones, polls) append; conflating topics (metrics, status, trainer
  status, server load, poll tallies, training thumbnails) keep only the newest pending message per
  topic, so a viewer that fell behind catches up on state without replaying every step.
- A subscriber whose queue overflows is closed with a reason instead of being allowed to slow anyone
  else; publish never awaits a socket.
- Sequence numbers are given per subscriber as messages are taken, so every stream a viewer receives
  is gap-free; a gap seen by a page therefore means a reconnect, and the page asks for a snapshot.

Use `hub.publish(t, d)` from the event loop and `async with hub.subscribe() as sub: async for msg in sub`.
A tap (`hub.taps`) sees every published message as serialised text, in publish order: the Redis bus
(server/bus.py) forwards the primary worker's stream to the viewer workers with it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


CONFLATE = frozenset({"metrics", "status", "trainer_status", "server_load", "poll_tally", "training_games"})
Pending = tuple  # (type, payload, ts) or (type, payload, ts, payload as JSON text)


class SubscriberClosed(Exception):
    """Raised by a subscription's reader once the hub closed it; `reason` says why."""


class Subscription:
    def __init__(self, hub: Hub, maxsize: int):
        self._hub = hub
        self.maxsize = maxsize
        self._pending: OrderedDict[Any, tuple[str, dict, int, str]] = OrderedDict()
        self._event = asyncio.Event()
        self._keys = itertools.count()
        self.seq = 0
        self.closed_reason: str | None = None
        self.delivered = 0

    def _offer(self, t: str, d: dict, ts: int, text: str | None = None) -> None:
        if self.closed_reason is not None:
            return
        if t in CONFLATE:
            key: Any = ("conflate", t)
            self._pending.pop(key, None)
        else:
            key = next(self._keys)
        if len(self._pending) >= self.maxsize:
            self.close(f"too slow: {len(self._pending)} messages waiting (limit {self.maxsize})")
            return
        self._pending[key] = (t, d, ts, text if text is not None else dumps(d))
        self._event.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            self._pending.clear()
            self._event.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def _next(self) -> tuple[str, dict, int, str]:
        while not self._pending:
            if self.closed_reason is not None:
                raise SubscriberClosed(self.closed_reason)
            self._event.clear()
            await self._event.wait()
        if self.closed_reason is not None:
            raise SubscriberClosed(self.closed_reason)
        _, item = self._pending.popitem(last=False)
        self.seq += 1
        self.delivered += 1
        return item

    async def get(self) -> dict:
        """The next message as a protocol envelope, with this subscriber's sequence number."""
        t, d, ts, _ = await self._next()
        return {"t": t, "v": self.seq - 1, "ts": ts, "d": d}

    async def get_text(self) -> str:
        """The next message as JSON text; the payload was serialised once for all subscribers."""
        t, _, ts, text = await self._next()
        return f'{{"t":{dumps(t)},"v":{self.seq - 1},"ts":{ts},"d":{text}}}'

    def __aiter__(self) -> AsyncIterator[dict]:
        return self

    async def __anext__(self) -> dict:
        try:
            return await self.get()
        except SubscriberClosed:
            raise StopAsyncIteration from None

    def restart(self, first: list[Pending]) -> None:
        """Start the stream again from a snapshot (resync): drop what is pending, restart numbering."""
        self._pending.clear()
        self.seq = 0
        for item in first:
            self._offer(*item)


class Hub:
    """One publisher, many subscribers, each with a bounded queue of `maxsize` messages."""

    def __init__(self, *, maxsize: int = 512):
        self.maxsize = maxsize
        self._subs: set[Subscription] = set()
        self.published = 0
        self.disconnected_slow = 0
        self.taps: list[Callable[[str, str, int], None]] = []  # (type, payload text, ts), never awaited

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, t: str, d: dict, ts: int, text: str | None = None) -> None:
        """Offer one message to every subscriber; `text` is `d` already serialised (a viewer worker
        passes on the primary's bytes)."""
        self.published += 1
        if text is None:
            text = dumps(d)  # once, however many subscribers
        for tap in self.taps:
            tap(t, text, ts)
        for sub in list(self._subs):
            sub._offer(t, d, ts, text)
            if sub.closed_reason is not None:
                self._subs.discard(sub)
                self.disconnected_slow += 1

    @asynccontextmanager
    async def subscribe(self, first: list[Pending] | None = None) -> AsyncIterator[Subscription]:
        """Register a subscriber (optionally starting with `first`, e.g. a snapshot); always removed
        again when the block exits."""
        sub = self.attach(first)
        try:
            yield sub
        finally:
            self.detach(sub)

    def attach(self, first: list[Pending] | None = None) -> Subscription:
        """Register a subscriber now, starting with `first`; `detach` it when done."""
        sub = Subscription(self, self.maxsize)
        for item in first or []:
            sub._offer(*item)
        self._subs.add(sub)
        return sub

    def detach(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        sub.close("unsubscribed")

    def each(self) -> list[Subscription]:
        return list(self._subs)
