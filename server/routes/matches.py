"""Showcase matches: the AI against one of its own earlier checkpoints or an engine rung.

- GET /api/matches: the head-to-head record of a run's matches (the current run by default), by
  opponent, from the archive; and the opponents the trainer offers now (its latest status).
- POST /api/matches (admin): the next showcase game is a match against `opponent`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from server import store as st
from server.routes import services
from server.routes.control import forward, require_admin
from showcase_core.protocol import OPPONENT_ID, Control, Plan

router = APIRouter(prefix="/api/matches", tags=["matches"])


@router.get("")
async def matches(
    s: Annotated[object, Depends(services)], run: Annotated[str | None, Query(max_length=100)] = None
) -> dict:
    run_id = run or s.live.run_id
    record = await s.store.read(lambda c: st.match_record(c, run_id))
    offered = (s.live.status or {}).get("opponents", []) if s.live.trainer["connected"] else []
    return {"run_id": run_id, "record": record, "opponents": offered}


class MatchRequest(BaseModel):
    opponent: str = Field(pattern=OPPONENT_ID, description="past:<checkpoint> or rung:<name>")


@router.post("", status_code=202)
async def request_match(body: MatchRequest, s: Annotated[object, Depends(require_admin)]) -> dict:
    offered = {o["id"]: o for o in (s.live.status or {}).get("opponents", [])}
    if body.opponent not in offered:
        known = ", ".join(sorted(offered)) or "none yet (the trainer lists them in its status)"
        raise HTTPException(
            422, f"{body.opponent!r} is not an opponent the trainer offers; it offers {known}"
        )
    label = f"match against {offered[body.opponent]['name']}"[:120]
    return await forward(s, Control(action="plan", plan=Plan(label=label, opponent=body.opponent)))
