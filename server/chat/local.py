"""The local chat source: the control room's chat box and `POST /api/chat` (admin token), for
streams without Twitch and for rehearsals. Its messages are marked as local on screen; replies go
back to the poster in the HTTP answer instead of to a chat."""

from __future__ import annotations

import asyncio

from server.chat import ChatMessage, Handler, clean
from showcase_core.protocol import now_ms


class LocalChat:
    name = "local"
    can_post = False

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._ready = asyncio.Event()

    async def run(self, handler: Handler) -> None:
        self._handler = handler
        self._ready.set()
        await asyncio.Event().wait()  # nothing to pump: post() delivers directly

    async def post(self, user: str, text: str) -> str | None:
        """Deliver one line as `user`; returns the showcase's reply to it, if any."""
        await self._ready.wait()
        name = clean(user, 25) or "streamer"
        message = ChatMessage.make(
            source="local",
            user_id=f"local:{name.lower()}",
            display_name=name,
            text=text,
            ts_ms=now_ms(),
            is_mod=True,  # the box and POST /api/chat need the admin token: it is the streamer
        )
        return await self._handler(message)

    async def say(self, text: str, *, reply: bool = False) -> bool:
        return False
