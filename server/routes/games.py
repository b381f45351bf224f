"""Games and their replays: list with a cursor, one game with its moves, exports."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse

from server import store as st
from server.routes import services
from server.routes.control import require_admin
from showcase_core.shogi.game import Game, IllegalMoveError, SfenError
from showcase_core.shogi.records import to_csa, to_kif

router = APIRouter(prefix="/api/games", tags=["games"])


def _encode_cursor(row: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["started_at"], row["id"]]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        started_at, game_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(started_at), str(game_id)
    except (ValueError, TypeError) as exc:
        raise HTTPException(422, f"cursor {cursor!r} is not one this API issued") from exc


@router.get("")
async def list_games(
    s: Annotated[object, Depends(services)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    kind: Literal["showcase", "evaluation", "selfplay"] | None = None,
    result: Literal["black", "white", "draw", "truncated", "interrupted"] | None = None,
    run: Annotated[str | None, Query(max_length=100)] = None,
) -> dict:
    """Newest first. Pass the returned `next_cursor` to get the following page; null means the end."""
    before = _decode_cursor(cursor) if cursor else None
    rows = await s.store.read(
        lambda c: st.list_games(c, limit=limit + 1, before=before, kind=kind, result=result, run_id=run)
    )
    page, more = rows[:limit], len(rows) > limit
    return {"games": page, "next_cursor": _encode_cursor(page[-1]) if more else None}


async def _game(s, game_id: str) -> dict:
    game = await s.store.read(lambda c: st.get_game(c, game_id=game_id))
    if game is None:
        raise HTTPException(404, f"no game with id {game_id!r}")
    return game


@router.get("/{game_id}")
async def get_game(game_id: str, s: Annotated[object, Depends(services)]) -> dict:
    """One game with every move, the insight recorded for it and the engine's analysis where made."""
    return await _game(s, game_id)


@router.post("/{game_id}/analyse")
async def analyse_game(game_id: str, s: Annotated[object, Depends(require_admin)]) -> dict:
    """Admin token: queue an archived game's unanalysed moves behind the live game."""
    game = await _game(s, game_id)
    try:
        queued = s.analyst.submit_game(game)
    except RuntimeError as exc:
        raise HTTPException(503, str(exc)) from exc
    except OverflowError as exc:
        raise HTTPException(429, str(exc)) from exc
    return {"game_id": game_id, "queued": queued, "engine": s.analyst.state.model_dump()}


@router.get("/{game_id}/export")
async def export_game(
    game_id: str,
    s: Annotated[object, Depends(services)],
    format: Literal["kif", "csa", "usi", "json"] = "kif",
):
    game = await _game(s, game_id)
    filename = f"shogi-showcase-{game_id}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if format == "json":
        return PlainTextResponse(
            json.dumps(game, ensure_ascii=False), media_type="application/json", headers=headers
        )
    try:
        replay = Game(game["start_sfen"], max_plies=max(game["plies"], 1))
        for move in game["moves"]:
            replay.push_usi(move["usi"])
    except (
        SfenError,
        IllegalMoveError,
    ) as exc:  # a stored game that does not replay is our bug, said plainly
        raise HTTPException(409, f"game {game_id} does not replay: {exc}") from exc
    if format == "usi":
        text = f"position sfen {game['start_sfen']} moves {' '.join(replay.usi_moves)}\n"
    elif format == "csa":
        text = to_csa(replay, black=game["black"], white=game["white"])
    else:
        text = game["kif"] if game.get("kif") else to_kif(replay, black=game["black"], white=game["white"])
    return PlainTextResponse(text, media_type="text/plain; charset=utf-8", headers=headers)
