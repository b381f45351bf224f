"""Learning knobs (parameter challenges): what the trainer lets change while it runs, within its
config's bounds, and this run's changes. The streamer (admin token) changes one directly or reverts a
change; chat's challenges go through the poll engine (`POST /api/polls` with topic "knob") and the
streamer's approval. The trainer is the authority: it applies a change at its next update or refuses
it with the reason (a `knob_change` message, in `changes` here)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from server.routes import services
from server.routes.control import forward, require_admin
from showcase_core.protocol import CHANGE_ID, Control

router = APIRouter(prefix="/api/knobs", tags=["knobs"])


class SetKnob(BaseModel):
    knob: str = Field(max_length=40, description="a knob the trainer lists (GET /api/knobs)")
    value: float = Field(allow_inf_nan=False)


class Revert(BaseModel):
    change_id: str = Field(pattern=CHANGE_ID, description="an applied change of this run")


def _offered(s) -> list[dict]:
    return (s.live.status or {}).get("knobs", []) if s.live.trainer["connected"] else []


@router.get("")
async def knobs(s: Annotated[object, Depends(services)]) -> dict:
    """The knobs with their values and bounds (while a trainer is connected), and this run's
    changes, applied and refused, oldest first."""
    return {
        "connected": s.live.trainer["connected"],
        "knobs": _offered(s),
        "changes": list(s.live.knob_changes),
    }


@router.post("", status_code=202)
async def set_knob(body: SetKnob, s: Annotated[object, Depends(require_admin)]) -> dict:
    """Change a knob from the trainer's next update on (202: sent; the trainer has the last word)."""
    spec = next((k for k in _offered(s) if k["name"] == body.knob), None)
    if spec is None:
        names = ", ".join(k["name"] for k in _offered(s)) or "none (is a trainer connected?)"
        raise HTTPException(422, f"no knob {body.knob!r}: the trainer offers {names}")
    if not spec["low"] <= body.value <= spec["high"]:
        raise HTTPException(
            422,
            f"{spec['label']} {body.value:g} is outside the run's bounds [{spec['low']:g}, {spec['high']:g}]",
        )
    change_id = uuid.uuid4().hex[:12]
    await forward(
        s,
        Control(action="knob", knob=body.knob, value=body.value, change_id=change_id, source="control room"),
    )
    return {"change_id": change_id, "knob": body.knob, "value": body.value}


@router.post("/revert", status_code=202)
async def revert(body: Revert, s: Annotated[object, Depends(require_admin)]) -> dict:
    """Set a knob back to the value an applied change replaced."""
    applied = [c for c in s.live.knob_changes if c["status"] == "applied"]
    target = next((c for c in applied if c["change_id"] == body.change_id), None)
    if target is None:
        raise HTTPException(404, f"no applied change {body.change_id!r} in this run")
    change_id = uuid.uuid4().hex[:12]
    await forward(
        s, Control(action="knob", revert_of=body.change_id, change_id=change_id, source="control room")
    )
    return {"change_id": change_id, "reverts": body.change_id, "knob": target["knob"], "value": target["old"]}
