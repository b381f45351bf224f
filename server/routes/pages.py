"""The pages (OBS browser sources), rendered by Jinja2 from `templates/` (one base layout, a template
per page); the widget list, the page's styles and the first snapshot are filled in server-side, so a
page's first paint is complete before its socket opens. Static files and vendor libraries (from npm
at set-up) are mounted by the app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server.routes import services

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
TEMPLATES = Jinja2Templates(directory=ROOT / "templates")
VENDOR = {  # URL prefix -> folder installed by `npm ci`
    "/vendor/shogiground": ROOT / "node_modules" / "shogiground" / "esm",
    "/vendor/uplot": ROOT / "node_modules" / "uplot" / "dist",
}

router = APIRouter(tags=["pages"])

_CSS = "/static/css/"
_UPLOT = "/vendor/uplot/uPlot.min.css"
# Styles every live page shares (the widgets' own, and the fonts some of them set for the page).
_WIDGET_CSS = [
    _UPLOT,
    *(f"{_CSS}{n}.css" for n in ("board", "moves", "health", "progress", "poll", "status")),
]

# One page each (/overlay/<name>): its title, the styles beyond the shared ones, and whether it reads
# the socket (the legend draws from the rules alone).
WIDGET_PAGES: dict[str, tuple[str, list[str], bool]] = {
    "board": ("board", [], True),
    "moves": ("moves and value", [], True),
    "health": ("PPO health", [], True),
    "progress": ("learning progress", [], True),
    "poll": ("poll", [], True),
    "leaderboard": ("leaderboard", [], True),
    "status": ("status strip", [], True),
    "legend": ("piece legend", [f"{_CSS}legend.css"], False),
    "training": ("training games", [f"{_CSS}training.css"], True),
    "scorecard": ("match scorecard", [f"{_CSS}scorecard.css"], True),
    "knobs": ("learning knobs", [f"{_CSS}knobs.css"], True),
    "network": ("the network, live", [f"{_CSS}network.css"], True),
    "style": ("style by training stage", [f"{_CSS}style.css"], True),
    "compare": ("policy versus value", [f"{_CSS}compare.css"], True),
    "buffer": ("buffer usage", [f"{_CSS}buffer.css"], True),
}
WIDGETS = tuple(WIDGET_PAGES)
LAYOUTS = ("classic", "board-left", "board-right", "compact")  # the composite's ?layout= presets


def _page(request: Request, template: str, script: str, styles: list[str], snapshot=None, **context):
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"script": script, "styles": styles, "snapshot": snapshot, **context},
    )


@router.get("/", include_in_schema=False, response_class=HTMLResponse)
async def control_room(request: Request, s: Annotated[object, Depends(services)]):
    """The streamer's control room: every widget, the showcase and poll controls, local chat."""
    styles = [*_WIDGET_CSS, f"{_CSS}scorecard.css", f"{_CSS}knobs.css", f"{_CSS}control.css"]
    return _page(request, "control.html", "control", styles, await s.page_snapshot())


@router.get("/overlay", include_in_schema=False, response_class=HTMLResponse)
async def composite_page(request: Request, s: Annotated[object, Depends(services)]):
    """The composite for one OBS browser source (1920x1080; `?layout=` for the presets)."""
    layout = request.query_params.get("layout")
    styles = [*_WIDGET_CSS, f"{_CSS}training.css", f"{_CSS}overlay.css"]
    return _page(
        request,
        "overlay.html",
        "overlay",
        styles,
        await s.page_snapshot(),
        layout=layout if layout in LAYOUTS else "classic",
    )


@router.get("/overlay/{widget}", include_in_schema=False, response_class=HTMLResponse)
async def widget_page(request: Request, widget: str, s: Annotated[object, Depends(services)]):
    """One widget on its own page, for an OBS source of its own."""
    if widget not in WIDGET_PAGES:
        raise HTTPException(404, f"no overlay {widget!r}; there are {sorted(WIDGETS)}")
    title, extra, live = WIDGET_PAGES[widget]
    snapshot = await s.page_snapshot() if live else None
    return _page(
        request, "widget.html", "widget", [*_WIDGET_CSS, *extra], snapshot, widget=widget, title=title
    )


@router.get("/about", include_in_schema=False, response_class=HTMLResponse)
async def about_page(request: Request):
    """What every widget shows, for a viewer, a Shogi player and an RL engineer."""
    return _page(request, "about.html", "about", [f"{_CSS}about.css"])


@router.get("/gae", include_in_schema=False, response_class=HTMLResponse)
async def gae_page(request: Request):
    """GAE step by step: a traced training game, per ply the numbers PPO's update saw (`/api/gae`)."""
    return _page(
        request,
        "gae.html",
        "gae",
        [_UPLOT, f"{_CSS}board.css", f"{_CSS}replay.css", f"{_CSS}gae.css"],
    )


@router.get("/timelapse", include_in_schema=False, response_class=HTMLResponse)
async def timelapse_page(request: Request):
    """SE attention over time: the shipped positions as each saved checkpoint saw them."""
    return _page(
        request,
        "timelapse.html",
        "timelapse",
        [f"{_CSS}board.css", f"{_CSS}replay.css", f"{_CSS}timelapse.css"],
    )


@router.get("/replays", include_in_schema=False, response_class=HTMLResponse)
async def replays_page(request: Request):
    """The archive: every recorded game, filtered and paged; each links to its replay."""
    return _page(request, "replays.html", "replays", [f"{_CSS}replay.css"])


@router.get("/replays/{game_id}", include_in_schema=False, response_class=HTMLResponse)
async def replay_page(request: Request, game_id: str):
    """One game's replay. The page fetches `/api/games/{game_id}` itself and says so when there is none."""
    return _page(
        request,
        "replay.html",
        "replay",
        [_UPLOT, f"{_CSS}board.css", f"{_CSS}moves.css", f"{_CSS}replay.css"],
    )
