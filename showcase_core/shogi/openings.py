"""Named openings a strategy poll can make the showcase play (torch-free): the first moves of both
sides in USI, from the standard start. Each is a well-known line; `tests/test_openings.py` replays
every one on a real board."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Opening:
    key: str
    label: str
    moves: tuple[str, ...]  # USI, Black first


OPENINGS: dict[str, Opening] = {
    o.key: o
    for o in (
        Opening("double_wing", "Double Wing Attack (相掛かり)", ("2g2f", "8c8d", "2f2e", "8d8e")),
        Opening(
            "bishop_exchange", "Bishop Exchange (角換わり)", ("7g7f", "8c8d", "2g2f", "3c3d", "8h2b+", "3a2b")
        ),
        Opening("yagura", "Yagura (矢倉)", ("7g7f", "8c8d", "6g6f", "3c3d", "6i7h")),
        Opening("fourth_file_rook", "Fourth File Rook (四間飛車)", ("7g7f", "3c3d", "6g6f", "8c8d", "2h6h")),
        Opening("central_rook", "Central Rook (中飛車)", ("5g5f", "8c8d", "2h5h")),
    )
}

TEMPERATURES: dict[str, tuple[str, float]] = {  # key -> (label, showcase sampling temperature)
    "careful": ("Careful: always near its favourite move (T=0.25)", 0.25),
    "normal": ("Normal (T=0.5)", 0.5),
    "adventurous": ("Adventurous: samples the whole policy (T=1.0)", 1.0),
}
