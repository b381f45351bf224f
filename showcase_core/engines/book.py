"""The shipped position files (torch-free): `book.sfen`, balanced openings that engine matches start
from (both colours each), and `positions.sfen`, the fixed probe set of the accuracy curve. Both are
made by `python -m trainer bench book` (see `trainer/bench_ladder.py`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

BOOK_PATH = Path(__file__).with_name("book.sfen")
POSITIONS_PATH = Path(__file__).with_name("positions.sfen")


def read_sfens(path: Path) -> list[str]:
    """SFEN lines of a shipped file; '#' starts a comment line."""
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


@cache
def book() -> tuple[str, ...]:
    return tuple(read_sfens(BOOK_PATH))


@cache
def probe_positions() -> tuple[str, ...]:
    return tuple(read_sfens(POSITIONS_PATH))
