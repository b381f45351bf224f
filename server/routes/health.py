"""GET /healthz: is the server well, is a trainer connected, did anything crash."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends

from server import retention
from server.routes import services

router = APIRouter(tags=["health"])
RECENT_S = 300  # errors older than this no longer make the server unhealthy (they stay in the log)


@router.get("/healthz")
async def healthz(s: Annotated[object, Depends(services)]) -> dict:
    if s.settings.role == "viewer":
        return _viewer_health(s)
    store_error = s.store.error
    recent = [{"at": at, "what": what} for at, what in s.errors if at > time.time() - RECENT_S]
    try:
        archive = await s.store.read(retention.size)
    except Exception as exc:  # an unreadable archive is reported, not a 500
        archive = {"error": repr(exc)}
    archive["retention"] = {
        "keep_sampled_days": s.retention.keep_sampled_days,
        "keep_days": s.retention.keep_days,
        "max_bytes": s.retention.max_bytes,
        "last_pass": s.last_retention.as_dict() if s.last_retention else None,
    }
    return {
        "ok": store_error is None and not recent,
        "trainer": s.live.trainer_status(),
        "viewers": s.viewers(),
        "store_batches": s.store.batches,
        "trainer_repeats_skipped": s.repeats_skipped,
        "store_error": repr(store_error) if store_error else None,
        "archive": archive,
        "errors": recent,
        "poll": s.polls.describe(),
        "engine": {**s.analyst.state.model_dump(), "process": s.analyst.engine.stats()},
        "chat": {
            "twitch": None
            if s.twitch is None
            else {
                "channel": s.twitch.channel,
                "state": s.twitch.state,
                "can_post": s.twitch.can_post,
                "last_notice": s.twitch.last_notice,
            },
            "local": True,
            "ignored": dict(s.polls.ignored),  # lines not counted, by why: nothing dropped unseen
        },
        "obs": s.obs.state() if s.obs is not None else {"configured": False, "how": "set SHOWCASE_OBS_URL"},
        "bus": s.bus.stats() if s.bus is not None else {"configured": False, "how": "set SHOWCASE_REDIS_URL"},
    }


def _viewer_health(s) -> dict:
    """A viewer worker: is it relaying the primary's stream, and how many viewers does it serve."""
    recent = [{"at": at, "what": what} for at, what in s.errors if at > time.time() - RECENT_S]
    bus = s.mirror.stats()
    return {
        "ok": bus["state"] == "connected" and not recent,
        "role": "viewer",
        "primary": s.settings.primary_url,
        "viewers": s.viewers(),
        "published": s.hub.published,
        "disconnected_slow": s.hub.disconnected_slow,
        "trainer": {"connected": s.live.trainer["connected"], "run_id": s.live.run_id},
        "bus": bus,
        "load": s.load.sample(),
        "errors": recent,
    }
