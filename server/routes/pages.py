"""The pages (OBS browser sources) and their static files; vendor libraries come from npm at set-up."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
VENDOR = {  # URL prefix -> folder installed by `npm ci`
    "/vendor/shogiground": ROOT / "node_modules" / "shogiground" / "esm",
    "/vendor/uplot": ROOT / "node_modules" / "uplot" / "dist",
}

router = APIRouter(tags=["pages"])


@router.get("/overlay/board", include_in_schema=False)
async def board_page() -> FileResponse:
    return FileResponse(STATIC / "pages" / "board.html")
