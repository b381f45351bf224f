"""The 13,527-action space, in the side to move's frame.

Squares are cshogi's: `sq = (file - 1) * 9 + (rank - 1)`, so 0 is 1a and 80 is 9i. For White to move every
square is rotated 180 degrees (`sq -> 80 - sq`), so the same action means the same move shape for
either side.

- Board moves, 81 x 80 x 2 = 12,960: `from * 160 + to_offset * 2 + promote`, where `to_offset` is `to`
  with the from-square skipped (`to` if `to < from`, else `to - 1`).
- Drops, 81 x 7 = 567: `12960 + to * 7 + piece`, piece in hand order P L N S G B R (0..6).

cshogi packs a move into an int: bits 0-6 `to`, bits 7-13 `from` (81 + piece type for a drop, with
cshogi's piece types P L N S B R G = 1..7), bit 14 promotion.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cshogi
import numpy as np

if TYPE_CHECKING:
    from showcase_core.shogi.game import Game

N_SQUARES = 81
N_BOARD_ACTIONS = 81 * 80 * 2
N_DROP_PIECES = 7
N_ACTIONS = N_BOARD_ACTIONS + 81 * N_DROP_PIECES
DROP_BASE = N_BOARD_ACTIONS
HAND_ORDER = "PLNSGBR"

# cshogi drop "from" value minus 81 (its piece type - 1: P L N S B R G) -> our hand index (P L N S G B R).
_CSHOGI_DROP_TO_HAND = np.array([0, 1, 2, 3, 5, 6, 4], dtype=np.int64)

assert N_ACTIONS == 13_527


def _build_lookup() -> np.ndarray:
    """Action index for every (white, promote, from, to) packed as cshogi's low 15 bits + white << 15."""
    key = np.arange(1 << 16, dtype=np.int64)
    to = key & 0x7F
    frm = (key >> 7) & 0x7F
    promote = (key >> 14) & 1
    white = (key >> 15) & 1
    valid = (to < N_SQUARES) & (frm < N_SQUARES + 7) & (frm != to)
    to_r = np.where(white == 1, 80 - to, to)
    frm_r = np.where(white == 1, 80 - frm, frm)
    board_action = frm_r * 160 + (to_r - (to_r > frm_r)) * 2 + promote
    drop = frm >= N_SQUARES
    piece = np.clip(frm - N_SQUARES, 0, N_DROP_PIECES - 1)
    drop_action = DROP_BASE + to_r * 7 + _CSHOGI_DROP_TO_HAND[piece]
    table = np.where(drop, np.where(promote == 0, drop_action, -1), board_action)
    return np.where(valid, table, -1).astype(np.int32)


_LOOKUP = _build_lookup()


def moves_to_actions(moves: np.ndarray, white: np.ndarray | bool) -> np.ndarray:
    """Vectorised: cshogi move ints -> action indices. `white` is per move (or one bool for all)."""
    moves = np.asarray(moves, dtype=np.int64)
    key = (moves & 0x7FFF) | (np.asarray(white, dtype=np.int64) << 15)
    return _LOOKUP[key].astype(np.int64)


def move_to_action(move: int, turn: int) -> int:
    """One cshogi move -> its action index for the given side to move (0 Black, 1 White)."""
    return int(moves_to_actions(np.array([move]), turn == cshogi.WHITE)[0])


def decode_action(action: int, turn: int) -> tuple[int | None, int, bool, int | None]:
    """Action -> (from_sq or None, to_sq, promote, drop hand index or None) in board squares."""
    if not 0 <= action < N_ACTIONS:
        raise ValueError(f"action must be in [0, {N_ACTIONS}), got {action}")
    rot = turn == cshogi.WHITE
    if action >= DROP_BASE:
        to, piece = divmod(action - DROP_BASE, N_DROP_PIECES)
        return None, (80 - to if rot else to), False, piece
    frm, rest = divmod(action, 160)
    to_offset, promote = divmod(rest, 2)
    to = to_offset + (to_offset >= frm)
    if rot:
        frm, to = 80 - frm, 80 - to
    return frm, to, bool(promote), None


def action_to_usi(action: int, turn: int) -> str:
    """The USI text an action stands for when `turn` is to move (legal or not)."""
    frm, to, promote, piece = decode_action(action, turn)
    if piece is not None:
        return f"{HAND_ORDER[piece]}*{cshogi.SQUARE_NAMES[to]}"
    return f"{cshogi.SQUARE_NAMES[frm]}{cshogi.SQUARE_NAMES[to]}{'+' if promote else ''}"


def action_to_move(action: int, game: Game) -> int:
    """Action -> the legal cshogi move it stands for in `game`, or IllegalMoveError saying which move."""
    from showcase_core.shogi.game import IllegalMoveError

    legal = game.legal_moves()
    if legal:
        actions = moves_to_actions(np.array(legal), game.turn == cshogi.WHITE)
        hit = np.flatnonzero(actions == action)
        if hit.size:
            return legal[int(hit[0])]
    name = action_to_usi(action, game.turn) if 0 <= action < N_ACTIONS else "out of range"
    raise IllegalMoveError(f"action {action} ({name}) is not a legal move in {game.sfen()}")


def legal_mask(game: Game) -> np.ndarray:
    """(13527,) bool: True exactly at the actions of the legal moves."""
    mask = np.zeros(N_ACTIONS, dtype=bool)
    legal = game.legal_moves()
    if legal:
        mask[moves_to_actions(np.array(legal), game.turn == cshogi.WHITE)] = True
    return mask
