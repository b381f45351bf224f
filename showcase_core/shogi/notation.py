"""Move names for people: USI, western (Hodges) and Japanese (KI2), and the reverse parse of chat input.

Names are computed for a legal move in the position *before* it is played:

- `usi(move)`: `7g7f`, `8h2b+`, `P*5e`.
- `western(pos, move)`: piece letter (`P L N S G B R K`, promoted `+P +L +N +S +B +R`), the origin only
  when another piece of the same kind could also reach the square (`G6i-5h`), `-` for a move, `x` for a
  capture, `*` for a drop, the destination (`7f`), then `+` for promoting or `=` for declining a possible
  promotion: `P-7f`, `Bx2b+`, `P-2c=`, `B*5e`.
- `japanese(pos, move)`: `▲７六歩`, `△同　歩`, `▲２二角成`, `▲２三歩不成`, `▲５八金右`, `▲５五角打`.
  打 appears only when a piece of that kind on the board could also reach the square, and the KI2
  modifiers (上 引 寄, then 左 右 直, then both) only when several pieces of the kind can.

`parse_move(pos, text)` turns what a viewer types into the one legal move it names, or raises
`MoveParseError` with `kind` "unparseable", "illegal" or "ambiguous" and a message meant to be shown to
that viewer. Surrounding and inner whitespace is ignored and full-width characters are read as their
ASCII forms. Accepted forms:

- USI: `7g7f`, `8h2b+`, `P*5e` (letters in either case: `7G7F`). USI is exact: `8h2b` is the
  non-promoting move.
- Western: `P-7f`, `P7f`, `Px7d`, `G6i-5h`, `G6i5h`, `S-4c+`, `P-2c=`, `B*5e`, ranks also as digits
  (`P-76`, `G69-58`), `D`/`H` for dragon/horse. `-` and `x` are interchangeable (the board knows whether
  the square holds a piece); a bare `P5e` with no board move possible means the drop.
- Japanese: `76歩`, `７六歩`, `▲７六歩`, `同歩`, `同　歩`, `２二角成`, `２二角不成` (or `生`), `５五角打`,
  `58金右`, `５八金左上`, KIF style with the origin `７六歩(77)`; 王/玉, 竜/龍, と, 成香/杏, 成桂/圭,
  成銀/全, 馬. Without 打, a board move is meant when one exists (KI2 convention).

A form that leaves promotion open when both promoting and not promoting are legal is ambiguous: the
parse never guesses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import cshogi

from showcase_core.shogi.game import BLACK, Game

# Indexed by cshogi piece type: P L N S B R G K +P +L +N +S +B +R = 1..14.
_WESTERN = ("", "P", "L", "N", "S", "B", "R", "G", "K", "+P", "+L", "+N", "+S", "+B", "+R")
_JAPANESE = ("", "歩", "香", "桂", "銀", "角", "飛", "金", "玉", "と", "成香", "成桂", "成銀", "馬", "龍")
_ENGLISH = (
    "",
    "pawn",
    "lance",
    "knight",
    "silver",
    "bishop",
    "rook",
    "gold",
    "king",
    "tokin",
    "promoted lance",
    "promoted knight",
    "promoted silver",
    "horse",
    "dragon",
)
_PROMOTED_OFFSET = 8  # cshogi: promoted type = base type + 8 (P..R only)
_HORSE, _DRAGON = cshogi.PROM_BISHOP, cshogi.PROM_ROOK
# Hand order (move_drop_hand_piece, pieces_in_hand): P L N S G B R.
_HAND_TO_TYPE = (
    cshogi.PAWN,
    cshogi.LANCE,
    cshogi.KNIGHT,
    cshogi.SILVER,
    cshogi.GOLD,
    cshogi.BISHOP,
    cshogi.ROOK,
)
_TYPE_TO_HAND = {pt: i for i, pt in enumerate(_HAND_TO_TYPE)}

_RANK_LETTERS = "abcdefghi"
_FULLWIDTH_DIGITS = "０１２３４５６７８９"
_KANJI_DIGITS = "〇一二三四五六七八九"
_SIDE = ("Black", "White")

_JAPANESE_ALIASES = {
    "王": "玉",
    "竜": "龍",
    "杏": "成香",
    "圭": "成桂",
    "全": "成銀",
}
_JAPANESE_TO_TYPE = {name: pt for pt, name in enumerate(_JAPANESE) if name}
_WESTERN_TO_TYPE = {name: pt for pt, name in enumerate(_WESTERN) if name} | {"D": _DRAGON, "H": _HORSE}

_USI_MOVE_RE = re.compile(r"([1-9])([a-i])([1-9])([a-i])(\+?)", re.IGNORECASE)
_USI_DROP_RE = re.compile(r"([PLNSGBR])\*([1-9])([a-i])", re.IGNORECASE)
_WESTERN_RE = re.compile(
    r"(\+[PLNSBR]|[PLNSGBRKDH])(?:([1-9])([a-i1-9]))?([-x*]?)([1-9])([a-i1-9])([+=]?)", re.IGNORECASE
)
_JAPANESE_RE = re.compile(
    r"[▲△☗☖]?(?:([1-9])([1-9一二三四五六七八九])|(同))"
    r"(成香|成桂|成銀|[歩香桂銀金角飛王玉と杏圭全馬竜龍])"
    r"([左右直]?)([上引寄]?)(成|不成|生|打)?(?:\(([1-9])([1-9])\))?"
)

_ACCEPTED = "USI (7g7f, P*5e), western (P-7f, G6i-5h, Bx2b+, B*5e) or Japanese (76歩, ７六歩, 同歩, ５八金右)"


class MoveParseError(ValueError):
    """Chat input that names no legal move (`kind` "unparseable" or "illegal") or several ("ambiguous").

    `candidates` lists the USI of the moves an ambiguous input could mean (empty otherwise).
    """

    def __init__(self, kind: str, message: str, candidates: list[str] | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.candidates = candidates or []


# --- small helpers ------------------------------------------------------------------------------------


def _context(pos: Game | cshogi.Board) -> tuple[cshogi.Board, int]:
    """The board and the previous move (0 when there is none) of a Game or a bare cshogi Board."""
    if isinstance(pos, Game):
        return pos.board, (pos.moves[-1] if pos.moves else 0)
    return pos, pos.peek()


def _square(file: int, rank: int) -> int:
    return (file - 1) * 9 + (rank - 1)


def _west_sq(sq: int) -> str:
    return f"{sq // 9 + 1}{_RANK_LETTERS[sq % 9]}"


def _jp_sq(sq: int) -> str:
    return f"{_FULLWIDTH_DIGITS[sq // 9 + 1]}{_KANJI_DIGITS[sq % 9 + 1]}"


def _moved_type(move: int) -> int:
    """The piece type that moves (for a drop: the unpromoted type dropped)."""
    if cshogi.move_is_drop(move):
        return _HAND_TO_TYPE[cshogi.move_drop_hand_piece(move)]
    return cshogi.move_from_piece_type(move)


def _require_legal(board: cshogi.Board, move: int) -> list[int]:
    legal = list(board.legal_moves)
    if move not in legal:
        name = cshogi.move_to_usi(move) if move else repr(move)
        raise ValueError(f"{name} is not a legal move in {board.sfen()}")
    return legal


# cshogi packs a move as bits 0-6 to, 7-13 from (81 + piece for drops), 14 promotion, 16-19 the moving
# piece type. Reading the bits directly is several times faster than a cshogi call per legal move, and
# these helpers run for every name the insight and the chat parser produce.


def _same_kind_origins(legal: list[int], move: int) -> list[int]:
    """Origins of every board move of the same piece kind to the same square (the move's own included)."""
    to, pt = move & 0x7F, (move >> 16) & 0xF
    return sorted(
        {(m >> 7) & 0x7F for m in legal if m & 0x7F == to and (m >> 16) & 0xF == pt and (m >> 7) & 0x7F < 81}
    )


def _could_promote(legal: list[int], move: int) -> bool:
    """Whether the promoting twin of this (non-promoting) board move is legal too."""
    twin = (move & 0x3FFF) | 0x4000
    return any(m & 0x7FFF == twin for m in legal)


def _is_capture(board: cshogi.Board, move: int) -> bool:
    return not cshogi.move_is_drop(move) and board.piece(cshogi.move_to(move)) != cshogi.NONE


# --- KI2 relative modifiers ---------------------------------------------------------------------------
# Seen from the mover's seat: for White every square is turned 180 degrees so that "up" is always
# towards the opponent and "left" is always the mover's left (file 9 side for Black).


def _view(sq: int, turn: int) -> tuple[int, int]:
    """(file index, rank index) from the mover's seat; larger file = further left, smaller rank = ahead."""
    return divmod(sq if turn == BLACK else 80 - sq, 9)


def _motion(frm: int, to: int, turn: int) -> str:
    from_rank, to_rank = _view(frm, turn)[1], _view(to, turn)[1]
    return "上" if from_rank > to_rank else "引" if from_rank < to_rank else "寄"


def _select(origins: list[int], to: int, turn: int, relative: str, motion: str) -> list[int]:
    """The origins a KI2 modifier picks: motion (上 引 寄) filters first, then 左 右 直 among the rest."""
    picked = [o for o in origins if _motion(o, to, turn) == motion] if motion else list(origins)
    if relative == "直":
        to_file = _view(to, turn)[0]
        picked = [o for o in picked if _view(o, turn)[0] == to_file and _motion(o, to, turn) == "上"]
    elif relative in ("左", "右") and picked:
        files = [_view(o, turn)[0] for o in picked]
        edge = max(files) if relative == "左" else min(files)
        picked = [o for o, f in zip(picked, files, strict=True) if f == edge]
    return picked


def _relative(origins: list[int], frm: int, to: int, turn: int, piece_type: int) -> str:
    """左 / 右 / 直 for `frm` among `origins` ('' when it is neither the leftmost nor the rightmost)."""
    from_file, to_file = _view(frm, turn)[0], _view(to, turn)[0]
    # 直 (straight ahead) is not used for dragons and horses: they are told apart by 左 and 右 only.
    if piece_type not in (_HORSE, _DRAGON) and from_file == to_file and _motion(frm, to, turn) == "上":
        return "直"
    files = [_view(o, turn)[0] for o in origins]
    if len(set(files)) == 1:
        return ""
    if from_file == max(files):
        return "左"
    if from_file == min(files):
        return "右"
    return ""


def _ki2_modifier(origins: list[int], frm: int, to: int, turn: int, piece_type: int) -> str:
    """The shortest KI2 modifier that singles out `frm`: motion, else relative position, else both."""
    if len(origins) == 1:
        return ""
    motion = _motion(frm, to, turn)
    if _select(origins, to, turn, "", motion) == [frm]:
        return motion
    relative = _relative(origins, frm, to, turn, piece_type)
    if relative and _select(origins, to, turn, relative, "") == [frm]:
        return relative
    same_motion = _select(origins, to, turn, "", motion)
    relative = _relative(same_motion, frm, to, turn, piece_type)
    if relative and _select(origins, to, turn, relative, motion) == [frm]:
        return relative + motion
    # Two pieces of one kind reaching one square in the same direction always differ in file, so the
    # combined form above always resolves; reaching here means the move generator broke that invariant.
    raise AssertionError(f"no KI2 modifier singles out {_jp_sq(frm)} among {[_jp_sq(o) for o in origins]}")


# --- naming -------------------------------------------------------------------------------------------


def usi(move: int) -> str:
    """USI text of a cshogi move: `7g7f`, `8h2b+`, `P*5e`."""
    return cshogi.move_to_usi(move)


def western(pos: Game | cshogi.Board, move: int) -> str:
    """Hodges-style western name of a legal move in `pos` (before it is played): `P-7f`, `Bx2b+`, `B*5e`."""
    board, _ = _context(pos)
    legal = _require_legal(board, move)
    to = cshogi.move_to(move)
    if cshogi.move_is_drop(move):
        return f"{_WESTERN[_moved_type(move)]}*{_west_sq(to)}"
    frm = cshogi.move_from(move)
    origin = _west_sq(frm) if len(_same_kind_origins(legal, move)) > 1 else ""
    sep = "x" if _is_capture(board, move) else "-"
    suffix = "+" if cshogi.move_is_promotion(move) else "=" if _could_promote(legal, move) else ""
    return f"{_WESTERN[cshogi.move_from_piece_type(move)]}{origin}{sep}{_west_sq(to)}{suffix}"


def japanese(pos: Game | cshogi.Board, move: int, prev_move: int | None = None, *, mark: bool = True) -> str:
    """KI2-style Japanese name of a legal move in `pos`: `▲７六歩`, `△同　歩`, `▲５八金右`, `▲５五角打`.

    `prev_move` decides 同 (same square as the previous move); by default it is the last move played in
    `pos`. `mark=False` leaves out the ▲/△ of the side to move.
    """
    board, last = _context(pos)
    legal = _require_legal(board, move)
    prev = last if prev_move is None else prev_move
    turn = board.turn
    to = cshogi.move_to(move)
    head = ("▲" if turn == BLACK else "△") if mark else ""
    dest = "同　" if prev and cshogi.move_to(prev) == to else _jp_sq(to)
    if cshogi.move_is_drop(move):
        pt = _moved_type(move)
        board_alternative = any(
            m & 0x7F == to and (m >> 16) & 0xF == pt and (m >> 7) & 0x7F < 81 for m in legal
        )
        return f"{head}{dest}{_JAPANESE[pt]}{'打' if board_alternative else ''}"
    frm, pt = cshogi.move_from(move), cshogi.move_from_piece_type(move)
    modifier = _ki2_modifier(_same_kind_origins(legal, move), frm, to, turn, pt)
    suffix = "成" if cshogi.move_is_promotion(move) else "不成" if _could_promote(legal, move) else ""
    return f"{head}{dest}{_JAPANESE[pt]}{modifier}{suffix}"


def names(pos: Game | cshogi.Board, move: int, prev_move: int | None = None) -> dict[str, str]:
    """All three names of a legal move, as the `move` message carries them: {"usi", "western", "japanese"}."""
    return {"usi": usi(move), "western": western(pos, move), "japanese": japanese(pos, move, prev_move)}


# --- parsing ------------------------------------------------------------------------------------------


def parse_move(pos: Game | cshogi.Board, text: str) -> int:
    """The unique legal move `text` names in `pos` (see the module docstring for the forms read).

    Raises MoveParseError: "unparseable" for text in none of the forms, "illegal" for a well-formed move
    that no legal move matches (the message says why), "ambiguous" when several legal moves match.
    """
    if not isinstance(text, str):
        raise MoveParseError("unparseable", f"expected a move as text, got {type(text).__name__}")
    board, prev = _context(pos)
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    if not compact:
        raise MoveParseError("unparseable", f"empty move; type a move in {_ACCEPTED}")
    stripped = text.strip()
    shown = stripped if len(stripped) <= 24 else stripped[:21] + "..."  # echoed back to the viewer
    if isinstance(pos, Game) and pos.is_over:
        raise MoveParseError("illegal", f"{shown}: the game is over ({pos.outcome.reason})")
    legal = pos.legal_moves() if isinstance(pos, Game) else list(board.legal_moves)
    parser = _Parser(board, legal, prev, shown)
    if m := _USI_MOVE_RE.fullmatch(compact):
        return parser.usi_move(m)
    if m := _USI_DROP_RE.fullmatch(compact):
        return parser.drop(_WESTERN_TO_TYPE[m.group(1).upper()], _square(int(m.group(2)), _rank(m.group(3))))
    if m := _WESTERN_RE.fullmatch(compact):
        return parser.western(m)
    if m := _JAPANESE_RE.fullmatch(compact):
        return parser.japanese(m)
    raise MoveParseError("unparseable", f"cannot read {shown!r} as a move; type {_ACCEPTED}")


def _rank(ch: str) -> int:
    """Rank 1..9 from a USI/western letter, an ASCII digit or a kanji numeral."""
    if ch.isdigit():
        return int(ch)
    if ch in _KANJI_DIGITS:
        return _KANJI_DIGITS.index(ch)
    return _RANK_LETTERS.index(ch.lower()) + 1


class _Parser:
    """One parse: the position, its legal moves, and how to say why an input fails."""

    def __init__(self, board: cshogi.Board, legal: list[int], prev: int, shown: str):
        self.board = board
        self.legal = legal
        self.prev = prev
        self.shown = shown
        self.turn = board.turn
        self.sq_name = _west_sq

    # -- the three forms --
    def usi_move(self, m: re.Match[str]) -> int:
        frm = _square(int(m.group(1)), _rank(m.group(2)))
        to = _square(int(m.group(3)), _rank(m.group(4)))
        promote = bool(m.group(5))
        for move in self.legal:
            if (
                not cshogi.move_is_drop(move)
                and cshogi.move_from(move) == frm
                and cshogi.move_to(move) == to
                and cshogi.move_is_promotion(move) == promote
            ):
                return move
        raise self._board_move_error(frm, to, promote)

    def western(self, m: re.Match[str]) -> int:
        piece, ofile, orank, sep, dfile, drank, suffix = m.groups()
        pt = _WESTERN_TO_TYPE[piece.upper()]
        to = _square(int(dfile), _rank(drank))
        if sep == "*":
            if ofile:
                raise MoveParseError(
                    "unparseable", f"{self.shown}: a drop comes from the hand, so it has no origin square"
                )
            if suffix == "+":
                raise MoveParseError("illegal", f"{self.shown}: dropped pieces cannot promote")
            return self.drop(pt, to)
        origin = _square(int(ofile), _rank(orank)) if ofile else None
        candidates = self._board_candidates(pt, to, origin)
        if not candidates and origin is None and not sep and pt in _TYPE_TO_HAND:
            # `P5e` with no pawn able to move there: the only sensible reading is the drop.
            drops = self._drops(pt, to)
            if drops and suffix != "+":
                return drops[0]
        promote = {"+": True, "=": False}.get(suffix)
        return self._choose(candidates, pt, to, origin, promote, self._western_names)

    def japanese(self, m: re.Match[str]) -> int:
        dfile, drank, same, name, relative, motion, suffix, ofile, orank = m.groups()
        self.sq_name = _jp_sq
        pt = _JAPANESE_TO_TYPE[_JAPANESE_ALIASES.get(name, name)]
        if same:
            if not self.prev:
                raise MoveParseError(
                    "illegal",
                    f"{self.shown}: 同 means the previous move's square, but no move has been played yet",
                )
            to = cshogi.move_to(self.prev)
        else:
            to = _square(int(dfile), _rank(drank))
        if suffix == "打":
            if relative or motion or ofile:
                raise MoveParseError(
                    "unparseable", f"{self.shown}: a drop (打) takes no 左 右 直 上 引 寄 or origin"
                )
            return self.drop(pt, to)
        origin = _square(int(ofile), int(orank)) if ofile else None
        candidates = self._board_candidates(pt, to, origin)
        if candidates and (relative or motion):
            origins = sorted({cshogi.move_from(c) for c in candidates})
            kept = _select(origins, to, self.turn, relative, motion)
            if not kept:
                raise MoveParseError(
                    "illegal",
                    f"{self.shown}: no {_ENGLISH[pt]} that {relative}{motion} describes can move to "
                    f"{_jp_sq(to)}; candidates: {', '.join(self._japanese_names(candidates))}",
                )
            candidates = [c for c in candidates if cshogi.move_from(c) in kept]
        if not candidates and not (relative or motion or origin is not None or suffix):
            drops = self._drops(pt, to)
            if drops:  # KI2: without 打, a drop is meant only when no board piece of the kind can get there
                return drops[0]
        promote = {"成": True, "不成": False, "生": False}.get(suffix or "")
        return self._choose(candidates, pt, to, origin, promote, self._japanese_names)

    def drop(self, pt: int, to: int) -> int:
        drops = self._drops(pt, to)
        if drops:
            return drops[0]
        raise MoveParseError("illegal", f"{self.shown}: {self._drop_reason(pt, to)}")

    # -- matching --
    def _board_candidates(self, pt: int, to: int, origin: int | None) -> list[int]:
        return [
            m
            for m in self.legal
            if not cshogi.move_is_drop(m)
            and cshogi.move_to(m) == to
            and cshogi.move_from_piece_type(m) == pt
            and (origin is None or cshogi.move_from(m) == origin)
        ]

    def _drops(self, pt: int, to: int) -> list[int]:
        if pt not in _TYPE_TO_HAND:
            return []
        hand = _TYPE_TO_HAND[pt]
        return [
            m
            for m in self.legal
            if cshogi.move_is_drop(m) and cshogi.move_to(m) == to and cshogi.move_drop_hand_piece(m) == hand
        ]

    def _choose(
        self,
        candidates: list[int],
        pt: int,
        to: int,
        origin: int | None,
        promote: bool | None,
        name_all: Callable[[list[int]], list[str]],
    ) -> int:
        """Apply the promotion choice to board-move candidates and insist on exactly one result."""
        if not candidates:
            raise self._piece_error(pt, to, origin)
        chosen = (
            candidates
            if promote is None
            else [c for c in candidates if cshogi.move_is_promotion(c) == promote]
        )
        if not chosen:
            what = _ENGLISH[pt]
            if promote:
                reason = f"the {what} cannot promote on this move"
            else:
                reason = f"the {what} must promote on this move (it could never move again otherwise)"
            raise MoveParseError("illegal", f"{self.shown}: {reason}")
        if len(chosen) == 1:
            return chosen[0]
        origins = {cshogi.move_from(c) for c in chosen}
        names_ = name_all(chosen)
        if len(origins) > 1:
            message = (
                f"{self.shown} is ambiguous: {len(origins)} {_ENGLISH[pt]}s can move to {self.sq_name(to)}; "
                f"say which: {' or '.join(names_)}"
            )
        else:
            message = f"{self.shown} is ambiguous: promote or not? say {' or '.join(names_)}"
        raise MoveParseError("ambiguous", message, [cshogi.move_to_usi(c) for c in chosen])

    def _western_names(self, moves: list[int]) -> list[str]:
        # western() spells the origin out whenever several pieces of the kind reach the square, so the
        # names of the candidates always differ.
        return [western(self.board, m) for m in moves]

    def _japanese_names(self, moves: list[int]) -> list[str]:
        return [japanese(self.board, m, self.prev, mark=False) for m in moves]

    # -- reasons --
    def _board_move_error(self, frm: int, to: int, promote: bool) -> MoveParseError:
        piece = self.board.piece(frm)
        where = self.sq_name(frm)
        if piece == cshogi.NONE:
            return MoveParseError("illegal", f"{self.shown}: there is no piece on {where}")
        if (piece >= cshogi.WPAWN) != (self.turn != BLACK):
            owner, mover = _SIDE[1 - self.turn], _SIDE[self.turn]
            return MoveParseError(
                "illegal", f"{self.shown}: the piece on {where} is {owner}'s; {mover} is to move"
            )
        pt = cshogi.piece_to_piece_type(piece)
        if self._board_candidates(pt, to, frm):
            verb = "cannot promote" if promote else "must promote"
            reason = f"the {_ENGLISH[pt]} on {where} {verb} on that move"
        elif self._pseudo(
            lambda m: not cshogi.move_is_drop(m) and cshogi.move_from(m) == frm and cshogi.move_to(m) == to
        ):
            reason = self._king_reason()
        else:
            reason = f"the {_ENGLISH[pt]} on {where} cannot move to {self.sq_name(to)}"
        return MoveParseError("illegal", f"{self.shown}: {reason}")

    def _piece_error(self, pt: int, to: int, origin: int | None) -> MoveParseError:
        what, dest = _ENGLISH[pt], self.sq_name(to)
        if origin is not None:
            piece = self.board.piece(origin)
            mine = piece != cshogi.NONE and (piece >= cshogi.WPAWN) == (self.turn != BLACK)
            if not mine or cshogi.piece_to_piece_type(piece) != pt:
                reason = f"there is no {_SIDE[self.turn]} {what} on {self.sq_name(origin)}"
                return MoveParseError("illegal", f"{self.shown}: {reason}")

        def reaches(m: int) -> bool:
            return (
                not cshogi.move_is_drop(m)
                and cshogi.move_to(m) == to
                and cshogi.move_from_piece_type(m) == pt
                and (origin is None or cshogi.move_from(m) == origin)
            )

        if self._pseudo(reaches):
            reason = self._king_reason()
        elif origin is not None:
            reason = f"the {what} on {self.sq_name(origin)} cannot move to {dest}"
        else:
            reason = f"no {what} can move to {dest}"
        return MoveParseError("illegal", f"{self.shown}: {reason}")

    def _pseudo(self, test: Callable[[int], bool]) -> bool:
        """Whether some move passing `test` obeys piece movement but fails only on king safety."""
        return any(test(m) for m in self.board.pseudo_legal_moves)

    def _king_reason(self) -> str:
        if self.board.is_check():
            return f"{_SIDE[self.turn]} is in check and that move does not answer it"
        return f"that move would leave {_SIDE[self.turn]}'s king in check"

    def _drop_reason(self, pt: int, to: int) -> str:
        what, dest, side = _ENGLISH[pt], self.sq_name(to), _SIDE[self.turn]
        if pt not in _TYPE_TO_HAND:
            return f"a {what} cannot be dropped (only unpromoted pieces are held in hand)"
        if self.board.pieces_in_hand[self.turn][_TYPE_TO_HAND[pt]] == 0:
            return f"{side} has no {what} in hand"
        if self.board.piece(to) != cshogi.NONE:
            return f"{dest} is occupied"
        rank_ahead = _view(to, self.turn)[1]  # 0 = the far rank for the dropping side
        if (pt in (cshogi.PAWN, cshogi.LANCE) and rank_ahead == 0) or (
            pt == cshogi.KNIGHT and rank_ahead <= 1
        ):
            return f"a {what} dropped on {dest} could never move"
        if pt == cshogi.PAWN:
            own_pawn = cshogi.BPAWN if self.turn == BLACK else cshogi.WPAWN
            file = to // 9
            if any(self.board.piece(file * 9 + r) == own_pawn for r in range(9)):
                return f"{side} already has a pawn on file {file + 1} (nifu)"
            # A pawn dropped right in front of the enemy king gives check; refused while not in check
            # ourselves, that can only be because it would be mate.
            ahead = to - 1 if self.turn == BLACK else to + 1
            if ahead == self.board.king_square(1 - self.turn) and not self.board.is_check():
                return "a pawn drop may not give checkmate (uchifuzume)"
        return self._king_reason()
