"""GET /api/ladder: the calibrated engine ladder the trainer's evaluations are fitted against."""

from __future__ import annotations

from fastapi import APIRouter

from showcase_core.engines.ladder import load_table

router = APIRouter(prefix="/api", tags=["ladder"])


@router.get("/ladder")
async def ladder() -> dict:
    """Each rung's Elo (random mover = 0) with its error and games, the method, and the analysis
    engine's fitted winning-chance model; `rungs` is empty when no table is shipped."""
    table = load_table()
    return {
        "anchor": table.get("anchor"),
        "method": table.get("method"),
        "rungs": [{k: r[k] for k in ("name", "elo", "error", "games")} for r in table.get("rungs", [])],
        "win_model": table.get("win_model"),
    }
