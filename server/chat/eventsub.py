"""The logged-in Twitch path: chat read through EventSub WebSocket and posted through Helix, with a
user token from the Device Code Grant Flow (a public client: no secret, nothing for the streamer to
host). Behind the same ChatSource interface as IRC, which stays the zero-setup default.

- `python -m server twitch-login` runs the device flow once: it shows a code to enter at
  twitch.tv/activate, polls for the token and stores it (mode 0600) in the data directory.
- At start, and every hour, the token is validated (`/oauth2/validate`); a token that has expired or
  is refused is refreshed with its refresh token (public clients refresh without a secret) and stored
  again. A refused refresh stops the source with the reason in /healthz (run twitch-login again).
- The socket: wait for `session_welcome`, subscribe `channel.chat.message` for the channel within the
  keepalive window, treat silence longer than the keepalive as a dead link, follow
  `session_reconnect` to its URL (subscriptions carry over), resubscribe after any other reconnect
  (there is no replay), and drop duplicates by `message_id`.
- Shared Chat: an event whose `source_broadcaster_user_id` is another channel is marked as mirrored,
  like IRC's `source-room-id`, and the poll engine ignores it unless the streamer opts in.

Every URL is a setting, so the tests run this against a loopback fake of Twitch's three services.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from server.chat import ChatMessage, Handler, clean, queue_line

log = logging.getLogger("server.chat.eventsub")

SCOPES = ("user:read:chat", "user:write:chat")
ID_URL = "https://id.twitch.tv"
API_URL = "https://api.twitch.tv/helix"
EVENTSUB_URL = "wss://eventsub.wss.twitch.tv/ws"
MAX_SAY = 450
VALIDATE_EVERY_S = 3600.0
# What a dropped link or a malformed answer raises: reconnect with backoff, the reason in /healthz.
NETWORK_ERRORS = (OSError, TimeoutError, InvalidURI, InvalidHandshake, WebSocketException, httpx.HTTPError)
NETWORK_ERRORS += (KeyError, ValueError)


class TwitchAuthError(RuntimeError):
    """No usable token: the message says what to do."""


@dataclass
class Token:
    access_token: str
    refresh_token: str
    expires_at: float  # seconds since the epoch
    login: str = ""
    user_id: str = ""
    scopes: tuple[str, ...] = ()

    def save(self, path: Path) -> None:
        """Write atomically with mode 0600 (the token is a password for the bot account)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**asdict(self), "scopes": list(self.scopes)}, f)
        os.chmod(tmp, 0o600)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Token:
        try:
            data = json.loads(path.read_text())
            return cls(**{**data, "scopes": tuple(data.get("scopes", ()))})
        except FileNotFoundError:
            raise TwitchAuthError(f"no Twitch token at {path}: run `python -m server twitch-login`") from None
        except (ValueError, TypeError) as exc:
            raise TwitchAuthError(f"the Twitch token at {path} is unreadable ({exc}): log in again") from None


class TwitchAuth:
    """The device flow, validation and refresh against `id_url` for the public client `client_id`."""

    def __init__(self, client_id: str, token_path: Path, *, id_url: str = ID_URL, http: httpx.AsyncClient):
        self.client_id, self.token_path, self.id_url, self.http = client_id, token_path, id_url, http
        self.token: Token | None = None
        self.last_validated: float | None = None

    async def device_flow(self, show, *, scopes=SCOPES, sleep=asyncio.sleep) -> Token:
        """Ask for a device code, `show(user_code, verification_uri, expires_in)`, poll until the
        streamer has entered it, and store the token."""
        r = await self.http.post(
            f"{self.id_url}/oauth2/device", data={"client_id": self.client_id, "scopes": " ".join(scopes)}
        )
        if r.status_code != 200:
            raise TwitchAuthError(f"Twitch refused the device code request: {r.status_code} {r.text[:200]}")
        code = r.json()
        show(code["user_code"], code["verification_uri"], code["expires_in"])
        interval, deadline = float(code.get("interval", 5)), time.monotonic() + float(code["expires_in"])
        while time.monotonic() < deadline:
            await sleep(interval)
            form = {
                "client_id": self.client_id,
                "scopes": " ".join(scopes),
                "device_code": code["device_code"],
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            }
            r = await self.http.post(f"{self.id_url}/oauth2/token", data=form)
            if r.status_code == 200:
                self.token = self._token(r.json())
                await self.validate()
                return self.token
            try:
                message = r.json().get("message") or ""
            except ValueError:
                message = r.text
            if message == "authorization_pending":
                continue
            if message == "slow_down":
                interval += 5
                continue
            raise TwitchAuthError(f"the device login ended: {message or r.status_code}")
        raise TwitchAuthError("the device code expired before it was entered: run twitch-login again")

    def _token(self, data: dict) -> Token:
        return Token(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token", ""),
            expires_at=time.time() + float(data.get("expires_in", 0)),
            scopes=tuple(data.get("scope", ())),
        )

    async def validate(self) -> Token:
        """Check the token with Twitch (at start and hourly, as Twitch asks); refresh it when it is
        refused; store what changed. Raises TwitchAuthError when nothing works."""
        if self.token is None:
            self.token = Token.load(self.token_path)
        r = await self.http.get(
            f"{self.id_url}/oauth2/validate", headers={"Authorization": f"OAuth {self.token.access_token}"}
        )
        if r.status_code == 401:
            await self.refresh()
            r = await self.http.get(
                f"{self.id_url}/oauth2/validate",
                headers={"Authorization": f"OAuth {self.token.access_token}"},
            )
        if r.status_code != 200:
            raise TwitchAuthError(
                f"Twitch does not accept the token ({r.status_code}): run twitch-login again"
            )
        info = r.json()
        missing = [s for s in SCOPES if s not in info.get("scopes", [])]
        if missing:
            raise TwitchAuthError(f"the token lacks {', '.join(missing)}: run twitch-login again")
        self.token.login, self.token.user_id = info["login"], info["user_id"]
        self.token.scopes = tuple(info["scopes"])
        self.token.expires_at = time.time() + float(info.get("expires_in", 0))
        self.token.save(self.token_path)
        self.last_validated = time.time()
        return self.token

    async def refresh(self) -> Token:
        if self.token is None or not self.token.refresh_token:
            raise TwitchAuthError("the token has expired and has no refresh token: run twitch-login again")
        r = await self.http.post(
            f"{self.id_url}/oauth2/token",
            data={"client_id": self.client_id, "grant_type": "refresh_token",
                  "refresh_token": self.token.refresh_token},
        )  # fmt: skip
        if r.status_code != 200:
            raise TwitchAuthError(
                f"Twitch refused to refresh the token ({r.status_code}): run twitch-login again"
            )
        fresh = self._token(r.json())
        fresh.login, fresh.user_id = self.token.login, self.token.user_id
        self.token = fresh
        self.token.save(self.token_path)
        log.info("twitch token refreshed")
        return fresh


def event_to_chat(event: dict) -> ChatMessage | None:
    """A `channel.chat.message` event as a ChatMessage (badges say moderator / broadcaster)."""
    text = (event.get("message") or {}).get("text", "")
    if not text:
        return None
    badges = {b.get("set_id") for b in event.get("badges") or []}
    source = event.get("source_broadcaster_user_id")
    return ChatMessage.make(
        source="twitch",
        user_id=event.get("chatter_user_id") or f"login:{event.get('chatter_user_login', '')}",
        display_name=event.get("chatter_user_name") or event.get("chatter_user_login", ""),
        text=text,
        ts_ms=int(time.time() * 1000),
        is_mod=bool(badges & {"moderator", "broadcaster"}),
        login=event.get("chatter_user_login", ""),
        shared_from=source if source and source != event.get("broadcaster_user_id") else None,
    )


class EventSubChat:
    """A ChatSource for one channel through EventSub WebSocket (read) and Helix (post)."""

    name = "twitch"

    def __init__(
        self,
        channel: str,
        auth: TwitchAuth,
        *,
        api_url: str = API_URL,
        eventsub_url: str = EVENTSUB_URL,
        http: httpx.AsyncClient,
        validate_every_s: float = VALIDATE_EVERY_S,
        max_backoff_s: float = 60.0,
    ):
        self.channel = channel.lower().lstrip("#")
        self.auth, self.api_url, self.eventsub_url, self.http = auth, api_url, eventsub_url, http
        self.validate_every_s, self.max_backoff_s = validate_every_s, max_backoff_s
        self.state = "starting"
        self.last_notice: str | None = None
        self.can_post = False
        self.connections = 0
        self.subscriptions = 0
        self.duplicates = 0
        self.broadcaster_id: str | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=20)

    # -- Helix --------------------------------------------------------------------------------------------
    def _headers(self) -> dict:
        return {"Client-Id": self.auth.client_id, "Authorization": f"Bearer {self.auth.token.access_token}"}

    async def _helix(self, method: str, path: str, **kwargs) -> httpx.Response:
        r = await self.http.request(method, f"{self.api_url}{path}", headers=self._headers(), **kwargs)
        if r.status_code == 401:  # expired between validations: refresh once and try again
            await self.auth.refresh()
            r = await self.http.request(method, f"{self.api_url}{path}", headers=self._headers(), **kwargs)
        return r

    async def say(self, text: str, *, reply: bool = False) -> bool:
        return queue_line(self._outbox, text, reply=reply, can_post=self.can_post, limit=MAX_SAY)

    async def _sender(self) -> None:
        while True:
            text = await self._outbox.get()
            body = {
                "broadcaster_id": self.broadcaster_id,
                "sender_id": self.auth.token.user_id,
                "message": text,
            }
            r = await self._helix("POST", "/chat/messages", json=body)
            if r.status_code != 200 or not all(m.get("is_sent") for m in r.json().get("data", [])):
                self.last_notice = clean(f"a chat message was not sent: {r.status_code} {r.text}", 200)
                log.warning("twitch: %s", self.last_notice)
            await asyncio.sleep(1.5)  # 20 lines per 30 s at most

    # -- the socket ---------------------------------------------------------------------------------------
    async def run(self, handler: Handler) -> None:
        delay = 1.0
        sender = validator = None
        try:
            while True:
                try:
                    await self.auth.validate()
                    if self.broadcaster_id is None:
                        r = await self._helix("GET", "/users", params={"login": self.channel})
                        users = r.json().get("data", []) if r.status_code == 200 else []
                        if not users:
                            raise TwitchAuthError(
                                f"Twitch knows no channel {self.channel!r} ({r.status_code})"
                            )
                        self.broadcaster_id = users[0]["id"]
                    self.can_post = True
                    sender = sender or asyncio.create_task(self._sender())
                    validator = validator or asyncio.create_task(self._validate_hourly())
                    url = self.eventsub_url
                    while url:  # a session_reconnect hands over to a new URL, keeping the subscription
                        url = await self._session(url, handler, subscribe=url == self.eventsub_url)
                    delay = 1.0
                except TwitchAuthError as exc:
                    self.state, self.last_notice, self.can_post = "auth failed", str(exc), False
                    log.error("twitch (EventSub): %s", exc)
                    return  # nothing to retry until the streamer logs in again
                except NETWORK_ERRORS as exc:
                    self.last_notice = clean(f"{type(exc).__name__}: {exc}", 200)
                    log.warning("twitch (EventSub) connection failed: %s", self.last_notice)
                self.state = "disconnected"
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
        finally:
            for task in (sender, validator):
                if task is not None:
                    task.cancel()

    async def _validate_hourly(self) -> None:
        while True:
            await asyncio.sleep(self.validate_every_s)
            try:
                await self.auth.validate()
            except TwitchAuthError as exc:
                self.last_notice = str(exc)
                log.error("twitch token: %s", exc)
            except httpx.HTTPError as exc:
                log.warning("twitch token validation could not reach Twitch: %r", exc)

    async def _session(self, url: str, handler: Handler, *, subscribe: bool) -> str | None:
        """One socket; returns the reconnect URL Twitch gave, or None when the socket ended."""
        self.state = "connecting"
        async with connect(url, max_size=1 << 20, open_timeout=15, proxy=None) as ws:
            self.connections += 1
            keepalive = 10.0
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), keepalive + 5)
                except TimeoutError:
                    raise TimeoutError(f"no message or keepalive in {keepalive + 5:.0f} s") from None
                message = json.loads(raw)
                meta, payload = message.get("metadata", {}), message.get("payload", {})
                kind = meta.get("message_type")
                if self._duplicate(meta.get("message_id")):
                    continue
                if kind == "session_welcome":
                    session = payload["session"]
                    keepalive = float(session.get("keepalive_timeout_seconds") or 10)
                    if subscribe:
                        await self._subscribe(session["id"])
                    self.state = "joined"
                    log.info("twitch (EventSub): reading #%s as %s", self.channel, self.auth.token.login)
                elif kind == "session_reconnect":
                    return payload["session"]["reconnect_url"]
                elif kind == "notification" and meta.get("subscription_type") == "channel.chat.message":
                    chat = event_to_chat(payload.get("event", {}))
                    if chat is not None:
                        try:
                            reply = await handler(chat)
                        except Exception:  # one bad message must not end chat for the stream
                            log.exception("chat message from %s not handled", chat.display_name)
                            continue
                        if reply:
                            await self.say(f"@{chat.display_name} {reply}", reply=True)
                elif kind == "revocation":
                    self.last_notice = (
                        f"subscription revoked: {payload.get('subscription', {}).get('status')}"
                    )
                    log.warning("twitch (EventSub): %s", self.last_notice)
                    return None

    async def _subscribe(self, session_id: str) -> None:
        condition = {"broadcaster_user_id": self.broadcaster_id, "user_id": self.auth.token.user_id}
        r = await self._helix(
            "POST",
            "/eventsub/subscriptions",
            json={"type": "channel.chat.message", "version": "1", "condition": condition,
                  "transport": {"method": "websocket", "session_id": session_id}},
        )  # fmt: skip
        if r.status_code != 202:
            raise TwitchAuthError(f"Twitch refused the chat subscription: {r.status_code} {r.text[:200]}")
        self.subscriptions += 1

    def _duplicate(self, message_id: str | None) -> bool:
        if not message_id:
            return False
        if message_id in self._seen:
            self.duplicates += 1
            return True
        self._seen[message_id] = None
        if len(self._seen) > 2000:
            self._seen.popitem(last=False)
        return False
