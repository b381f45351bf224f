"""The 94-plane observation, always from the side to move's view.

Shape (94, 9, 9), float32. Plane cell `[c, i, j]` is the square with file `i + 1` and rank `j + 1`
counted in the side to move's frame, i.e. flat index `i * 9 + j` is the cshogi square, rotated 180
degrees (`80 - sq`) when White is to move. So "own" pieces always start at the bottom, ranks 7-9.

| planes | content                                                                   | values        |
|--------|---------------------------------------------------------------------------|---------------|
| 0-7    | own P L N S G B R K                                                       | 0/1           |
| 8-13   | own +P +L +N +S +B +R                                                     | 0/1           |
| 14-21  | opponent P L N S G B R K                                                  | 0/1           |
| 22-27  | opponent +P +L +N +S +B +R                                                | 0/1           |
| 28-34  | own hand P L N S G B R, count / max (18, 4, 4, 4, 4, 2, 2), whole plane    | [0, 1]        |
| 35-41  | opponent hand, same order and scale                                       | [0, 1]        |
| 42     | side to move is Black                                                     | 0/1           |
| 43     | plies played in this game / max_plies (capped at 1)                        | [0, 1]        |
| 44     | earlier occurrences of this position / 3 (sennichite comes on the 4th)     | 0, 1/3, 2/3   |
| 45     | side to move is in check                                                  | 0/1           |
| 46-59  | squares own pieces attack, by attacking piece P L N S B R G K +P +L +N +S +B +R | 0/1     |
| 60-62  | squares own pieces attack at least 1 / 2 / 3 times                         | 0/1           |
| 63-79  | the same 17 planes for the opponent's pieces                              | 0/1           |
| 80     | destination squares of the board moves that mate at once                   | 0/1           |
| 81-86  | squares where dropping L N S G B R mates at once (a pawn drop may not mate) | 0/1           |
| 87-93  | the same 7 planes for the opponent, as if it were to move (its threats; 0 when in check) | 0/1 |

Planes 46-79 are the attack planes of dlshogi's input features, computed by cshogi from the rules
(`cshogi.dlshogi.make_input_features`); they show which squares each side controls, what a mate in
one by a drop or a hanging piece looks like, with no search.

Planes 80-93 are the rules' answer to "which moves end the game now": every legal checking move
(cshogi's check list, each checked against the rules) that leaves the other side no legal move, for
the side to move and, through a null move, for the opponent. The same query as a legal-move list,
one ply deep: the network still has to learn from its games that playing such a move wins and that
leaving the opponent one loses.

Planes 44 and 45 are computed the same way in training and at serve time (both come from `Game`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cshogi.dlshogi as _dlshogi
import numpy as np

if TYPE_CHECKING:
    from showcase_core.shogi.game import Game

N_PLANES = 94
BASE_PLANES = 46  # pieces, hands and scalars; the attack and mate planes follow
MATE_PLANES = 80  # first of the 14 mate-in-one planes
HAND_MAX = np.array([18, 4, 4, 4, 4, 2, 2], dtype=np.float32)
# cshogi's piece planes come as P L N S B R G K +P +L +N +S +B +R for each colour (own first when
# rotated); ours put gold before bishop and rook.
_CSHOGI_PLANES = 104  # the buffer size cshogi documents; it sets ones in the 28 piece planes only
_HAND_SCALE = np.tile(HAND_MAX, 2)


# cshogi's drop "from" (81 + piece type - 1, types P L N S B R G) -> mate plane offset (1-6 for L N S G B R;
# a pawn drop that mates is illegal, so the pawn has no plane).
_DROP_MATE_PLANE = {82: 1, 83: 2, 84: 3, 87: 4, 85: 5, 86: 6}


def _mark_mates(board, white: int, out: np.ndarray) -> None:
    """Set the 7 planes `out` (shape (7, 81), side to move's frame of `white`) of the side to move's
    mates in one on `board`: every legal checking move after which the other side has no legal move."""
    for move in board.check_moves:
        if not board.is_legal(move):
            continue
        board.push(move)
        mate = board.is_game_over()
        board.pop()
        if mate:
            to = move & 0x7F
            source = (move >> 7) & 0x7F
            out[_DROP_MATE_PLANE[source] if source >= 81 else 0, 80 - to if white else to] = 1.0


def write_mates(board, out: np.ndarray) -> None:
    """Planes 80-93 (`out`, shape (14, 81), zeroed by the caller) of one position: own mates in one,
    then the opponent's as if it were to move (none when the side to move is in check)."""
    white = board.turn
    _mark_mates(board, white, out[:7])
    if not board.is_check():
        board.push_pass()
        try:
            _mark_mates(board, white, out[7:])
        finally:
            board.pop_pass()


class Attacks:
    """Reusable buffers for the attack and mate planes of many games (one instance per VecEnv or
    Encoder)."""

    def __init__(self, capacity: int):
        self._f1 = np.zeros((capacity, _dlshogi.FEATURES1_NUM, 9, 9), dtype=np.float32)
        self._f2 = np.zeros((capacity, _dlshogi.FEATURES2_NUM, 9, 9), dtype=np.float32)
        self._views = list(zip(self._f1, self._f2, strict=True))

    def write(self, games: Sequence[Game], out: np.ndarray) -> None:
        """Planes 46-93 of each game's observation into `out[k]` (shape (n, N_PLANES, 9, 9))."""
        n = len(games)
        make = _dlshogi.make_input_features
        mates = out[:n, MATE_PLANES:].reshape(n, N_PLANES - MATE_PLANES, 81)
        mates[:] = 0.0
        for k, ((f1, f2), game) in enumerate(zip(self._views, games)):  # noqa: B905 - capacity >= n
            make(game.board, f1, f2)  # overwrites both buffers whole, in the side to move's frame
            write_mates(game.board, mates[k])
        out[:n, 46:63] = self._f1[:n, 14:31]
        out[:n, 63:80] = self._f1[:n, 45:62]


class Encoder:
    """Reusable buffers to encode many games at once; one instance per VecEnv (not thread-safe)."""

    def __init__(self, capacity: int):
        self._raw = np.zeros((capacity, _CSHOGI_PLANES, 9, 9), dtype=np.float32)
        self._views = list(self._raw)  # one view per slot, made once: cshogi writes through them
        self._attacks = Attacks(capacity)

    def encode(self, games: Sequence[Game], out: np.ndarray) -> np.ndarray:
        """Write the observation of each game into `out[k]` (shape (len(games), 46, 9, 9))."""
        n = len(games)
        raw = self._raw
        hands: list[int] = []  # flat: 14 counts per game, own hand first
        raw[:n, :28] = 0.0  # cshogi only sets the squares that hold a piece
        scalars: list[int] = []  # flat: black-to-move, plies, earlier occurrences, in check
        for view, game in zip(self._views, games):  # noqa: B905 - capacity >= len(games)
            board = game.board
            white = board.turn  # 1 when White is to move
            black_hand, white_hand = board.pieces_in_hand
            if white:
                board.piece_planes_rotate(view)
                hands += white_hand
                hands += black_hand
            else:
                board.piece_planes(view)
                hands += black_hand
                hands += white_hand
            keys = game._keys
            scalars += (1 - white, len(keys) - 1, game._counts[keys[-1]] - 1, game._checks[-1])
        # Slice copies (not a fancy index): cshogi's P L N S B R G K +P.. -> our P L N S G B R K +P..
        for base in (0, 14):
            out[:n, base : base + 4] = raw[:n, base : base + 4]
            out[:n, base + 4] = raw[:n, base + 6]
            out[:n, base + 5 : base + 7] = raw[:n, base + 4 : base + 6]
            out[:n, base + 7 : base + 14] = raw[:n, base + 7 : base + 14]
        h = np.array(hands, dtype=np.float32).reshape(n, 14) / _HAND_SCALE
        out[:n, 28:42] = h.reshape(n, 14, 1, 1)
        s = np.array(scalars, dtype=np.float32).reshape(n, 4)
        if n:
            s[:, 1] = np.minimum(s[:, 1] / games[0].max_plies, 1.0)
        s[:, 2] /= 3.0
        out[:n, 42:46] = s.reshape(n, 4, 1, 1)
        self._attacks.write(games, out)
        return out[:n]


def observe(game: Game) -> np.ndarray:
    """The (94, 9, 9) float32 observation of one game's current position."""
    out = np.empty((1, N_PLANES, 9, 9), dtype=np.float32)
    return Encoder(1).encode([game], out)[0]


# --- the compact encoding: what VecEnv keeps per step; the 46 planes are built from it where used ----

COMPACT_WIDTH = 99
"""Columns of one compact row (int16): 0-80 the board in the side to move's frame, each square 0
(empty) or 1 + its piece plane (1-28, planes 0-27 above); 81-94 hand counts, own P L N S G B R then
the opponent's; 95 side to move is Black; 96 plies played; 97 earlier occurrences of the position;
98 in check. 198 bytes against the 46 planes' 14,904."""

# cshogi piece type (P L N S B R G K +P +L +N +S +B +R = 1..14) -> our plane (gold before bishop).
_TYPE_PLANE = np.array([-1, 0, 1, 2, 3, 5, 6, 4, 7, 8, 9, 10, 11, 12, 13], dtype=np.int16)


def _code_table() -> np.ndarray:
    """[side to move, cshogi piece code] -> compact square value (0 empty, else 1 + plane)."""
    table = np.zeros((2, 32), dtype=np.int16)
    for code in range(1, 31):
        colour, kind = divmod(code, 16)  # Black 1..14, White 17..30
        if not 1 <= kind <= 14:
            continue
        for white in (0, 1):
            table[white, code] = 1 + _TYPE_PLANE[kind] + (0 if colour == white else 14)
    return table


PIECE_CODES = _code_table()


def encode_compact(games: Sequence[Game], out: np.ndarray) -> np.ndarray:
    """Write each game's compact row into `out[k]` (shape (len(games), COMPACT_WIDTH), int16)."""
    n = len(games)
    if not n:
        return out[:0]
    boards = [g.board for g in games]
    whites = np.fromiter((b.turn for b in boards), dtype=np.int64, count=n)
    codes = PIECE_CODES[whites[:, None], np.array([b.pieces for b in boards], dtype=np.int64)]
    rotate = whites.astype(bool)
    codes[rotate] = codes[rotate, ::-1]  # White to move: square sq is seen as 80 - sq
    out[:n, :81] = codes
    extra: list[int] = []  # per game: 14 hand counts (own first), then the 4 scalars
    for game, board, white in zip(games, boards, whites.tolist(), strict=True):
        black_hand, white_hand = board.pieces_in_hand
        keys = game._keys
        extra += white_hand if white else black_hand
        extra += black_hand if white else white_hand
        extra += (1 - white, len(keys) - 1, game._counts[keys[-1]] - 1, game._checks[-1])
    out[:n, 81:] = np.array(extra, dtype=np.int16).reshape(n, 18)
    return out[:n]


def expand_compact(compact: np.ndarray, out: np.ndarray, max_plies: int) -> np.ndarray:
    """Planes 0-45 of the observations (into `out`, shape (n, N_PLANES, 9, 9) float32) of compact
    rows: the same values, bit for bit, as `Encoder.encode` on the games they came from (the attack
    planes come from the games themselves: `Attacks.write`)."""
    n = len(compact)
    flat = out[:n].reshape(n, N_PLANES, 81)
    flat[:, :28] = 0.0
    codes = compact[:, :81]
    rows, squares = np.nonzero(codes)
    flat[rows, codes[rows, squares] - 1, squares] = 1.0
    hands = compact[:, 81:95].astype(np.float32) / _HAND_SCALE
    flat[:, 28:42] = hands[:, :, None]
    scalars = compact[:, 95:99].astype(np.float32)
    scalars[:, 1] = np.minimum(scalars[:, 1] / max_plies, 1.0)
    scalars[:, 2] /= 3.0
    flat[:, 42:46] = scalars[:, :, None]
    return out[:n]
