"""A loopback OBS speaking obs-websocket v5's wire protocol: Hello with a password challenge,
Identify checked, and the requests the showcase sends, recorded; scenes and browser sources are
in memory. `fail` names request types it answers with an error."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading

from websockets.asyncio.server import serve


def expected_auth(password: str, salt: str, challenge: str) -> str:
    """obs-websocket's documented check, written out here rather than taken from the client."""
    secret = base64.b64encode(hashlib.sha256(password.encode() + salt.encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()


class FakeObs:
    def __init__(self, port: int, password: str | None = "hunter2", scene: str = "Main"):
        self.port, self.password = port, password
        self.scene = scene
        self.inputs = [("Overlay", "browser_source"), ("Board", "browser_source"), ("Camera", "v4l2_input")]
        self.requests: list[tuple[str, dict]] = []
        self.identified = 0
        self.refused = 0
        self.fail: set[str] = set()
        self._ready = threading.Event()

    async def _handler(self, ws):
        salt, challenge = "c2FsdA==", "Y2hhbGxlbmdl"
        hello = {"obsWebSocketVersion": "5.5.2", "rpcVersion": 1}
        if self.password:
            hello["authentication"] = {"challenge": challenge, "salt": salt}
        await ws.send(json.dumps({"op": 0, "d": hello}))
        identify = json.loads(await ws.recv())
        assert identify["op"] == 1 and identify["d"]["rpcVersion"] == 1
        if self.password and identify["d"].get("authentication") != expected_auth(
            self.password, salt, challenge
        ):
            self.refused += 1
            await ws.close(4009, "Authentication failed.")
            return
        self.identified += 1
        await ws.send(json.dumps({"op": 2, "d": {"negotiatedRpcVersion": 1}}))
        async for text in ws:
            message = json.loads(text)
            assert message["op"] == 6
            d = message["d"]
            kind, data = d["requestType"], d.get("requestData", {})
            self.requests.append((kind, data))
            ok, response = True, {}
            if kind in self.fail:
                ok = False
            elif kind == "GetCurrentProgramScene":
                response = {"currentProgramSceneName": self.scene, "sceneName": self.scene}
            elif kind == "SetCurrentProgramScene":
                self.scene = data["sceneName"]
            elif kind == "GetInputList":
                wanted = data.get("inputKind")
                response = {
                    "inputs": [{"inputName": n, "inputKind": k} for n, k in self.inputs if k == wanted]
                }
            elif kind == "GetVersion":
                response = {"obsVersion": "31.0.0", "obsWebSocketVersion": "5.5.2", "rpcVersion": 1}
            elif kind != "PressInputPropertiesButton":
                ok = False
            status = {"result": ok, "code": 100 if ok else 600}
            if not ok:
                status["comment"] = f"{kind} refused by the fake"
            answer = {"requestType": kind, "requestId": d["requestId"], "requestStatus": status}
            if response:
                answer["responseData"] = response
            await ws.send(json.dumps({"op": 7, "d": answer}))

    async def _main(self):
        async with serve(self._handler, "127.0.0.1", self.port, subprotocols=["obswebsocket.json"]):
            self._ready.set()
            await self._stop.wait()

    def start(self) -> FakeObs:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(
            target=lambda: self._loop.run_until_complete(self._main()), daemon=True
        )
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
