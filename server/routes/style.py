"""GET /api/style: how often the AI builds each castle and which rook placement it chooses, by
training stage, from the archive's finished showcase games of a run (the current one by default).
The rules are in server/style.py and showcase_core/shogi/castles.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from server.routes import services
from server.style import style_by_stage

router = APIRouter(prefix="/api/style", tags=["style"])


@router.get("")
async def style(
    s: Annotated[object, Depends(services)],
    run: Annotated[str | None, Query(max_length=100)] = None,
    stages: Annotated[int, Query(ge=1, le=8)] = 4,
) -> dict:
    run_id = run or s.live.run_id
    return await s.store.read(lambda c: style_by_stage(c, run_id, stages=stages))
