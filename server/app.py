"""The FastAPI application: `create_app(settings)` and the one lifespan that owns start-up and shut-down.

Background work (the trainer link, viewers) runs in endpoint tasks, chat sources in tasks the lifespan
owns; a crashed background task is logged and listed in `/healthz`, never silent.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from server import store as st
from server.analysis import Analyst
from server.bus import BusMirror, BusPrimary, NoSnapshot
from server.chat.irc import TwitchChat
from server.chat.local import LocalChat
from server.config import Settings, load_admin_token
from server.hub import Hub, Subscription
from server.live import LiveState
from server.obs import ObsLink
from server.polls import PollEngine
from server.retention import Pass, Policy, run_pass
from server.routes import (
    calibration,
    chat,
    control,
    gae,
    games,
    health,
    knobs,
    ladder,
    matches,
    metrics,
    pages,
    polls,
    style,
    timelapse,
    trainer,
    viewers,
)
from server.store import Store
from showcase_core.protocol import Control, dumps, make, now_ms
from showcase_core.sysstats import ProcessStats

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
        self.repeats_skipped = 0  # replayed showcase game_start / moves a reconnecting trainer sent again
        self.polls = PollEngine(
            settings=settings, store=self.store, hub=self.hub, live=self.live, send_control=self.send_control
        )
        self.local_chat = LocalChat()
        self.http = None  # an httpx client, for the EventSub path only
        self.twitch = None
        if settings.twitch_channel and settings.twitch_chat == "eventsub":
            import httpx

            from server.chat.eventsub import EventSubChat, TwitchAuth

            if not settings.twitch_client_id:
                raise ValueError(
                    "SHOWCASE_TWITCH_CHAT=eventsub needs SHOWCASE_TWITCH_CLIENT_ID (a public client)"
                )
            self.http = httpx.AsyncClient(timeout=15)
            auth = TwitchAuth(
                settings.twitch_client_id,
                settings.twitch_token_path,
                id_url=settings.twitch_id_url,
                http=self.http,
            )
            self.twitch = EventSubChat(
                settings.twitch_channel, auth, api_url=settings.twitch_api_url,
                eventsub_url=settings.twitch_eventsub_url, http=self.http,
            )  # fmt: skip
        elif settings.twitch_channel:
            self.twitch = TwitchChat(
                settings.twitch_channel,
                url=settings.twitch_url,
                nick=settings.twitch_nick,
                oauth_token=settings.twitch_oauth_token,
            )
        self.polls.sources = [s for s in (self.local_chat, self.twitch) if s is not None]
        self.analyst = Analyst(
            settings, hub=self.hub, store=self.store, live=self.live, report_error=self.report_error
        )
        self.polls.analyst = self.analyst
        self.tasks: list[asyncio.Task] = []
        self.retention = Policy(
            keep_sampled_days=settings.keep_sampled_days,
            keep_days=settings.keep_days,
            max_bytes=int(settings.max_archive_mb * 1024 * 1024),
        )
        self.last_retention: Pass | None = None
        self.load = ProcessStats(min_interval_s=0.0)  # sampled on its own timer (load_every_s)
        self.obs = ObsLink(settings, self.hub) if settings.obs_url else None
        self.server_load: dict | None = None
        self.bus = (
            BusPrimary(settings.redis_url, settings.redis_prefix, self.hub, self.snapshot)
            if settings.redis_url
            else None
        )

    def snapshot(self) -> dict:
        """What a new viewer gets first (never the held move); also inlined into the live pages."""
        parts = self.polls.snapshot_parts()
        return self.live.snapshot(**parts, engine=self.analyst.state.model_dump(), server=self.server_load)

    async def page_snapshot(self) -> dict | None:
        return self.snapshot()

    @asynccontextmanager
    async def viewer_feed(self) -> AsyncIterator[Subscription]:
        """A viewer's stream: the snapshot, then every message after it."""
        async with self.hub.subscribe([("snapshot", self.snapshot(), now_ms())]) as sub:
            yield sub

    def resync(self, sub: Subscription) -> None:
        sub.restart([("snapshot", self.snapshot(), now_ms())])

    def viewers(self) -> int:
        """Pages and clients reading the stream (the OBS link subscribes too, but is not a viewer)."""
        return self.hub.subscribers - (1 if self.obs is not None and self.obs.subscribed else 0)

    async def report_load(self) -> None:
        """The server's CPU, memory and viewers every `load_every_s`, for the status strip."""
        while True:
            self.server_load = {**self.load.sample(), "viewers": self.viewers()}
            self.hub.publish("server_load", self.server_load, now_ms())
            await asyncio.sleep(self.settings.load_every_s)

    async def retain(self) -> None:
        """Apply the retention policy now, then every `retention_every_s`."""
        while True:
            try:
                self.last_retention = await run_pass(self.store, self.retention)
                if self.last_retention.deleted:
                    log.info("archive retention: deleted %s", self.last_retention.deleted)
                if self.last_retention.over_limit:
                    self.report_error("archive over max_archive_mb with nothing left that may be deleted")
            except Exception as exc:  # the stream goes on; /healthz says what failed
                log.exception("archive retention failed")
                self.report_error(f"retention: {exc!r}")
            await asyncio.sleep(self.settings.retention_every_s)

    async def send_control(self, control: Control) -> bool:
        """Send one `control` to the trainer; False when none is connected or the send failed."""
        link = self.trainer_link
        if link is None:
            return False
        self.control_seq += 1
        try:
            await link.send_text(dumps(make("control", control, seq=self.control_seq - 1)))
        except Exception as exc:  # a link dying under us is the trainer route's to notice
            log.warning("control %s not delivered: %r", control.action, exc)
            return False
        return True

    def start_background(self) -> None:
        """Chat sources and the analysis worker, each a task this app owns."""
        if self.analyst.state.available:
            task = asyncio.create_task(self.analyst.run(), name="analysis")
            task.add_done_callback(self._task_done)
            self.tasks.append(task)
        else:
            log.warning("live engine analysis: %s", self.analyst.state.message)
        background = [(self.retain, "retention"), (self.report_load, "load")]
        if self.bus is not None:
            background.append((self.bus.run, "bus"))
        if self.obs is not None:
            background.append((self.obs.run, "obs"))
        for work, name in background:
            task = asyncio.create_task(work(), name=name)
            task.add_done_callback(self._task_done)
            self.tasks.append(task)
        for source in self.polls.sources:
            task = asyncio.create_task(source.run(self.polls.on_chat), name=f"chat:{source.name}")
            task.add_done_callback(self._task_done)
            self.tasks.append(task)

    def _task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s stopped: %r", task.get_name(), task.exception())
            self.report_error(f"{task.get_name()} stopped: {task.exception()!r}")

    def report_error(self, what: str) -> None:
        """Record background work that failed: logged by the caller, listed by /healthz."""
        self.errors.append((time.time(), what))


class ViewerServices:
    """A viewer worker (`role = "viewer"`): relays the primary's stream from Redis to its own viewers
    and serves the pages and the archive's read routes. It never writes the archive and holds no
    trainer link, poll or chat: those are the primary's, and `VIEWER_ROUTES` says what is served here."""

    def __init__(self, settings: Settings):
        if not settings.redis_url:
            raise ValueError("a viewer worker needs SHOWCASE_REDIS_URL (the primary's Redis)")
        self.settings = settings
        self.store = Store(settings.db_path)  # reads only, each on its own connection
        self.hub = Hub(maxsize=settings.viewer_queue)
        name = settings.worker_name or f"viewer-{settings.port}"
        self.mirror = BusMirror(settings.redis_url, settings.redis_prefix, self.hub, worker=name)
        self.live = self.mirror.live
        self.errors: deque[tuple[float, str]] = deque(maxlen=50)
        self.tasks: list[asyncio.Task] = []
        self.load = ProcessStats(min_interval_s=0.0)

    async def page_snapshot(self) -> dict | None:
        try:
            return await self.mirror.snapshot()
        except NoSnapshot:
            return None  # the page opens its socket and draws from the first snapshot that comes

    def viewer_feed(self):
        return self.mirror.subscribe()

    def resync(self, sub: Subscription) -> None:
        self.mirror.resync(sub)

    def viewers(self) -> int:
        return self.hub.subscribers

    def start_background(self) -> None:
        task = asyncio.create_task(self.mirror.run(), name="bus")
        task.add_done_callback(self._task_done)
        self.tasks.append(task)

    def _task_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s stopped: %r", task.get_name(), task.exception())
            self.errors.append((time.time(), f"{task.get_name()} stopped: {task.exception()!r}"))


# What a viewer worker serves (GET and HEAD only); everything else belongs to the primary.
VIEWER_ROUTES = (
    "/ws",
    "/healthz",
    "/static/",
    "/vendor/",
    "/overlay",
    "/about",
    "/timelapse",
    "/replays",
    "/api/games",
    "/api/metrics",
    "/api/milestones",
    "/api/runs",
    "/api/ladder",
    "/api/calibration",
    "/api/style",
    "/api/timelapse",
    "/api/matches",
)


def viewer_serves(method: str, path: str) -> bool:
    if method not in ("GET", "HEAD"):  # every write (POST /api/games/{id}/analyse too) is the primary's
        return False
    return any(path == r or path.startswith(r if r.endswith("/") else r + "/") for r in VIEWER_ROUTES)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.role == "viewer":
        return _viewer_app(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = Services(settings)
        services.store.open()
        closed = await services.store.write(
            lambda c: st.close_interrupted(c, reason="the server restarted mid-game")
        )
        if closed:
            log.info("closed %d game(s) left open by the last run as interrupted", len(closed))
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
        await services.polls.start()
        services.start_background()
        gc.freeze()  # start-up objects live for the whole run: keep the collector off them
        try:
            yield
        finally:
            services.polls.stop()
            for task in services.tasks:
                task.cancel()
            await asyncio.gather(*services.tasks, return_exceptions=True)
            await asyncio.to_thread(services.analyst.close)
            if services.http is not None:
                await services.http.aclose()
            services.store.close()

    app = FastAPI(title="Shogi Showcase", version="0.1.0", lifespan=lifespan)
    _limit_body(app, settings)
    for module in (
        health,
        games,
        metrics,
        calibration,
        ladder,
        matches,
        polls,
        knobs,
        gae,
        style,
        timelapse,
        chat,
        control,
        trainer,
        viewers,
        pages,
    ):
        app.include_router(module.router)
    _mount_files(app)
    return app


def _limit_body(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_request_bytes):
            return JSONResponse({"detail": f"request body over {settings.max_request_bytes} bytes"}, 413)
        return await call_next(request)


def _mount_files(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    for prefix, folder in pages.VENDOR.items():
        if folder.is_dir():
            app.mount(prefix, StaticFiles(directory=folder), name=prefix.strip("/"))
        else:
            log.warning("%s is missing (run `npm ci`): pages that need it cannot load", folder)


def _viewer_app(settings: Settings) -> FastAPI:
    """A viewer worker: the same routes, limited to `VIEWER_ROUTES`; the rest is refused with 421 and
    the primary's address."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = ViewerServices(settings)
        app.state.services = services
        services.start_background()
        gc.freeze()
        try:
            yield
        finally:
            for task in services.tasks:
                task.cancel()
            await asyncio.gather(*services.tasks, return_exceptions=True)

    app = FastAPI(title="Shogi Showcase (viewer worker)", version="0.1.0", lifespan=lifespan)
    where = settings.primary_url or "the primary worker"

    @app.middleware("http")
    async def only_viewer_routes(request: Request, call_next):
        if not viewer_serves(request.method, request.url.path):
            detail = (
                f"this is a viewer worker: it serves the viewer feed, the pages and the archive's read"
                f" routes; send {request.method} {request.url.path} to {where}"
            )
            return JSONResponse({"detail": detail, "primary": settings.primary_url}, 421)
        return await call_next(request)

    @app.websocket("/ws/trainer")
    async def no_trainer_here(ws: WebSocket) -> None:
        await ws.accept()  # so the refusal carries a reason
        await ws.close(code=1008, reason=f"a viewer worker: connect the trainer to {where}"[:120])

    _limit_body(app, settings)
    for module in (health, games, metrics, calibration, ladder, matches, style, timelapse, viewers, pages):
        app.include_router(module.router)
    _mount_files(app)
    return app
