"""Learning history: metric series, milestones, runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server import store as st
from server.routes import services

router = APIRouter(prefix="/api", tags=["learning"])


@router.get("/metrics")
async def metrics(
    s: Annotated[object, Depends(services)],
    key: Annotated[str, Query(min_length=1, max_length=100)],
    since: Annotated[int, Query(ge=0)] = 0,
    run: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=20000)] = 5000,
) -> dict:
    """(update, value) points of one metric key (docs/metrics.md); value null where there was none."""
    points = await s.store.read(lambda c: st.metric_history(c, key=key, since=since, run_id=run, limit=limit))
    return {"key": key, "points": points}


@router.get("/milestones")
async def milestones(
    s: Annotated[object, Depends(services)], run: Annotated[str | None, Query(max_length=100)] = None
) -> dict:
    return {"milestones": await s.store.read(lambda c: st.list_milestones(c, run_id=run))}


@router.get("/runs")
async def runs(s: Annotated[object, Depends(services)]) -> dict:
    return {"runs": await s.store.read(st.list_runs)}
