"""The AI's style by training stage: how often it builds each castle and which rook placement it
chooses, from the archive's finished showcase games (torch-free; the recognition rules are
showcase_core/shogi/castles.py).

Per game and per side the AI played (both sides of a self-play game; the AI's own colour in a match):
- a castle counts as built when it stands on the board after any of the first `OPENING_PLIES` plies
  (each castle once per game and side; Half Mino and Mino are separate names);
- the rook placement is Ranging Rook (its name: Central, Fourth File, ...) if within the first
  `ROOK_PLIES` plies the side's rook ever stands in its camp on files 5-8, else Static Rook if its
  rook is in its camp on files 1-4 after ply `ROOK_PLIES` (or the game's last ply, when shorter), else
  none (the rook has left its camp or been taken).

Stages are the games' weights versions (the update whose weights played: the trainer syncs the
showcase after each update) cut into up to `stages` equal ranges of updates.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict

import cshogi

from showcase_core.shogi.castles import CASTLES, ROOK_STYLES, castle_of, rook_style

OPENING_PLIES = 80
ROOK_PLIES = 40
MAX_GAMES = 500  # the newest finished showcase games of the run that are read
CASTLE_NAMES = [c.name for c in CASTLES]
ROOK_NAMES = ["Static Rook", *(name for _, name, _ in ROOK_STYLES.values())]

_CACHE: OrderedDict[str, list[dict]] = OrderedDict()  # finished games never change
_CACHE_MAX = 4 * MAX_GAMES


def _sides(agent: str | None, opponent: str | None) -> list[int]:
    if opponent is None or agent not in ("black", "white"):
        return [cshogi.BLACK, cshogi.WHITE]
    return [cshogi.BLACK if agent == "black" else cshogi.WHITE]


def game_style(sfens: list[str], sides: list[int]) -> list[dict]:
    """Per side in `sides`: {"side", "castles": [names], "rook": name or None} for the game whose
    positions after each ply (1, 2, ...) are `sfens`."""
    board = cshogi.Board()
    out = []
    seen = {colour: {"castles": [], "ranging": None, "late": None} for colour in sides}
    for ply, sfen in enumerate(sfens[:OPENING_PLIES], start=1):
        board.set_sfen(sfen)
        for colour in sides:
            s = seen[colour]
            castle = castle_of(board, colour)
            if castle is not None and castle.name not in s["castles"]:
                s["castles"].append(castle.name)
            if ply <= ROOK_PLIES:
                rook = rook_style(board, colour)
                if s["ranging"] is None and rook is not None and rook[0] == "ranging":
                    s["ranging"] = rook[1]
                s["late"] = rook
    for colour in sides:
        s = seen[colour]
        late = s["late"]
        rook = s["ranging"] or (late[1] if late is not None and late[0] == "static" else None)
        out.append(
            {"side": "black" if colour == cshogi.BLACK else "white", "castles": s["castles"], "rook": rook}
        )
    return out


def _game(conn: sqlite3.Connection, row: sqlite3.Row) -> list[dict]:
    cached = _CACHE.get(row["id"])
    if cached is not None:
        _CACHE.move_to_end(row["id"])
        return cached
    sfens = [
        r[0]
        for r in conn.execute(
            "SELECT sfen_after FROM moves WHERE game_id = ? AND ply <= ? ORDER BY ply",
            (row["id"], OPENING_PLIES),
        )
    ]
    result = game_style(sfens, _sides(row["agent"], row["opponent"]))
    _CACHE[row["id"]] = result
    while len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return result


def style_by_stage(conn: sqlite3.Connection, run_id: str | None, *, stages: int = 4) -> dict:
    rows = conn.execute(
        "SELECT id, weights_version, agent, opponent FROM games WHERE run_id IS ? AND kind = 'showcase'"
        " AND ended_at IS NOT NULL AND result IS NOT 'interrupted' ORDER BY started_at DESC LIMIT ?",
        (run_id, MAX_GAMES),
    ).fetchall()
    out = {
        "run_id": run_id,
        "opening_plies": OPENING_PLIES,
        "rook_plies": ROOK_PLIES,
        "castle_names": CASTLE_NAMES,
        "rook_names": ROOK_NAMES,
        "games": len(rows),
        "stages": [],
    }
    if not rows:
        return out
    low = min(r["weights_version"] for r in rows)
    high = max(r["weights_version"] for r in rows)
    n = max(1, min(stages, high - low + 1))
    width = (high - low + 1) / n
    buckets = []
    for i in range(n):
        start = low + round(i * width)
        end = low + round((i + 1) * width) - 1
        buckets.append(
            {
                "from_update": start,
                "to_update": end,
                "games": 0,
                "sides": 0,
                "castles": dict.fromkeys(CASTLE_NAMES, 0),
                "rooks": dict.fromkeys(ROOK_NAMES, 0),
                "no_castle": 0,
            }
        )
    for row in rows:
        i = min(n - 1, int((row["weights_version"] - low) / width))
        bucket = buckets[i]
        bucket["games"] += 1
        for side in _game(conn, row):
            bucket["sides"] += 1
            for name in side["castles"]:
                bucket["castles"][name] += 1
            if not side["castles"]:
                bucket["no_castle"] += 1
            if side["rook"] is not None:
                bucket["rooks"][side["rook"]] += 1
    out["stages"] = [b for b in buckets if b["games"] > 0]
    return out
