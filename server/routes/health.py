"""GET /healthz: is the server well, is a trainer connected, did anything crash."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends

from server.routes import services

router = APIRouter(tags=["health"])
RECENT_S = 300  # errors older than this no longer make the server unhealthy (they stay in the log)


@router.get("/healthz")
async def healthz(s: Annotated[object, Depends(services)]) -> dict:
    store_error = s.store.error
    recent = [{"at": at, "what": what} for at, what in s.errors if at > time.time() - RECENT_S]
    return {
        "ok": store_error is None and not recent,
        "trainer": s.live.trainer_status(),
        "viewers": s.hub.subscribers,
        "store_batches": s.store.batches,
        "trainer_repeats_skipped": s.repeats_skipped,
        "store_error": repr(store_error) if store_error else None,
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
        },
    }
