"""GET /healthz: is the server well, is a trainer connected, did anything crash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from server.routes import services

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(s: Annotated[object, Depends(services)]) -> dict:
    store_error = s.store.error
    errors = list(s.errors) + ([f"store: {store_error!r}"] if store_error else [])
    return {
        "ok": not errors,
        "trainer": s.live.trainer_status(),
        "viewers": s.hub.subscribers,
        "store_batches": s.store.batches,
        "errors": errors,
    }
