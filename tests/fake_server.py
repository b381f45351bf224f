"""A loopback websocket server standing in for the showcase server's trainer endpoint in tests."""

import asyncio
import queue
import socket
import threading
import time

from websockets.asyncio.server import serve

from showcase_core.protocol import dumps, parse


class UvicornThread:
    """A real uvicorn serving `app` on loopback `port` in a thread: `start()` returns once it listens,
    `stop()` shuts it down. `server` is the uvicorn.Server (its config holds the app)."""

    def __init__(self, app, port: int):
        import uvicorn

        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """A loopback websocket server that records what the trainer sends (parsed as protocol)."""

    def __init__(self, port: int):
        self.port = port
        self.received: queue.Queue = queue.Queue()
        self.auth: list[str | None] = []
        self.raw: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._clients: set = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _handler(self, ws):
        self.auth.append(ws.request.headers.get("Authorization"))
        self._clients.add(ws)
        try:
            async for text in ws:
                self.raw.append(text)
                envelope, payload = parse(text)
                self.received.put((envelope, payload))
        finally:
            self._clients.discard(ws)

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", self.port):
            self._ready.set()
            await self._stop.wait()

    def start(self) -> "FakeServer":
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def send(self, message: dict) -> None:
        async def go():
            for ws in list(self._clients):
                await ws.send(dumps(message))

        asyncio.run_coroutine_threadsafe(go(), self._loop).result(5)

    def take(self, timeout: float = 10.0):
        return self.received.get(timeout=timeout)
