"""Chat sources behind one small interface. A source delivers `ChatMessage`s to a handler and can,
where it has the right, post a short line back (`say`). Sources: Twitch IRC (`irc.TwitchChat`) and
the local chat box / REST (`local.LocalChat`); several run at once.

Everything that arrives from chat is hostile until shown otherwise: names and text are cleaned of
control characters and capped here, once, before anything else sees them; pages render them as text.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger("server.chat")

MAX_TEXT = 500  # characters a chat line may carry into the showcase; Twitch's own limit is 500
MAX_NAME = 25  # Twitch login names are 4-25 characters; display names stay close
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def clean(text: str, limit: int) -> str:
    """Text safe to store and show: NFC, no control or bidi-override characters, at most `limit`."""
    text = _CONTROL.sub(" ", unicodedata.normalize("NFC", text)).strip()
    return text[:limit]


@dataclass(frozen=True)
class ChatMessage:
    source: Literal["twitch", "local"]
    user_id: str  # stable per user (Twitch `user-id`; "local:<name>" for the local box)
    display_name: str
    text: str
    ts_ms: int
    is_mod: bool = False  # a moderator or the broadcaster (the local box: the streamer)
    login: str = ""  # the account name, lower case (what an ignore list names)
    shared_from: str | None = None  # Shared Chat: the partner channel's room id it was mirrored from

    @classmethod
    def make(
        cls, *, source, user_id: str, display_name: str, text: str, ts_ms: int, is_mod=False, login="",
        shared_from: str | None = None,
    ):  # fmt: skip
        name = clean(display_name, MAX_NAME) or clean(user_id, MAX_NAME) or "anonymous"
        return cls(
            source, clean(user_id, 64), name, clean(text, MAX_TEXT), ts_ms, is_mod,
            clean(login or name, MAX_NAME).lower(), clean(shared_from, 32) if shared_from else None,
        )  # fmt: skip


Handler = Callable[[ChatMessage], Awaitable[str | None]]  # returns a reply for the user, if any


def queue_line(outbox: asyncio.Queue[str], text: str, *, reply: bool, can_post: bool, limit: int) -> bool:
    """Queue one line to post (cleaned, at most `limit`); False if the source cannot post or the line
    is dropped. Replies to single users may use only half the queue, so announcements and results
    get out first."""
    text = clean(text, limit)
    if not can_post or not text:
        return False
    if reply and outbox.qsize() >= outbox.maxsize // 2:
        return False
    try:
        outbox.put_nowait(text)
    except asyncio.QueueFull:
        log.warning("chat outbox full: dropped %r", text[:60])
        return False
    return True


class ChatSource(Protocol):
    name: str
    can_post: bool

    async def run(self, handler: Handler) -> None:
        """Deliver messages to `handler` until cancelled (reconnecting as needed)."""

    async def say(self, text: str, *, reply: bool = False) -> bool:
        """Post one line to chat (`reply`: an answer to one user, the first to give way when busy);
        False when this source cannot post (read-only) or the line was dropped."""
