"""/ws: the viewers' feed. A snapshot first, then deltas from the hub; `resync` gets a new snapshot.
Read-only; browsers from a foreign Origin are refused."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from server.bus import NoSnapshot
from server.hub import SubscriberClosed
from server.routes import services
from showcase_core.protocol import FROM_VIEWER, ProtocolError, parse

log = logging.getLogger("server.viewers")
router = APIRouter()


def origin_ok(ws: WebSocket, allowed: list[str]) -> bool:
    """No Origin (not a browser) or this server's own host, or one explicitly allowed."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == ws.headers.get("host") or origin in allowed


@router.websocket("/ws")
async def viewer_feed(ws: WebSocket) -> None:
    s = services(ws)
    await ws.accept()  # accept first so the refusal carries a close code and reason
    if not origin_ok(ws, s.settings.allowed_origins):
        await ws.close(code=1008, reason="origin not allowed")
        return

    try:
        async with s.viewer_feed() as sub:
            await _serve(ws, s, sub)
    except NoSnapshot as exc:  # a viewer worker whose primary does not answer: come back later
        await ws.close(code=1013, reason=str(exc)[:120])


async def _serve(ws: WebSocket, s, sub) -> None:
    """Send the stream and read the viewer's resync requests until either side ends."""

    async def send() -> None:
        while True:
            text = await sub.get_text()
            async with asyncio.timeout(s.settings.send_timeout_s):  # no task per send, unlike wait_for
                await ws.send_text(text)

    async def receive() -> None:
        while True:
            text = await ws.receive_text()
            try:
                envelope, _ = parse(text, allowed=FROM_VIEWER)
            except ProtocolError as exc:
                await ws.close(code=1003, reason=str(exc)[:120])
                return
            if envelope.t == "resync":
                s.resync(sub)

    sender, receiver = asyncio.create_task(send()), asyncio.create_task(receive())
    done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in done:
        exc = task.exception()
        if isinstance(exc, SubscriberClosed):
            await ws.close(code=1008, reason=str(exc)[:120])
        elif isinstance(exc, TimeoutError):
            await ws.close(code=1008, reason="send timed out: viewer too slow")
        elif exc is not None and not isinstance(exc, WebSocketDisconnect):
            log.warning("viewer connection ended: %r", exc)
