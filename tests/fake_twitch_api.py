"""A loopback fake of the three Twitch services the logged-in chat path uses, speaking their real
wire formats: id.twitch.tv (device code, token, refresh, validate), Helix (users, EventSub
subscriptions, chat messages) and EventSub WebSocket (session_welcome, notifications with message
ids, session_reconnect). A real uvicorn in a thread; tests drive it with plain calls."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from urllib.parse import parse_qs

from fake_server import UvicornThread, free_port
from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

CLIENT_ID = "test-public-client"
SCOPES = ["user:read:chat", "user:write:chat"]


class FakeTwitchApi:
    def __init__(self, *, bot: str = "mybot", channel: str = "shogishow", pending_polls: int = 2):
        self.port = free_port()
        self.bot, self.channel = bot, channel
        self.users = {bot: "2222", channel: "1111"}
        self.pending_polls = pending_polls  # device polls answered "authorization_pending" first
        self.tokens: dict[str, dict] = {}  # access token -> {"login", "user_id", "scopes"}
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> login
        self.subscriptions: list[dict] = []
        self.sent: list[dict] = []  # chat messages posted through Helix
        self.calls: list[tuple[str, str]] = []  # (method, path) of every HTTP request
        self.sessions: list[WebSocket] = []
        self.welcomed: list[str] = []  # the URL query of each socket welcomed ("" or "reconnect=1")
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._uv = UvicornThread(self._app(), self.port)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def __enter__(self) -> FakeTwitchApi:
        self._uv.start()
        return self

    def __exit__(self, *exc):
        self._uv.stop()

    @property
    def id_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/helix"

    @property
    def eventsub_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    # -- what tests do ------------------------------------------------------------------------------------
    def issue(self, login: str | None = None, scopes=SCOPES) -> dict:
        """A fresh token pair for `login` (the bot by default), as Twitch's token endpoint returns it."""
        login = login or self.bot
        access, refresh = f"at-{uuid.uuid4().hex[:12]}", f"rt-{uuid.uuid4().hex[:12]}"
        self.tokens[access] = {"login": login, "user_id": self.users[login], "scopes": list(scopes)}
        self.refresh_tokens[refresh] = login
        return {"access_token": access, "refresh_token": refresh, "expires_in": 14400, "scope": list(scopes),
                "token_type": "bearer"}  # fmt: skip

    def expire(self, access_token: str) -> None:
        self.tokens.pop(access_token, None)

    def chat(
        self, login: str, text: str, *, badges=(), message_id: str | None = None, source: str | None = None
    ):
        """A viewer's message as a `channel.chat.message` notification to every open socket."""
        event = {
            "broadcaster_user_id": self.users[self.channel], "broadcaster_user_login": self.channel,
            "broadcaster_user_name": self.channel, "chatter_user_id": str(5000 + len(login)),
            "chatter_user_login": login.lower(), "chatter_user_name": login, "message_id": str(uuid.uuid4()),
            "message": {"text": text, "fragments": [{"type": "text", "text": text}]},
            "color": "", "badges": [{"set_id": b, "id": "1", "info": ""} for b in badges],
            "message_type": "text", "source_broadcaster_user_id": source,
        }  # fmt: skip
        self._send_all(self._envelope("notification", {"subscription": {"type": "channel.chat.message"},
                                                       "event": event}, message_id))  # fmt: skip

    def reconnect(self) -> None:
        """Tell every socket to move to a new URL (Twitch's edge maintenance)."""
        url = f"{self.eventsub_url}?reconnect=1"
        self._send_all(self._envelope("session_reconnect", {"session": {"id": "s", "reconnect_url": url}}))

    def wait_for(self, predicate, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "fake Twitch: condition not met in time"
            time.sleep(0.01)

    # -- internals ------------------------------------------------------------------------------------------
    def _envelope(self, kind: str, payload: dict, message_id: str | None = None) -> dict:
        meta = {"message_id": message_id or f"m-{next(self._ids)}", "message_type": kind,
                "message_timestamp": "2026-12-02T00:00:00Z"}  # fmt: skip
        if kind == "notification":
            meta |= {"subscription_type": "channel.chat.message", "subscription_version": "1"}
        return {"metadata": meta, "payload": payload}

    def _send_all(self, message: dict) -> None:
        async def go():
            for ws in list(self.sessions):
                await ws.send_json(message)

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(5)

    def _bearer(self, authorization: str | None) -> dict | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return self.tokens.get(authorization[7:])

    def _app(self) -> FastAPI:
        app = FastAPI()
        fake = self

        @app.middleware("http")
        async def record(request: Request, call_next):
            fake._loop = asyncio.get_running_loop()
            fake.calls.append((request.method, request.url.path))
            return await call_next(request)

        async def form(request: Request) -> dict[str, str]:
            return {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}

        @app.post("/oauth2/device")
        async def device(request: Request):
            if (await form(request)).get("client_id") != CLIENT_ID:
                return JSONResponse({"status": 400, "message": "invalid client"}, 400)
            return {"device_code": "dev-123", "user_code": "ABCD-EFGH", "verification_uri":
                    "https://www.twitch.tv/activate?public=true&device-code=ABCD-EFGH", "expires_in": 1800,
                    "interval": 0}  # fmt: skip

        @app.post("/oauth2/token")
        async def token(request: Request):
            f = await form(request)
            grant_type, device_code, refresh_token = (
                f.get("grant_type"),
                f.get("device_code"),
                f.get("refresh_token"),
            )
            if f.get("client_id") != CLIENT_ID:
                return JSONResponse({"status": 400, "message": "invalid client"}, 400)
            if grant_type == "urn:ietf:params:oauth:grant-type:device_code" and device_code == "dev-123":
                if fake.pending_polls > 0:
                    fake.pending_polls -= 1
                    return JSONResponse({"status": 400, "message": "authorization_pending"}, 400)
                return fake.issue()
            if grant_type == "refresh_token" and refresh_token in fake.refresh_tokens:
                return fake.issue(fake.refresh_tokens.pop(refresh_token))
            return JSONResponse({"status": 400, "message": "Invalid refresh token"}, 400)

        @app.get("/oauth2/validate")
        async def validate(authorization: str | None = Header(None)):
            info = fake.tokens.get((authorization or "").removeprefix("OAuth "))
            if info is None:
                return JSONResponse({"status": 401, "message": "invalid access token"}, 401)
            return {"client_id": CLIENT_ID, **info, "expires_in": 14000}

        @app.get("/helix/users")
        async def users(login: str, authorization: str | None = Header(None)):
            if fake._bearer(authorization) is None:
                return JSONResponse({"error": "Unauthorized", "status": 401}, 401)
            return {"data": [{"id": fake.users[login], "login": login}] if login in fake.users else []}

        @app.post("/helix/eventsub/subscriptions")
        async def subscribe(request: Request, authorization: str | None = Header(None)):
            if fake._bearer(authorization) is None:
                return JSONResponse({"error": "Unauthorized", "status": 401}, 401)
            body = await request.json()
            fake.subscriptions.append(body)
            return JSONResponse({"data": [{"id": str(uuid.uuid4()), "status": "enabled", **body}]}, 202)

        @app.post("/helix/chat/messages")
        async def send(request: Request, authorization: str | None = Header(None)):
            if fake._bearer(authorization) is None:
                return JSONResponse({"error": "Unauthorized", "status": 401}, 401)
            fake.sent.append(await request.json())
            return {"data": [{"message_id": str(uuid.uuid4()), "is_sent": True}]}

        @app.websocket("/ws")
        async def eventsub(ws: WebSocket):
            fake._loop = asyncio.get_running_loop()
            await ws.accept()
            fake.sessions.append(ws)
            fake.welcomed.append(ws.url.query)
            await ws.send_json(fake._envelope("session_welcome", {"session": {
                "id": f"session-{len(fake.welcomed)}", "status": "connected", "keepalive_timeout_seconds": 10,
                "reconnect_url": None}}))  # fmt: skip
            try:
                while True:
                    await ws.receive_text()
            except WebSocketDisconnect:
                pass
            finally:
                fake.sessions.remove(ws)

        return app
