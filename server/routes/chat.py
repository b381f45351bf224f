"""The local chat source over REST (admin token): rehearse the show or run it without Twitch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from server.routes.control import require_admin

router = APIRouter(prefix="/api/chat", tags=["chat"])


class ChatLine(BaseModel):
    user: str = Field(min_length=1, max_length=25, description="shown as the sender (marked as local)")
    text: str = Field(min_length=1, max_length=500)


@router.post("")
async def post_chat(body: ChatLine, s: Annotated[object, Depends(require_admin)]) -> dict:
    """Deliver one line as local chat; the answer is what a Twitch user would have been told."""
    return {"reply": await s.local_chat.post(body.user, body.text)}
