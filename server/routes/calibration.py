"""Value calibration: the value head's predictions in showcase games against how those games ended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server import store as st
from server.routes import services

router = APIRouter(prefix="/api", tags=["learning"])


@router.get("/calibration")
async def calibration(
    s: Annotated[object, Depends(services)],
    bins: Annotated[int, Query(ge=2, le=50)] = 10,
    run: Annotated[str | None, Query(max_length=100)] = None,
    games: Annotated[int, Query(ge=1, le=10000)] = 200,
) -> dict:
    """Predicted Black win chance (from each recorded move's value) binned against the actual Black
    score of the newest `games` finished showcase games: draws score 0.5, truncated games are skipped.
    A bin without positions has `predicted` and `actual` null."""
    return await s.store.read(lambda c: st.calibration(c, bins=bins, run_id=run, games=games))
