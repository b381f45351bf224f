"""The pages (OBS browser sources) and their static files; vendor libraries come from npm at set-up."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
VENDOR = {  # URL prefix -> folder installed by `npm ci`
    "/vendor/shogiground": ROOT / "node_modules" / "shogiground" / "esm",
    "/vendor/uplot": ROOT / "node_modules" / "uplot" / "dist",
}

router = APIRouter(tags=["pages"])


# One page each (pages/widget.js).
WIDGETS = (
    "board",
    "moves",
    "health",
    "progress",
    "poll",
    "leaderboard",
    "status",
    "legend",
    "training",
    "scorecard",
)


@router.get("/", include_in_schema=False)
async def control_room() -> FileResponse:
    """The streamer's control room: every widget, the showcase and poll controls, local chat."""
    return FileResponse(STATIC / "pages" / "control.html")


@router.get("/overlay", include_in_schema=False)
async def composite_page() -> FileResponse:
    """The 1920x1080 composite for one OBS browser source."""
    return FileResponse(STATIC / "pages" / "overlay.html")


@router.get("/overlay/{widget}", include_in_schema=False)
async def widget_page(widget: str) -> FileResponse:
    """One widget on its own page, for an OBS source of its own."""
    if widget not in WIDGETS:
        raise HTTPException(404, f"no overlay {widget!r}; there are {sorted(WIDGETS)}")
    return FileResponse(STATIC / "pages" / "widget.html")


@router.get("/about", include_in_schema=False)
async def about_page() -> FileResponse:
    """What every widget shows, for a viewer, a Shogi player and an RL engineer."""
    return FileResponse(STATIC / "pages" / "about.html")


@router.get("/replays", include_in_schema=False)
async def replays_page() -> FileResponse:
    """The archive: every recorded game, filtered and paged; each links to its replay."""
    return FileResponse(STATIC / "pages" / "replays.html")


@router.get("/replays/{game_id}", include_in_schema=False)
async def replay_page(game_id: str) -> FileResponse:
    """One game's replay. The page fetches `/api/games/{game_id}` itself and says so when there is none."""
    return FileResponse(STATIC / "pages" / "replay.html")
