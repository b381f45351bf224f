"""Castles and rook style, recognised from a position by fixed, documented rules (torch-free).

Each castle is a set of pieces on given squares, in the owner's own frame (Black's squares; White's
are the same turned 180 degrees: file f -> 10 - f, rank r -> 10 - r). A side has a castle when every
listed piece of it stands there, unpromoted; the first match in `CASTLES` (most specific first) is
the name. The shapes follow the standard diagrams (English Wikipedia, "Castle (shogi)"):

| castle | pieces (Black's frame) |
|--------|------------------------|
| Anaguma, static rook (居飛車穴熊) | K 9i, L 9h, S 8h |
| Anaguma, ranging rook (振り飛車穴熊) | K 1i, L 1h, S 2h |
| Gold Yagura (金矢倉) | K 8h, G 7h, S 7g, G 6g |
| Mino (本美濃) | K 2h, S 3h, G 4i, G 5h |
| Half Mino (片美濃) | K 2h, S 3h, G 4i |
| Left Mino (左美濃) | K 8h, S 7h, G 6i |
| Boat (舟囲い) | K 7h, G 6i, G 5h |

Rook style, while a side's rook is on the board unpromoted in its own three ranks: on files 1-4 it is
Static Rook (居飛車); on 5 Central Rook (中飛車), 6 Fourth File Rook (四間飛車), 7 Third File Rook
(三間飛車), 8 Opposing Rook (向かい飛車): the Ranging Rook family (振り飛車). Otherwise no style.
"""

from __future__ import annotations

from dataclasses import dataclass

import cshogi

# cshogi piece types
_KIND = {"P": 1, "L": 2, "N": 3, "S": 4, "B": 5, "R": 6, "G": 7, "K": 8}


@dataclass(frozen=True)
class Castle:
    key: str
    name: str
    japanese: str
    pieces: tuple[tuple[str, str], ...]  # (piece letter, square "8h") in the owner's frame


CASTLES: tuple[Castle, ...] = (
    Castle("anaguma", "Anaguma (static rook)", "居飛車穴熊", (("K", "9i"), ("L", "9h"), ("S", "8h"))),
    Castle("anaguma", "Anaguma (ranging rook)", "振り飛車穴熊", (("K", "1i"), ("L", "1h"), ("S", "2h"))),
    Castle("yagura", "Gold Yagura", "金矢倉", (("K", "8h"), ("G", "7h"), ("S", "7g"), ("G", "6g"))),
    Castle("mino", "Mino", "本美濃", (("K", "2h"), ("S", "3h"), ("G", "4i"), ("G", "5h"))),
    Castle("mino", "Half Mino", "片美濃", (("K", "2h"), ("S", "3h"), ("G", "4i"))),
    Castle("left-mino", "Left Mino", "左美濃", (("K", "8h"), ("S", "7h"), ("G", "6i"))),
    Castle("boat", "Boat", "舟囲い", (("K", "7h"), ("G", "6i"), ("G", "5h"))),
)

ROOK_STYLES = {
    5: ("ranging", "Central Rook", "中飛車"),
    6: ("ranging", "Fourth File Rook", "四間飛車"),
    7: ("ranging", "Third File Rook", "三間飛車"),
    8: ("ranging", "Opposing Rook", "向かい飛車"),
}


def _square(key: str, colour: int) -> int:
    """cshogi square of `key` ("8h") in `colour`'s own frame."""
    file, rank = int(key[0]), "abcdefghi".index(key[1]) + 1
    if colour == cshogi.WHITE:
        file, rank = 10 - file, 10 - rank
    return (file - 1) * 9 + (rank - 1)


def castle_of(board: cshogi.Board, colour: int) -> Castle | None:
    pieces = board.pieces
    for castle in CASTLES:
        if all(
            pieces[_square(sq, colour)] == _KIND[p] + (16 if colour == cshogi.WHITE else 0)
            for p, sq in castle.pieces
        ):
            return castle
    return None


def rook_style(board: cshogi.Board, colour: int) -> tuple[str, str, str] | None:
    """(family, name, Japanese) of `colour`'s rook placement, or None (no rook of its own in its camp)."""
    rook = _KIND["R"] + (16 if colour == cshogi.WHITE else 0)
    for sq, code in enumerate(board.pieces):
        if code != rook:
            continue
        file, rank = sq // 9 + 1, sq % 9 + 1
        if colour == cshogi.WHITE:
            file, rank = 10 - file, 10 - rank
        if rank < 7:
            continue  # out of its own camp: no longer an opening placement
        if file <= 4:
            return ("static", "Static Rook", "居飛車")
        if file in ROOK_STYLES:
            return ROOK_STYLES[file]
    return None


def squares_of(castle: Castle, colour: int) -> list[str]:
    """The castle's squares as board keys ("8h"), for outlining it on the board."""
    out = []
    for _, sq in castle.pieces:
        s = _square(sq, colour)
        out.append(f"{s // 9 + 1}{'abcdefghi'[s % 9]}")
    return out


def describe(sfen: str) -> dict:
    """{"black": {...}, "white": {...}}: each side's castle (key, name, Japanese, squares) and rook
    style (family, name, Japanese), None where there is none."""
    board = cshogi.Board(sfen)
    out = {}
    for colour, side in ((cshogi.BLACK, "black"), (cshogi.WHITE, "white")):
        castle = castle_of(board, colour)
        style = rook_style(board, colour)
        out[side] = {
            "castle": None
            if castle is None
            else {
                "key": castle.key,
                "name": castle.name,
                "japanese": castle.japanese,
                "squares": squares_of(castle, colour),
            },
            "rook": None if style is None else {"family": style[0], "name": style[1], "japanese": style[2]},
        }
    return out


def style_payload(sfen: str):
    """`describe` as the protocol's `Style` (what a showcase move carries)."""
    from showcase_core.protocol import SideStyle, Style

    d = describe(sfen)

    def side(x: dict) -> SideStyle:
        c, r = x["castle"], x["rook"]
        return SideStyle(
            castle=c and c["name"],
            castle_japanese=c and c["japanese"],
            squares=c["squares"] if c else [],
            rook=r and r["name"],
            rook_family=r and r["family"],
        )

    return Style(black=side(d["black"]), white=side(d["white"]))
