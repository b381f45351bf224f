"""Streamer controls (admin token): pause, resume, step and speed of the showcase game, forwarded to
the trainer as `control` messages."""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException
from pydantic import BaseModel, Field

from server.routes import services
from showcase_core.protocol import Control

router = APIRouter(prefix="/api/control", tags=["control"])


def require_admin(
    s: Annotated[object, Depends(services)], authorization: Annotated[str | None, Header()] = None
) -> object:
    presented = authorization[7:] if authorization and authorization.lower().startswith("bearer ") else ""
    if not presented or not hmac.compare_digest(presented.encode(), s.admin_token.encode()):
        raise HTTPException(401, "admin token required: send 'Authorization: Bearer <token>'")
    return s


async def forward(s, control: Control) -> dict:
    if not await s.send_control(control):
        raise HTTPException(503, "no trainer is connected")
    return {"sent": control.model_dump()}


@router.post("/{action}")
async def simple(
    action: Literal["pause", "resume", "step"], s: Annotated[object, Depends(require_admin)]
) -> dict:
    return await forward(s, Control(action=action))


class Speed(BaseModel):
    seconds: float = Field(gt=0, le=600, description="seconds per showcase move")


@router.put("/speed")
async def speed(body: Speed, s: Annotated[object, Depends(require_admin)]) -> dict:
    return await forward(s, Control(action="speed", seconds=body.seconds))
