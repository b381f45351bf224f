"""Optional OBS control over obs-websocket v5 (built into OBS 28+, port 4455): switch to a chosen scene
when a prediction round opens and back once it closes (after the reveal), and refresh the browser
sources between showcase games (`refreshnocache`: the safety net against long-running browser
sources growing in memory, ../shared/notes/twitch-obs.md).

The link follows the stream like a viewer (a hub subscription), so it needs no hooks in the poll
engine or the trainer route; OBS being away, refusing the password or answering a request with an
error never stops the showcase: it is retried with backoff, counted and shown in /healthz.

Wire protocol (obs-websocket 5.x): the server sends Hello (op 0) with an `authentication` challenge
and salt; the client answers Identify (op 1) with rpcVersion 1 and
`base64(sha256(base64(sha256(password + salt)) + challenge))`; Identified (op 2); then Request (op 6)
`{requestType, requestId, requestData}` and RequestResponse (op 7) with `requestStatus.result`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging

from websockets.asyncio.client import connect

log = logging.getLogger("server.obs")

RPC_VERSION = 1
EVENTS_NONE = 0  # no event subscriptions: requests only


class ObsError(RuntimeError):
    pass


def auth_string(password: str, salt: str, challenge: str) -> str:
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest()).decode()
    return base64.b64encode(hashlib.sha256((secret + challenge).encode()).digest()).decode()


class ObsClient:
    """One identified obs-websocket connection; `request` sends one request and awaits its answer."""

    def __init__(self, url: str, password: str | None, *, timeout_s: float = 5.0):
        self.url, self.password, self.timeout_s = url, password, timeout_s
        self._ws = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> ObsClient:
        self._ws = await connect(
            self.url, subprotocols=["obswebsocket.json"], proxy=None, open_timeout=self.timeout_s
        )
        try:
            hello = await self._receive(0)
            identify = {"rpcVersion": RPC_VERSION, "eventSubscriptions": EVENTS_NONE}
            auth = hello.get("authentication")
            if auth:
                if not self.password:
                    raise ObsError("OBS asks for a password: set SHOWCASE_OBS_PASSWORD")
                identify["authentication"] = auth_string(self.password, auth["salt"], auth["challenge"])
            await self._ws.send(json.dumps({"op": 1, "d": identify}))
            await self._receive(2)
        except BaseException:
            await self._ws.close()
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()

    async def _receive(self, op: int) -> dict:
        while True:
            try:
                text = await asyncio.wait_for(self._ws.recv(), self.timeout_s)
            except TimeoutError:
                raise ObsError(f"OBS sent no op {op} within {self.timeout_s:g} s") from None
            message = json.loads(text)
            if message.get("op") == op:
                return message.get("d", {})
            # Events (op 5) are not subscribed; anything else before the answer is skipped.

    async def request(self, request_type: str, data: dict | None = None) -> dict:
        request_id = str(next(self._ids))
        payload = {"requestType": request_type, "requestId": request_id, "requestData": data or {}}
        await self._ws.send(json.dumps({"op": 6, "d": payload}))
        while True:
            answer = await self._receive(7)
            if answer.get("requestId") == request_id:
                break
        status = answer.get("requestStatus", {})
        if not status.get("result"):
            raise ObsError(f"{request_type}: {status.get('comment') or status.get('code')}")
        return answer.get("responseData") or {}


class ObsLink:
    """Follows the hub and drives OBS; `state()` is what /healthz shows."""

    def __init__(self, settings, hub):
        self.settings, self.hub = settings, hub
        self.connected = False
        self.last_error: str | None = None
        self.scene_switches = 0
        self.refreshes = 0
        self.failed_requests = 0
        self.keepalive_s = 30.0  # a request this often while nothing happens, so `connected` is true
        self.subscribed = False  # the link reads the hub like a viewer, but is not one: not counted
        self._return_scene: str | None = None
        self._game_id: str | None = None

    def state(self) -> dict:
        return {
            "configured": True,
            "url": self.settings.obs_url,
            "connected": self.connected,
            "last_error": self.last_error,
            "scene_switches": self.scene_switches,
            "refreshes": self.refreshes,
            "failed_requests": self.failed_requests,
        }

    async def run(self) -> None:
        password = self.settings.obs_password.get_secret_value() if self.settings.obs_password else None
        backoff = 1.0
        while True:
            try:
                async with ObsClient(self.settings.obs_url, password) as obs, self.hub.subscribe() as sub:
                    self.connected, self.subscribed, self.last_error, backoff = True, True, None, 1.0
                    self._game_id = None  # the sources were loaded while the link was down
                    log.info("OBS connected at %s", self.settings.obs_url)
                    while True:
                        try:
                            message = await asyncio.wait_for(anext(sub), self.keepalive_s)
                        except TimeoutError:  # a quiet stream: make sure OBS is still there
                            await obs.request("GetVersion")
                            continue
                        except StopAsyncIteration:  # the hub closed this subscription
                            break
                        await self._on(obs, message["t"], message["d"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # OBS closed, refused, or is not running: try again later
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("OBS link: %s (retrying in %.0f s)", self.last_error, backoff)
            finally:
                self.connected = self.subscribed = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    async def _on(self, obs: ObsClient, t: str, d: dict) -> None:
        try:
            if t == "poll_open" and d.get("kind") == "predict" and self.settings.obs_poll_scene:
                current = await obs.request("GetCurrentProgramScene")
                name = current.get("currentProgramSceneName") or current.get("sceneName")
                if name != self.settings.obs_poll_scene:
                    self._return_scene = name
                    await obs.request("SetCurrentProgramScene", {"sceneName": self.settings.obs_poll_scene})
                    self.scene_switches += 1
            elif t == "poll_closed" and self._return_scene is not None:
                scene, self._return_scene = self._return_scene, None
                await obs.request("SetCurrentProgramScene", {"sceneName": scene})
                self.scene_switches += 1
            elif (
                t == "game_start" and d.get("kind") == "showcase" and self.settings.obs_refresh_between_games
            ):
                first = self._game_id is None
                self._game_id = d["game_id"]
                if not first:  # the first game after connecting: the sources just loaded
                    await self.refresh_sources(obs)
        except ObsError as exc:  # one refused request: counted and shown, the link stays up
            self.failed_requests += 1
            self.last_error = str(exc)
            log.warning("OBS request failed: %s", exc)

    async def refresh_sources(self, obs: ObsClient) -> None:
        names = list(self.settings.obs_refresh_sources)
        if not names:
            inputs = await obs.request("GetInputList", {"inputKind": "browser_source"})
            names = [i["inputName"] for i in inputs.get("inputs", [])]
        for name in names:
            await obs.request(
                "PressInputPropertiesButton", {"inputName": name, "propertyName": "refreshnocache"}
            )
            self.refreshes += 1
