"""One game of Shogi under the full rules, on top of cshogi.

cshogi generates legal moves and judges entering-king declarations, but it pushes whatever move it is
given and accepts some malformed SFEN. `Game` closes those gaps: it refuses any move not in the legal
list, validates SFEN before handing it over, and decides the end of the game itself:

- no legal moves: the side to move loses (`checkmate` when in check, `no_legal_moves` otherwise);
- sennichite by our own position counter (Zobrist key, which covers board, hands and side to move):
  the 4th occurrence of a position is a draw, unless every move one side made since the first
  occurrence gave check, in which case that side loses (`perpetual_check`);
- entering-king declaration under the 27-point rule, judged by cshogi: when the side to move satisfies
  it, that side declares and wins (the action space has no separate "declare" action);
- a cap on plies played ends the game as a *truncation*: no winner, and not a draw signal for learning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cshogi

BLACK, WHITE = cshogi.BLACK, cshogi.WHITE
STARTING_SFEN = cshogi.STARTING_SFEN
DEFAULT_MAX_PLIES = 512
REPETITIONS_TO_END = 4

# Reasons a game ends, as they appear in records, metrics and on screen.
CHECKMATE = "checkmate"
NO_LEGAL_MOVES = "no_legal_moves"
SENNICHITE = "sennichite"
PERPETUAL_CHECK = "perpetual_check"
ENTERING_KING = "entering_king"
MAX_PLIES = "max_plies"
REASONS = (CHECKMATE, NO_LEGAL_MOVES, SENNICHITE, PERPETUAL_CHECK, ENTERING_KING, MAX_PLIES)


class IllegalMoveError(ValueError):
    """A move that is not in the legal list of the current position (or the game is over)."""


class SfenError(ValueError):
    """A position string that is not a valid, reachable-looking Shogi position."""


@dataclass(frozen=True)
class Outcome:
    """How a game ended. `winner` is BLACK, WHITE or None (draw or truncation)."""

    reason: str
    winner: int | None
    terminated: bool  # False only for the max-ply truncation

    @property
    def truncated(self) -> bool:
        return not self.terminated

    @property
    def result(self) -> str:
        """'black', 'white', 'draw' or 'truncated'."""
        if not self.terminated:
            return "truncated"
        return {BLACK: "black", WHITE: "white", None: "draw"}[self.winner]


# --- SFEN validation -------------------------------------------------------------------------------

_PIECE_LIMITS = {"P": 18, "L": 4, "N": 4, "S": 4, "G": 4, "B": 2, "R": 2, "K": 2}
_PROMOTABLE = set("PLNSBR")
_HAND_RE = re.compile(r"(\d*)([PLNSGBRplnsgbr])")


def validate_sfen(sfen: str) -> str:
    """Return the SFEN normalised to four fields, or raise SfenError saying what is wrong."""
    if not isinstance(sfen, str):
        raise SfenError(f"SFEN must be a string, got {type(sfen).__name__}")
    text = sfen.strip()
    if text.startswith("sfen "):
        text = text[5:].strip()
    fields = text.split()
    if len(fields) not in (3, 4):
        raise SfenError(
            f"SFEN needs 3 or 4 space-separated fields (board side hands [move]), got {len(fields)}"
        )
    board_f, side_f, hands_f = fields[:3]
    move_f = fields[3] if len(fields) == 4 else "1"

    ranks = board_f.split("/")
    if len(ranks) != 9:
        raise SfenError(f"board must have 9 ranks separated by '/', got {len(ranks)}")
    counts: dict[str, int] = {}
    kings = {"K": 0, "k": 0}
    pawn_files: set[tuple[str, int]] = set()
    for r, rank in enumerate(ranks):
        file_from_left = 0  # 0 = file 9
        i = 0
        while i < len(rank):
            ch = rank[i]
            if ch.isdigit():
                if ch == "0":
                    raise SfenError(f"rank {r + 1}: empty-square count 0 is not allowed")
                file_from_left += int(ch)
                i += 1
                continue
            promoted = ch == "+"
            if promoted:
                i += 1
                if i >= len(rank):
                    raise SfenError(f"rank {r + 1}: '+' must be followed by a piece")
                ch = rank[i]
            kind = ch.upper()
            if kind not in _PIECE_LIMITS:
                raise SfenError(f"rank {r + 1}: unknown piece {ch!r}")
            if promoted and kind not in _PROMOTABLE:
                raise SfenError(f"rank {r + 1}: {ch!r} cannot be promoted")
            black = ch.isupper()
            rank_from_mover = r if black else 8 - r  # 0 = the farthest rank for this piece's owner
            if not promoted and (
                (kind in "PL" and rank_from_mover == 0) or (kind == "N" and rank_from_mover <= 1)
            ):
                raise SfenError(f"rank {r + 1}: unpromoted {ch!r} there could never move again")
            if kind == "P" and not promoted:
                key = (ch, file_from_left)
                if key in pawn_files:
                    raise SfenError(f"two unpromoted {ch!r} pawns on file {9 - file_from_left} (nifu)")
                pawn_files.add(key)
            if kind == "K":
                kings[ch] += 1
            counts[kind] = counts.get(kind, 0) + 1
            file_from_left += 1
            i += 1
        if file_from_left != 9:
            raise SfenError(f"rank {r + 1} describes {file_from_left} squares, expected 9")
    if kings != {"K": 1, "k": 1}:
        raise SfenError(f"each side needs exactly one king, got black {kings['K']}, white {kings['k']}")

    if side_f not in ("b", "w"):
        raise SfenError(f"side to move must be 'b' or 'w', got {side_f!r}")

    if hands_f != "-":
        pos = 0
        for m in _HAND_RE.finditer(hands_f):
            if m.start() != pos:
                break
            n = int(m.group(1)) if m.group(1) else 1
            if n < 1:
                raise SfenError(f"hand count must be at least 1, got {m.group(0)!r}")
            counts[m.group(2).upper()] = counts.get(m.group(2).upper(), 0) + n
            pos = m.end()
        if pos != len(hands_f):
            raise SfenError(f"cannot read pieces in hand {hands_f!r} (expected '-' or e.g. '2Pb')")
    for kind, n in counts.items():
        if n > _PIECE_LIMITS[kind]:
            raise SfenError(f"{n} pieces of kind {kind} on board and in hand, at most {_PIECE_LIMITS[kind]}")

    if not move_f.isdigit() or int(move_f) < 1:
        raise SfenError(f"move number must be a positive integer, got {move_f!r}")

    normalised = f"{board_f} {side_f} {hands_f} {move_f}"
    board = cshogi.Board()
    board.set_sfen(normalised)
    # The side that just moved may not have left its own king in check.
    board.turn = 1 - board.turn
    if board.is_check():
        raise SfenError("the side not to move is in check, so the last move was illegal")
    return normalised


# --- the game --------------------------------------------------------------------------------------


class Game:
    """A Shogi game from the start position or any SFEN, with the rules' end conditions.

    Moves are cshogi move integers; `push_usi` and `push_action` accept USI strings and action indices.
    Every push is checked against the legal list and refused with IllegalMoveError otherwise.
    """

    __slots__ = (
        "_checks",
        "_counts",
        "_first_seen",
        "_keys",
        "_legal",
        "board",
        "initial_sfen",
        "max_plies",
        "moves",
        "outcome",
    )

    def __init__(self, sfen: str | None = None, *, max_plies: int = DEFAULT_MAX_PLIES):
        if max_plies < 1:
            raise ValueError(f"max_plies must be at least 1, got {max_plies}")
        self.initial_sfen = STARTING_SFEN if sfen is None else validate_sfen(sfen)
        self.max_plies = max_plies
        self.board = cshogi.Board(self.initial_sfen)
        self.moves: list[int] = []
        key = self.board.zobrist_hash()
        self._keys = [key]  # position key after each ply (index 0 = initial)
        self._checks = [self.board.is_check()]  # side to move in check at each position
        self._counts = {key: 1}
        self._first_seen = {key: 0}
        self._legal: list[int] = list(self.board.legal_moves)
        self.outcome: Outcome | None = None
        self._judge()

    # -- reading the position --
    @property
    def turn(self) -> int:
        return self.board.turn

    @property
    def ply(self) -> int:
        """Plies played in this game (the max-ply cap counts these)."""
        return len(self.moves)

    @property
    def is_over(self) -> bool:
        return self.outcome is not None

    @property
    def in_check(self) -> bool:
        return self._checks[-1]

    @property
    def repetitions(self) -> int:
        """How many times the current position has occurred in this game (1 = first time)."""
        return self._counts[self._keys[-1]]

    def sfen(self) -> str:
        return self.board.sfen()

    def legal_moves(self) -> list[int]:
        """The legal moves of the position; empty once the game is over."""
        return [] if self.outcome is not None else list(self._legal)

    def legal_usi(self) -> list[str]:
        return [cshogi.move_to_usi(m) for m in self.legal_moves()]

    @property
    def usi_moves(self) -> list[str]:
        return [cshogi.move_to_usi(m) for m in self.moves]

    # -- playing --
    def push(self, move: int) -> int:
        """Play a cshogi move integer after checking it is legal here."""
        if self.outcome is not None:
            raise IllegalMoveError(f"the game is over ({self.outcome.reason}); no more moves")
        if move not in self._legal:
            name = cshogi.move_to_usi(move) if move else str(move)
            raise IllegalMoveError(f"{name} is not a legal move in {self.board.sfen()}")
        self._advance(move)
        return move

    def push_usi(self, usi: str) -> int:
        """Play a move given in USI (e.g. '7g7f', '8h2b+', 'P*5e')."""
        if self.outcome is not None:
            raise IllegalMoveError(f"the game is over ({self.outcome.reason}); no more moves")
        for move in self._legal:
            if cshogi.move_to_usi(move) == usi:
                self._advance(move)
                return move
        raise IllegalMoveError(f"{usi!r} is not a legal move in {self.board.sfen()}")

    def push_action(self, action: int) -> int:
        """Play a move given by its action index (see showcase_core.shogi.actions)."""
        from showcase_core.shogi.actions import action_to_move

        return self.push(action_to_move(action, self))

    def pop(self) -> int:
        """Take back the last move (used by perft and search); the game is no longer over."""
        if not self.moves:
            raise IndexError("no move to take back")
        move = self.moves.pop()
        key = self._keys.pop()
        self._checks.pop()
        n = self._counts[key] - 1
        if n:
            self._counts[key] = n
        else:
            del self._counts[key]
            del self._first_seen[key]
        self.board.pop()
        self._legal = list(self.board.legal_moves)
        self.outcome = None
        return move

    def _advance(self, move: int) -> None:
        """Push an already-validated move and update the rule bookkeeping (the hot path of VecEnv)."""
        board = self.board
        board.push(move)
        moves = self.moves
        moves.append(move)
        key = board.zobrist_hash()
        self._keys.append(key)
        self._checks.append(board.is_check())
        counts = self._counts
        n = counts.get(key, 0) + 1
        counts[key] = n
        self._legal = list(board.legal_moves)
        if n == 1:
            self._first_seen[key] = len(moves)
        elif n >= REPETITIONS_TO_END:
            self.outcome = self._sennichite(key)
            return
        self._judge()

    def _judge(self) -> None:
        board = self.board
        if not self._legal:
            reason = CHECKMATE if self._checks[-1] else NO_LEGAL_MOVES
            self.outcome = Outcome(reason, 1 - board.turn, True)
        elif board.is_nyugyoku():
            self.outcome = Outcome(ENTERING_KING, board.turn, True)
        elif len(self.moves) >= self.max_plies:
            self.outcome = Outcome(MAX_PLIES, None, False)

    def _sennichite(self, key: int) -> Outcome:
        first = self._first_seen[key]
        last = len(self.moves)  # index of the current position
        mover = 1 - self.board.turn
        checks = self._checks
        # Position i (i >= 1) is reached by move i; its check flag says whether move i gave check.
        mover_moves = range(last, first, -2)
        other_moves = range(last - 1, first, -2)
        if all(checks[i] for i in mover_moves):
            return Outcome(PERPETUAL_CHECK, 1 - mover, True)
        if len(other_moves) and all(checks[i] for i in other_moves):
            return Outcome(PERPETUAL_CHECK, mover, True)
        return Outcome(SENNICHITE, None, True)


def perft(game: Game, depth: int) -> int:
    """Count leaf positions `depth` plies ahead, through Game's legality checks."""
    if depth == 0:
        return 1
    moves = game.legal_moves()
    if depth == 1:
        return len(moves)
    total = 0
    for move in moves:
        game.push(move)
        total += perft(game, depth - 1)
        game.pop()
    return total
