"""A loopback fake of Twitch's IRC-over-websockets server, speaking the real wire format: CAP ACK,
PASS/NICK login (anonymous `justinfan<digits>` or an OAuth token it knows, else the real NOTICE),
the 001-376 welcome, JOIN with USERSTATE/ROOMSTATE, tagged PRIVMSG with escaped values, PING, and
RECONNECT. It runs its own event loop in a thread, so tests drive it with plain calls; `flood` sends a
timed stream of chat lines from that loop (`python -m server bench chat`). Twitch itself cannot run
here: the tests and the chat benchmark talk to this instead."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
import uuid

from websockets.asyncio.server import serve

from server.chat.irc import escape_tag

HOST = "tmi.twitch.tv"


class Session:
    def __init__(self, ws):
        self.ws = ws
        self.caps: set[str] = set()
        self.password: str | None = None
        self.nick: str | None = None
        self.channels: set[str] = set()


class FakeTwitchIrc:
    def __init__(self, *, tokens: dict[str, str] | None = None, moderators: set[str] = frozenset(), ssl=None):
        self.ssl = ssl  # an ssl.SSLContext: serve wss:// as Twitch does
        self.tokens = tokens or {}  # oauth token -> the account it belongs to
        self.moderators = set(moderators)
        self.lines: list[tuple[float, str]] = []  # every line any client sent, with its arrival time
        self.sessions: list[Session] = []
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._ids = itertools.count(1000)
        self.port = 0

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> FakeTwitchIrc:
        self._thread.start()

        async def open_server():
            return await serve(self._handle, "127.0.0.1", 0, ssl=self.ssl)

        self._server = self._call(open_server())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close():
            self._server.close()
            await self._server.wait_closed()

        self._call(close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- what tests do ------------------------------------------------------------------------------------
    def sent(self, command: str) -> list[str]:
        return [line for _, line in self.lines if line.split(" ", 1)[0] == command]

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake IRC: condition not met in {timeout} s; lines: {self.lines[-10:]}")
            time.sleep(0.01)

    def joined(self, channel: str) -> int:
        return sum(1 for s in self.sessions if channel in s.channels and not s.ws.close_code)

    def chat(self, channel: str, login: str, text: str, **tags: str) -> None:
        """A viewer says `text`: a tagged PRIVMSG to every session in the channel (raw `text`)."""
        self.raw_to_channel(channel, self.privmsg(channel, login, text, **tags))

    def privmsg(self, channel: str, login: str, text: str, **tags: str) -> str:
        """The line Twitch sends when `login` says `text` (tags as Twitch sets them, overridable)."""
        base = {
            "badge-info": "",
            "badges": "",
            "color": "#1E90FF",
            "display-name": login,
            "emotes": "",
            "first-msg": "0",
            "flags": "",
            "id": str(uuid.uuid4()),
            "mod": "0",
            "room-id": "12345",
            "subscriber": "0",
            "tmi-sent-ts": str(int(time.time() * 1000)),
            "turbo": "0",
            "user-id": str(next(self._ids)),
            "user-type": "",
        }
        base.update({k.replace("_", "-"): v for k, v in tags.items()})
        tag_text = ";".join(f"{k}={escape_tag(v)}" for k, v in base.items())
        return f"@{tag_text} :{login}!{login}@{login}.{HOST} PRIVMSG #{channel} :{text}"

    def flood(self, channel: str, lines: list[str], rate: float) -> list[float]:
        """Send `lines` (from `privmsg`) to the channel at `rate` per second, one frame each, paced from
        this fake's own loop; returns each line's send time (time.time())."""

        async def go():
            sessions = [s for s in self.sessions if channel in s.channels and not s.ws.close_code]
            sent: list[float] = []
            start = time.monotonic()
            for i, line in enumerate(lines):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent.append(time.time())
                for s in sessions:
                    await s.ws.send(line + "\r\n")
            return sent

        return self._call(go(), timeout=len(lines) / rate + 120)

    def raw_to_channel(self, channel: str, line: str) -> None:
        async def go():
            for s in self.sessions:
                if channel in s.channels and not s.ws.close_code:
                    await s.ws.send(line + "\r\n")

        self._call(go())

    def ping(self) -> None:
        self._broadcast(f"PING :{HOST}")

    def reconnect(self) -> None:
        """Twitch's RECONNECT: tell every client, then drop the connections as Twitch does."""

        async def go():
            for s in list(self.sessions):
                if not s.ws.close_code:
                    await s.ws.send(f":{HOST} RECONNECT\r\n")
                    # Not awaited: the close handshake needs the client, whose loop may be our caller.
                    asyncio.get_running_loop().create_task(s.ws.close())

        self._call(go())

    def _broadcast(self, line: str) -> None:
        async def go():
            for s in self.sessions:
                if not s.ws.close_code:
                    await s.ws.send(line + "\r\n")

        self._call(go())

    # -- the server ---------------------------------------------------------------------------------------
    async def _handle(self, ws) -> None:
        self.connections += 1
        session = Session(ws)
        self.sessions.append(session)
        try:
            async for frame in ws:
                for line in str(frame).split("\r\n"):
                    if line:
                        self.lines.append((time.monotonic(), line))
                        if not await self._line(session, line):
                            await ws.close()
                            return
        except Exception:  # a client that vanished; Twitch just drops it too
            pass

    async def _line(self, s: Session, line: str) -> bool:
        command, _, rest = line.partition(" ")
        send = s.ws.send
        if command == "CAP" and rest.startswith("REQ :"):
            caps = rest[5:]
            s.caps.update(caps.split())
            await send(f":{HOST} CAP * ACK :{caps}\r\n")
        elif command == "PASS":
            s.password = rest
        elif command == "NICK":
            s.nick = rest.strip().lower()
            anonymous = s.password is None and s.nick.startswith("justinfan") and s.nick[9:].isdigit()
            token = (s.password or "").removeprefix("oauth:")
            if not anonymous and self.tokens.get(token) != s.nick:
                await send(f":{HOST} NOTICE * :Login authentication failed\r\n")
                return False
            for code, text in (("001", "Welcome, GLHF!"), ("002", f"Your host is {HOST}"),
                               ("003", "This server is rather new"), ("004", "-"), ("375", "-"),
                               ("372", "You are in a maze of twisty passages, all alike."),
                               ("376", ">")):  # fmt: skip
                await send(f":{HOST} {code} {s.nick} :{text}\r\n")
        elif command == "JOIN" and s.nick:
            channel = rest.strip().lstrip("#")
            s.channels.add(channel)
            nick = s.nick
            await send(f":{nick}!{nick}@{nick}.{HOST} JOIN #{channel}\r\n")
            await send(f":{nick}.{HOST} 353 {nick} = #{channel} :{nick}\r\n")
            await send(f":{nick}.{HOST} 366 {nick} #{channel} :End of /NAMES list\r\n")
            if "twitch.tv/tags" in s.caps:
                mod = "1" if nick in self.moderators else "0"
                badges = "moderator/1" if mod == "1" else ""
                await send(
                    f"@badge-info=;badges={badges};color=;display-name={nick};emote-sets=0;mod={mod};"
                    f"subscriber=0;user-type= :{HOST} USERSTATE #{channel}\r\n"
                )
                await send(
                    f"@emote-only=0;followers-only=-1;r9k=0;room-id=12345;slow=0;subs-only=0 :{HOST}"
                    f" ROOMSTATE #{channel}\r\n"
                )
        return True
