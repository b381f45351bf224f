"""The FastAPI application: `create_app(settings)` and the one lifespan that owns start-up and shut-down.

Background work (the trainer link, viewers) runs in endpoint tasks; a crashed background task is
logged and listed in `/healthz`, never silent.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import deque
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from server.config import Settings, load_admin_token
from server.hub import Hub
from server.live import LiveState
from server.routes import control, games, health, metrics, pages, trainer, viewers
from server.store import Store

log = logging.getLogger("server")


class Services:
    """Everything the routes share, made once per app in the lifespan."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.db_path)
        self.hub = Hub(maxsize=settings.viewer_queue)
        self.live = LiveState(
            max_moves=settings.snapshot_moves, metric_points=settings.snapshot_metric_points
        )
        self.admin_token, self.admin_token_created = load_admin_token(settings)
        self.trainer_link = None  # the connected trainer's websocket, for forwarding control
        self.control_seq = 0  # sequence numbers of server -> trainer messages on that link
        self.errors: deque[tuple[float, str]] = deque(maxlen=50)  # (time, what failed), for /healthz

    def report_error(self, what: str) -> None:
        """Record background work that failed: logged by the caller, listed by /healthz."""
        self.errors.append((time.time(), what))


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = Services(settings)
        services.store.open()
        app.state.services = services
        if services.admin_token_created:
            log.warning(
                "admin token (shown once, stored in %s): %s  control room: http://%s:%d/?token=%s",
                settings.admin_token_path,
                services.admin_token,
                settings.host,
                settings.port,
                services.admin_token,
            )
        gc.freeze()  # start-up objects live for the whole run: keep the collector off them
        try:
            yield
        finally:
            services.store.close()

    app = FastAPI(title="Shogi Showcase", version="0.1.0", lifespan=lifespan)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_request_bytes):
            return JSONResponse({"detail": f"request body over {settings.max_request_bytes} bytes"}, 413)
        return await call_next(request)

    for module in (health, games, metrics, control, trainer, viewers, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    for prefix, folder in pages.VENDOR.items():
        if folder.is_dir():
            app.mount(prefix, StaticFiles(directory=folder), name=prefix.strip("/"))
        else:
            log.warning("%s is missing (run `npm ci`): pages that need it cannot load", folder)
    return app
