"""SE attention over time: the shipped positions (trainer/timelapse.py) as each checkpoint the
trainer saved saw them (its `attention_frame` messages, kept in the archive).

- GET /api/timelapse: the runs that have frames, newest first.
- GET /api/timelapse/{run_id}: that run's frames in update order (`current` for the live run).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path

from server import store as st
from server.routes import services

router = APIRouter(prefix="/api/timelapse", tags=["timelapse"])


@router.get("")
async def runs(s: Annotated[object, Depends(services)]) -> dict:
    return {"current": s.live.run_id, "runs": await s.store.read(st.attention_runs)}


@router.get("/{run_id}")
async def frames(
    run_id: Annotated[str, Path(max_length=100)], s: Annotated[object, Depends(services)]
) -> dict:
    wanted = s.live.run_id if run_id == "current" else run_id
    found = await s.store.read(lambda c: st.attention_frames(c, run_id=wanted)) if wanted else []
    if not found:
        raise HTTPException(
            404,
            f"no attention frames for run {wanted or run_id!r}: the trainer analyses the shipped"
            " positions with each checkpoint it saves (live.timelapse); GET /api/timelapse lists the"
            " runs that have them",
        )
    return {"run_id": wanted, "frames": found}
