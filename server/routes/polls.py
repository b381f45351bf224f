"""Polls and the predictors' leaderboard: history for everyone, opening and closing for the streamer
(admin token). A poll's AI answer appears here only after its reveal."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from server import store as st
from server.polls import PollError
from server.routes import services
from server.routes.control import require_admin

router = APIRouter(tags=["polls"])


class OpenPoll(BaseModel):
    kind: Literal["predict", "strategy"]
    topic: Literal["opening", "temperature", "opponent", "knob"] | None = Field(
        None, description="strategy polls: what chat chooses for the next game; 'knob': a parameter challenge"
    )
    knob: str | None = Field(None, max_length=40, description="a challenge's knob (GET /api/knobs)")
    window_s: float | None = Field(None, gt=0, le=1800, description="voting time (default from settings)")


async def _engine_call(call):
    try:
        return await call
    except PollError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.get("/api/polls")
async def list_polls(
    s: Annotated[object, Depends(services)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        float | None, Query(description="opened_at of the last poll of the previous page")
    ] = None,
) -> dict:
    """Newest first, each with its vote counts, and the AI's answer once revealed."""
    polls = await s.store.read(lambda c: st.list_polls(c, limit=limit, before=before))
    return {"polls": polls, "current": s.polls.describe()}


@router.get("/api/polls/current")
async def current_poll(s: Annotated[object, Depends(services)]) -> dict:
    return s.polls.describe()


@router.get("/api/polls/{poll_id}")
async def get_poll(poll_id: str, s: Annotated[object, Depends(services)]) -> dict:
    poll = await s.store.read(lambda c: st.get_poll(c, poll_id=poll_id))
    if poll is None:
        raise HTTPException(404, f"no poll with id {poll_id!r}")
    return poll


@router.post("/api/polls", status_code=201)
async def open_poll(body: OpenPoll, s: Annotated[object, Depends(require_admin)]) -> dict:
    """Open a prediction round (the showcase holds its next move) or a strategy poll."""
    if body.kind == "predict":
        return await _engine_call(s.polls.open_predict(body.window_s))
    if body.topic is None:
        raise HTTPException(
            422, "a strategy poll needs a topic: 'opening', 'temperature', 'opponent' or 'knob'"
        )
    if body.topic == "knob":
        if body.knob is None:
            raise HTTPException(422, "a parameter challenge needs a knob (GET /api/knobs lists them)")
        return await _engine_call(s.polls.open_challenge(body.knob, body.window_s))
    return await _engine_call(s.polls.open_strategy(body.topic, body.window_s))


@router.post("/api/polls/current/approve")
async def approve_challenge(s: Annotated[object, Depends(require_admin)]) -> dict:
    """Accept chat's choice in a parameter challenge: sent to the trainer for its next update."""
    return await _engine_call(s.polls.approve())


@router.post("/api/polls/current/reject")
async def reject_challenge(s: Annotated[object, Depends(require_admin)]) -> dict:
    """Turn chat's choice down: nothing changes."""
    return await _engine_call(s.polls.reject())


@router.post("/api/polls/current/close")
async def close_poll(s: Annotated[object, Depends(require_admin)]) -> dict:
    """End voting now: reveal (predict) or apply the winner (strategy)."""
    return await _engine_call(s.polls.close_now())


@router.post("/api/polls/current/cancel")
async def cancel_poll(s: Annotated[object, Depends(require_admin)]) -> dict:
    """Cancel the running poll: no points, and a held showcase move is played as it was chosen."""
    return await _engine_call(s.polls.cancel("cancelled by the streamer"))


@router.get("/api/leaderboard", tags=["polls"])
async def leaderboard(
    s: Annotated[object, Depends(services)], limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> dict:
    rows = await s.store.read(lambda c: st.leaderboard(c, limit=limit))
    return {"entries": [{k: v for k, v in r.items() if k != "user_id"} for r in rows]}
