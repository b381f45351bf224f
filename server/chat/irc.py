"""Twitch chat over IRC-on-websockets: the line format (IRCv3 tags with their escaping), and a source
that logs in (anonymously as `justinfan<digits>`, or with OAuth to post), joins one channel,
answers PING, follows RECONNECT, reports NOTICEs, reconnects with backoff and keeps its own posts
under Twitch's rate limit (20 lines per 30 s; 100 as a moderator or the broadcaster).

Wire reference: one or more `\\r\\n`-terminated lines per websocket frame;
`@tag=value;tag2=value2 :nick!user@host COMMAND param param :trailing`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import deque
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from server.chat import ChatMessage, Handler, clean, queue_line

log = logging.getLogger("server.chat.irc")

TWITCH_URL = "wss://irc-ws.chat.twitch.tv:443"
MAX_LINE = 8192 + 512  # Twitch: tags up to 8191 bytes, the rest up to 512
MAX_SAY = 450  # characters of one posted line, leaving room for "PRIVMSG #channel :"
CHANNEL = re.compile(r"^[a-z0-9_]{1,25}$")


class IrcParseError(ValueError):
    pass


_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}


def unescape_tag(value: str) -> str:
    """IRCv3 tag value unescaping: `\\:` `\\s` `\\\\` `\\r` `\\n`; any other escaped character is
    itself, and a lone trailing backslash is dropped."""
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 < len(value):
                out.append(_UNESCAPE.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def escape_tag(value: str) -> str:
    return "".join(_ESCAPE.get(ch, ch) for ch in value)


@dataclass
class IrcMessage:
    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str | None = None

    @property
    def nick(self) -> str:
        return (self.prefix or "").split("!", 1)[0]

    @property
    def trailing(self) -> str:
        return self.params[-1] if self.params else ""


def parse_line(line: str) -> IrcMessage:
    """One IRC line (without its CR LF) -> IrcMessage, or IrcParseError saying what is wrong."""
    if len(line) > MAX_LINE:
        raise IrcParseError(f"line of {len(line)} characters exceeds {MAX_LINE}")
    if "\r" in line or "\n" in line or "\0" in line:
        raise IrcParseError("CR, LF or NUL inside a line")
    rest = line
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw, _, rest = rest[1:].partition(" ")
        for item in raw.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag(value)
        rest = rest.lstrip(" ")
    prefix = None
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    params: list[str] = []
    while rest:
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
        rest = rest.lstrip(" ")
    if not params or not re.fullmatch(r"[A-Za-z]+|\d{3}", params[0]):
        raise IrcParseError(f"no IRC command in {line[:60]!r}")
    return IrcMessage(command=params[0].upper(), params=params[1:], tags=tags, prefix=prefix)


def format_line(command: str, *params: str, trailing: bool = False) -> str:
    """A line to send; refuses CR, LF and NUL anywhere (IRC injection) and spaces outside the last.
    `trailing` marks the last parameter with `:` even where it needs none (as Twitch writes PONG)."""
    for p in (command, *params):
        if any(ch in p for ch in "\r\n\0"):
            raise ValueError("CR, LF or NUL in an outgoing IRC line")
    head = [command, *params[:-1]]
    if any(" " in p or p.startswith(":") or not p for p in head):
        raise ValueError(f"bad middle parameter in {head!r}")
    if params:
        last = params[-1]
        needs_colon = trailing or " " in last or last.startswith(":") or not last
        return " ".join(head) + " " + (f":{last}" if needs_colon else last)
    return command


class SlidingWindow:
    """At most `limit` events in any `window_s` seconds."""

    def __init__(self, limit: int, window_s: float):
        self.limit, self.window_s = limit, window_s
        self.sent: deque[float] = deque()

    def wait_time(self, now: float) -> float:
        while self.sent and now - self.sent[0] >= self.window_s:
            self.sent.popleft()
        return 0.0 if len(self.sent) < self.limit else self.sent[0] + self.window_s - now

    def record(self, now: float) -> None:
        self.sent.append(now)


def privmsg_to_chat(msg: IrcMessage) -> ChatMessage | None:
    """A channel PRIVMSG as a ChatMessage (display name, user id, moderator, sent time from the tags)."""
    if msg.command != "PRIVMSG" or len(msg.params) < 2:
        return None
    text = msg.trailing
    if text.startswith("\x01ACTION ") and text.endswith("\x01"):  # /me
        text = text[8:-1]
    badges = msg.tags.get("badges", "")
    is_mod = msg.tags.get("mod") == "1" or "broadcaster/" in badges or "moderator/" in badges
    try:
        ts_ms = int(msg.tags["tmi-sent-ts"])
    except (KeyError, ValueError):
        ts_ms = int(time.time() * 1000)
    nick = msg.nick
    # Shared Chat mirrors a partner channel's messages into ours; they carry the room they came from.
    source_room, room = msg.tags.get("source-room-id"), msg.tags.get("room-id")
    return ChatMessage.make(
        source="twitch",
        user_id=msg.tags.get("user-id") or f"nick:{nick}",
        display_name=msg.tags.get("display-name") or nick,
        text=text,
        ts_ms=ts_ms,
        is_mod=is_mod,
        login=nick,
        shared_from=source_room if source_room and source_room != room else None,
    )


class TwitchChat:
    """A ChatSource for one Twitch channel; `state` says how it is doing (shown in /healthz)."""

    name = "twitch"

    def __init__(
        self,
        channel: str,
        *,
        url: str = TWITCH_URL,
        nick: str | None = None,
        oauth_token: str | None = None,
        rate_limit: tuple[int, float] = (20, 30.0),
        mod_rate_limit: tuple[int, float] = (100, 30.0),
        max_backoff_s: float = 60.0,
        ssl_context=None,
    ):
        channel = channel.lower().lstrip("#")
        if not CHANNEL.match(channel):
            raise ValueError(f"twitch channel must be 1-25 of a-z, 0-9, _; got {channel!r}")
        if oauth_token and not nick:
            raise ValueError("posting with an OAuth token needs the bot account's nick")
        self.channel, self.url = channel, url
        self.oauth_token = oauth_token.removeprefix("oauth:") if oauth_token else None
        self.nick = nick.lower() if self.oauth_token and nick else f"justinfan{random.randint(10000, 99999)}"
        self.can_post = self.oauth_token is not None
        self.state = "starting"
        self.last_notice: str | None = None
        self.connections = 0
        # One record of what was sent, judged by the limit of the moment (a change of moderator status
        # must not open a fresh budget).
        self._sent = SlidingWindow(*rate_limit)
        self._limits = {False: rate_limit, True: mod_rate_limit}
        self._is_mod = False
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=20)
        self.posted: deque[float] = deque(maxlen=200)  # when each line went out (monotonic seconds)
        self._last_reconnect = -1e9
        self._ws = None
        self._max_backoff_s = max_backoff_s
        self._ssl = ssl_context  # None: the system's trust store (a test passes its own CA)

    # -- posting ----------------------------------------------------------------------------------------
    async def say(self, text: str, *, reply: bool = False) -> bool:
        """Queue one line for the channel (sent within the rate limit); False if read-only or full.
        Replies to single users may use only half the queue, so announcements and results get out."""
        return queue_line(self._outbox, text, reply=reply, can_post=self.can_post, limit=MAX_SAY)

    async def _sender(self, ws) -> None:
        while True:
            text = await self._outbox.get()
            while True:
                self._sent.limit, self._sent.window_s = self._limits[self._is_mod]
                wait = self._sent.wait_time(time.monotonic())
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            now = time.monotonic()
            self._sent.record(now)
            self.posted.append(now)
            await ws.send(format_line("PRIVMSG", f"#{self.channel}", text) + "\r\n")

    # -- the connection ---------------------------------------------------------------------------------
    async def run(self, handler: Handler) -> None:
        delay = 1.0
        while True:
            self.state = "connecting"
            again_now = False
            try:
                tls = {"ssl": self._ssl} if self._ssl is not None and self.url.startswith("wss:") else {}
                async with connect(self.url, max_size=1 << 20, open_timeout=15, proxy=None, **tls) as ws:
                    self.connections += 1
                    again_now = await self._session(ws, handler)
                    if self.state == "joined":
                        delay = 1.0
            except (OSError, TimeoutError, InvalidURI, InvalidHandshake, WebSocketException) as exc:
                log.warning("twitch chat connection failed: %r", exc)
            if self.state == "auth failed":
                delay = self._max_backoff_s  # retrying a refused login quickly helps nobody
            if again_now and time.monotonic() - self._last_reconnect < 10:
                again_now = False  # RECONNECT again within seconds: back off rather than spin
            if again_now:
                self._last_reconnect = time.monotonic()
            else:
                self.state = self.state if self.state == "auth failed" else "disconnected"
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self._max_backoff_s)

    async def _session(self, ws, handler: Handler) -> bool:
        """Log in, join and serve one connection. True when Twitch asked us to reconnect at once."""
        await ws.send(format_line("CAP", "REQ", "twitch.tv/tags twitch.tv/commands") + "\r\n")
        if self.oauth_token:
            await ws.send(f"PASS oauth:{self.oauth_token}\r\n")
        await ws.send(format_line("NICK", self.nick) + "\r\n")
        sender = asyncio.create_task(self._sender(ws))
        try:
            async for frame in ws:
                if isinstance(frame, bytes):
                    frame = frame.decode("utf-8", "replace")
                for line in frame.split("\r\n"):
                    if not line:
                        continue
                    try:
                        msg = parse_line(line)
                    except IrcParseError as exc:
                        log.debug("ignored a line from twitch: %s", exc)
                        continue
                    outcome = await self._on_line(ws, msg, handler)
                    if outcome is not None:
                        return outcome
        finally:
            sender.cancel()
        return False

    async def _on_line(self, ws, msg: IrcMessage, handler: Handler) -> bool | None:
        if msg.command == "PING":
            await ws.send(format_line("PONG", msg.trailing or "tmi.twitch.tv", trailing=True) + "\r\n")
        elif msg.command == "001":
            await ws.send(format_line("JOIN", f"#{self.channel}") + "\r\n")
        elif msg.command == "JOIN" and msg.nick == self.nick:
            self.state = "joined"
            log.info("twitch chat: joined #%s as %s", self.channel, self.nick)
        elif msg.command == "USERSTATE":
            badges = msg.tags.get("badges", "")
            self._is_mod = msg.tags.get("mod") == "1" or "broadcaster/" in badges
        elif msg.command == "RECONNECT":
            log.info("twitch asked us to reconnect")
            return True
        elif msg.command == "NOTICE":
            self.last_notice = clean(msg.trailing, 200)
            log.warning("twitch notice: %s", self.last_notice)
            notice = msg.trailing.lower()
            if "authentication failed" in notice or "improperly formatted auth" in notice:
                self.state = "auth failed"
                return False
        elif msg.command == "PRIVMSG":
            chat = privmsg_to_chat(msg)
            if chat is not None and chat.text:
                try:
                    reply = await handler(chat)
                except Exception:  # one bad message (or a store hiccup) must not end chat for the stream
                    log.exception("chat message from %s not handled", chat.display_name)
                    return None
                if reply and self.can_post:
                    await self.say(f"@{chat.display_name} {reply}", reply=True)
        return None
