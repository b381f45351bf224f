"""GAE step by step: the newest traced self-play training games (the trainer's `gae_trace`), each with
per ply the reward, value, TD error, advantage and value target its PPO update saw. Kept in memory
(the newest five); the trainer also writes each to `gae/` in its run directory."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from server.routes import services

router = APIRouter(prefix="/api/gae", tags=["gae"])

SUMMARY = ("trace_id", "plies", "result", "reason", "first_update", "last_update", "gamma", "gae_lambda")


@router.get("")
async def traces(s: Annotated[object, Depends(services)]) -> dict:
    """The traced games this server has, newest first, without their rows."""
    return {"traces": [{k: t[k] for k in SUMMARY} for t in reversed(s.live.gae_traces)]}


@router.get("/{trace_id}")
async def trace(trace_id: str, s: Annotated[object, Depends(services)]) -> dict:
    found = next((t for t in s.live.gae_traces if t["trace_id"] == trace_id), None)
    if found is None:
        raise HTTPException(404, f"no traced game {trace_id!r} (GET /api/gae lists the newest five)")
    return found
