"""Game records in KIF and CSA: export of a `Game` with its result, and import back into a `Game`.

Export writes what the game knows: names, the initial position (手合割：平手 / `PI` for the start, a BOD
board diagram / P1..P9 lines otherwise), every move, and an ending derived from `game.outcome`:

    reason            KIF ending line, summary                  CSA
    checkmate         詰み, まで N手で先手の勝ち                 %TSUMI
    no_legal_moves    詰み (the side to move has no move)       %TSUMI
    sennichite        千日手, まで N手で千日手                   %SENNICHITE
    perpetual_check   反則負け + *連続王手の千日手, ...の反則負け  %OUTE_SENNICHITE
    entering_king     入玉勝ち, まで N手で先手の入玉勝ち          %KACHI
    max_plies         中断, まで N手で中断                       %CHUDAN
    (game not over)   no ending                                 no ending

A game decided outside the rules (`to_kif(..., decided=...)`: a match engine resigning or forfeiting on
its turn) ends in 投了, まで N手で先手の勝ち, or 反則負け, まで N手で後手の反則負け.

Import parses the text itself (cshogi's KIF reader ignores BOD diagrams and turns unreadable moves into
nothing, and its CSA reader turns illegal moves into a null move), then replays every move through `Game`,
so each one is checked legal; any line that cannot be read or played raises `RecordError` naming it. The
result and reason come from the file's ending; besides the reasons of `showcase_core.shogi.game`, records
written elsewhere can end in `resign`, `time_up`, `illegal_move` or `impasse` (持将棋).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import cshogi
import cshogi.KIF

from showcase_core.shogi.game import (
    BLACK,
    CHECKMATE,
    DEFAULT_MAX_PLIES,
    ENTERING_KING,
    MAX_PLIES,
    NO_LEGAL_MOVES,
    PERPETUAL_CHECK,
    SENNICHITE,
    STARTING_SFEN,
    WHITE,
    Game,
    IllegalMoveError,
    SfenError,
)

# Endings that only records written elsewhere carry (our games never resign or run out of time).
RESIGN = "resign"
TIME_UP = "time_up"
ILLEGAL_MOVE = "illegal_move"
IMPASSE = "impasse"

_KIF_SIDE = ("先手", "後手")
_FULLWIDTH_DIGITS = "０１２３４５６７８９"
_KANJI_DIGITS = "〇一二三四五六七八九"
# Indexed by cshogi piece type: P L N S B R G K +P +L +N +S +B +R = 1..14.
_KIF_PIECES = ("", "歩", "香", "桂", "銀", "角", "飛", "金", "玉", "と", "成香", "成桂", "成銀", "馬", "龍")
_CSA_PIECES = ("", "FU", "KY", "KE", "GI", "KA", "HI", "KI", "OU", "TO", "NY", "NK", "NG", "UM", "RY")
_SFEN_PIECES = ("", "P", "L", "N", "S", "B", "R", "G", "K", "+P", "+L", "+N", "+S", "+B", "+R")
_PROMOTED = {1: 9, 2: 10, 3: 11, 4: 12, 5: 13, 6: 14}  # base type -> promoted type
# Hands are written strongest first, as SFEN and BOD both do; pieces_in_hand is indexed P L N S G B R.
_HAND_ORDER = (6, 5, 4, 3, 2, 1, 0)
_HAND_TYPES = (1, 2, 3, 4, 7, 5, 6)  # hand index -> piece type

_KIF_PIECE_TYPES = {name: pt for pt, name in enumerate(_KIF_PIECES) if name} | {
    "王": 8,
    "竜": 14,
    "杏": 10,
    "圭": 11,
    "全": 12,
}
_CSA_PIECE_TYPES = {code: pt for pt, code in enumerate(_CSA_PIECES) if code}
_BOD_CELL = {" ・": None} | {
    f"{owner}{name}": (pt, color)
    for name, pt in _KIF_PIECE_TYPES.items()
    if len(name) == 1
    for owner, color in ((" ", BLACK), ("v", WHITE))
}

_KIF_ENDINGS = (
    "投了",
    "中断",
    "千日手",
    "詰み",
    "持将棋",
    "切れ負け",
    "反則勝ち",
    "反則負け",
    "入玉勝ち",
    "宣言勝ち",
)
_KIF_MOVE_RE = re.compile(
    r"(?:([1-9])([一二三四五六七八九])|同)(成香|成桂|成銀|[歩香桂銀金角飛玉王と杏圭全馬竜龍])(成|不成|生)?"
    r"(?:(打)|\(([1-9])([1-9])\))"
)
# [0-9], not \d: \d also matches the full-width digits of the BOD header row.
_KIF_LINE_RE = re.compile(r"\s*([0-9]+)\s+(.*?)\s*(?:\(\s*[0-9:]+\s*/\s*[0-9:]+\s*\))?\s*\+?\s*")
_KIF_SUMMARY_RE = re.compile(
    r"まで、?(\d+)手で(?:.*?により)?(?:(先手|後手|下手|上手)の(勝ち|入玉勝ち|反則勝ち|反則負け)|(千日手|持将棋|中断))"
)
_CSA_MOVE_RE = re.compile(r"([+-])([0-9])([0-9])([1-9])([1-9])([A-Z]{2})")


class RecordError(ValueError):
    """A KIF or CSA text that cannot be read or replayed; the message names the line (`line`, 1-based)."""

    def __init__(self, line: int | None, text: str, reason: str):
        where = "" if line is None else f"line {line}: " + (f"{text.strip()!r}: " if text.strip() else "")
        super().__init__(where + reason)
        self.line = line


@dataclass
class Record:
    """A game read from a record: the replayed `Game`, the players, and the ending the file states.

    `result` is "black", "white", "draw", "truncated" or None (no ending written); `reason` is one of the
    game's reasons or RESIGN / TIME_UP / ILLEGAL_MOVE / IMPASSE, or None.
    """

    game: Game
    black: str | None = None
    white: str | None = None
    result: str | None = None
    reason: str | None = None
    started: datetime | None = None


# --- shared pieces of export ---------------------------------------------------------------------------


def _one_line(name: str) -> str:
    """Names go into a single header line; a newline in one would break the file."""
    return " ".join(str(name).split())


def _initial_move_number(game: Game) -> int:
    return int(game.initial_sfen.split()[3])


def _result_of(winner: int | None) -> str:
    return {BLACK: "black", WHITE: "white", None: "draw"}[winner]


# --- KIF -----------------------------------------------------------------------------------------------


def _kif_square(sq: int) -> str:
    return f"{_FULLWIDTH_DIGITS[sq // 9 + 1]}{_KANJI_DIGITS[sq % 9 + 1]}"


def _kif_move(move: int, prev: int) -> str:
    """KIF move text: destination (or 同　), the piece before moving, 成, then 打 or the origin."""
    to = cshogi.move_to(move)
    dest = "同　" if prev and cshogi.move_to(prev) == to else _kif_square(to)
    if cshogi.move_is_drop(move):
        return f"{dest}{_KIF_PIECES[_HAND_TYPES[cshogi.move_drop_hand_piece(move)]]}打"
    frm = cshogi.move_from(move)
    promote = "成" if cshogi.move_is_promotion(move) else ""
    return f"{dest}{_KIF_PIECES[cshogi.move_from_piece_type(move)]}{promote}({frm // 9 + 1}{frm % 9 + 1})"


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _kif_line(number: int, text: str) -> str:
    # The clock is not recorded, so every time reads zero; the column stays because KIF readers expect it.
    pad = " " * max(1, 13 - _display_width(text))
    return f"{number:>4} {text}{pad}( 0:00/00:00:00)"


def _kanji_count(n: int) -> str:
    return ("十" if n >= 10 else "") + (_KANJI_DIGITS[n % 10] if n % 10 else "")


def _bod_hand(board: cshogi.Board, color: int) -> str:
    hand = board.pieces_in_hand[color]
    items = [
        _KIF_PIECES[_HAND_TYPES[i]] + (_kanji_count(hand[i]) if hand[i] > 1 else "")
        for i in _HAND_ORDER
        if hand[i]
    ]
    return "　".join(items) if items else "なし"


def _bod(sfen: str) -> list[str]:
    """A BOD board diagram of a position (the form KIF uses for any position but the start)."""
    board = cshogi.Board(sfen)
    lines = [f"後手の持駒：{_bod_hand(board, WHITE)}", "  ９ ８ ７ ６ ５ ４ ３ ２ １", "+" + "-" * 27 + "+"]
    for rank in range(9):
        cells = []
        for file in range(8, -1, -1):
            piece = board.piece(file * 9 + rank)
            if piece == cshogi.NONE:
                cells.append(" ・")
            else:
                owner = "v" if piece >= cshogi.WPAWN else " "
                cells.append(owner + "・歩香桂銀角飛金玉と杏圭全馬龍"[cshogi.piece_to_piece_type(piece)])
        lines.append("|" + "".join(cells) + "|" + _KANJI_DIGITS[rank + 1])
    lines.append("+" + "-" * 27 + "+")
    lines.append(f"先手の持駒：{_bod_hand(board, BLACK)}")
    number = int(sfen.split()[3])
    if number > 1:
        lines.append(f"手数＝{number - 1}")  # moves played before this position; keeps the SFEN move number
    if board.turn == WHITE:
        lines.append("後手番")
    return lines


def _kif_ending(game: Game) -> tuple[str, str, str | None] | None:
    """(ending word, summary line, comment or None) for a finished game, None while it goes on."""
    outcome = game.outcome
    if outcome is None:
        return None
    n = game.ply
    if outcome.reason in (CHECKMATE, NO_LEGAL_MOVES):
        return "詰み", f"まで{n}手で{_KIF_SIDE[outcome.winner]}の勝ち", None
    if outcome.reason == SENNICHITE:
        return "千日手", f"まで{n}手で千日手", None
    if outcome.reason == PERPETUAL_CHECK:
        loser = _KIF_SIDE[1 - outcome.winner]
        return "反則負け", f"まで{n}手で{loser}の反則負け", "連続王手の千日手"
    if outcome.reason == ENTERING_KING:
        return "入玉勝ち", f"まで{n}手で{_KIF_SIDE[outcome.winner]}の入玉勝ち", None
    if outcome.reason == MAX_PLIES:
        return "中断", f"まで{n}手で中断", None
    raise ValueError(f"no KIF ending for reason {outcome.reason!r}")


def _kif_decided(game: Game, decided: str) -> tuple[str, str, None]:
    n, to_move = game.ply, game.turn
    if decided == RESIGN:
        return "投了", f"まで{n}手で{_KIF_SIDE[1 - to_move]}の勝ち", None
    if decided == ILLEGAL_MOVE:
        return "反則負け", f"まで{n}手で{_KIF_SIDE[to_move]}の反則負け", None
    raise ValueError(f"no KIF ending for a game decided by {decided!r}")


def to_kif(
    game: Game,
    *,
    black: str = "Black",
    white: str = "White",
    started: datetime | None = None,
    decided: str | None = None,
) -> str:
    """The game as KIF text (UTF-8), with its ending when it is over. `started` is left out when None.
    `decided` ends a game the rules did not: RESIGN (投了) or ILLEGAL_MOVE (反則負け) by the side to move
    (a showcase match's engine resigning or forfeiting on its turn)."""
    lines = ["#KIF version=2.0 encoding=UTF-8"]
    if started is not None:
        lines.append(f"開始日時：{started:%Y/%m/%d %H:%M:%S}")
    if game.initial_sfen == STARTING_SFEN:
        lines.append("手合割：平手")
    else:
        lines.extend(_bod(game.initial_sfen))
    lines += [f"先手：{_one_line(black)}", f"後手：{_one_line(white)}", "手数----指手---------消費時間--"]
    prev = 0
    for i, move in enumerate(game.moves, start=1):
        lines.append(_kif_line(i, _kif_move(move, prev)))
        prev = move
    ending = _kif_ending(game) if decided is None else _kif_decided(game, decided)
    if ending is not None:
        word, summary, comment = ending
        lines.append(_kif_line(game.ply + 1, word))
        if comment:
            lines.append(f"*{comment}")
        lines.append(summary)
    return "\n".join(lines) + "\n"


def _kanji_number(text: str) -> int | None:
    """一..十八 as used for hand counts; None when it is not one."""
    if not text:
        return 1
    if text.startswith("十"):
        rest = text[1:]
        if not rest:
            return 10
        return 10 + _KANJI_DIGITS.index(rest) if len(rest) == 1 and rest in _KANJI_DIGITS[1:] else None
    return _KANJI_DIGITS.index(text) if len(text) == 1 and text in _KANJI_DIGITS[1:] else None


def _parse_bod_hand(value: str) -> dict[int, int] | None:
    """Pieces in hand as {piece type: count}, or None when the text is not a hand."""
    value = value.strip()
    if value in ("なし", ""):
        return {}
    hand: dict[int, int] = {}
    for item in value.replace("　", " ").split():
        pt = _KIF_PIECE_TYPES.get(item[0])
        count = _kanji_number(item[1:])
        if pt is None or pt not in _HAND_TYPES or count is None:
            return None
        hand[pt] = hand.get(pt, 0) + count
    return hand


def _sfen_hands(hands: tuple[dict[int, int], dict[int, int]]) -> str:
    out = ""
    for color, case in ((BLACK, str.upper), (WHITE, str.lower)):
        for i in _HAND_ORDER:
            pt = _HAND_TYPES[i]
            n = hands[color].get(pt, 0)
            if n:
                out += (str(n) if n > 1 else "") + case(_SFEN_PIECES[pt])
    return out or "-"


def _sfen_board(cells: list[tuple[int, int] | None]) -> str:
    """SFEN board field from 81 cells indexed rank-major from rank 1, file 9 first."""
    rows = []
    for rank in range(9):
        row, empty = "", 0
        for cell in cells[rank * 9 : rank * 9 + 9]:
            if cell is None:
                empty += 1
                continue
            if empty:
                row += str(empty)
                empty = 0
            pt, color = cell
            row += _SFEN_PIECES[pt] if color == BLACK else _SFEN_PIECES[pt].lower()
        rows.append(row + (str(empty) if empty else ""))
    return "/".join(rows)


@dataclass
class _Parsed:
    """What a record's text says, before the moves are replayed."""

    sfen: str = STARTING_SFEN
    sfen_line: int | None = None
    black: str | None = None
    white: str | None = None
    started: datetime | None = None
    moves: list[tuple[int, str, re.Match[str]]] = field(default_factory=list)  # (line no., text, move match)
    ending: str | None = None
    ending_line: int | None = None
    summary_winner: int | None = None
    summary_word: str | None = None
    perpetual_comment: bool = False


def _parse_started(value: str) -> datetime | None:
    for fmt in ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d"):
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def _split_lines(text: str) -> list[str]:
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _read_kif(text: str) -> _Parsed:
    parsed = _Parsed()
    moves = parsed.moves
    bod_rows: list[tuple[int, str]] = []
    hands: list[dict[int, int]] = [{}, {}]
    turn = BLACK
    played_before = 0
    handicap: tuple[int, str] | None = None
    expected_number: int | None = None
    for number, raw in enumerate(_split_lines(text), start=1):
        line = raw.rstrip()
        if not line.strip() or line.startswith(("#", "&")):
            continue
        if line.startswith("*"):
            if parsed.ending is not None and "連続王手" in line:
                parsed.perpetual_comment = True
            continue
        if line.startswith("変化："):
            break  # variations follow the main line; only the main line is read
        if line.startswith("まで"):
            m = _KIF_SUMMARY_RE.match(line)
            if m is None:
                raise RecordError(
                    number, line, "cannot read the result line (expected e.g. まで64手で先手の勝ち)"
                )
            if m.group(2):
                side = BLACK if m.group(2) in ("先手", "下手") else WHITE
                # The summary names the winner, except in 反則負け where it names the loser.
                parsed.summary_winner = 1 - side if m.group(3) == "反則負け" else side
                parsed.summary_word = m.group(3)
            else:
                parsed.summary_word = m.group(4)
            break
        if parsed.ending is None and (m := _KIF_LINE_RE.fullmatch(line)):
            ply = int(m.group(1))
            if expected_number is not None and ply != expected_number:
                raise RecordError(number, line, f"expected move number {expected_number}")
            expected_number = ply + 1
            body = "".join(unicodedata.normalize("NFKC", m.group(2)).split())
            if body in _KIF_ENDINGS:
                parsed.ending, parsed.ending_line = body, number
                continue
            mv = _KIF_MOVE_RE.fullmatch(body)
            if mv is None:
                raise RecordError(
                    number, line, "cannot read this move (expected e.g. ７六歩(77), 同　歩(34), ５五角打)"
                )
            moves.append((number, line, mv))
            continue
        if parsed.ending is not None or moves:
            raise RecordError(number, line, "unexpected line after the moves began")
        if line.startswith("|"):
            bod_rows.append((number, line))
            continue
        if line.startswith("+--") or re.fullmatch(r"\s*９\s*８\s*７\s*６\s*５\s*４\s*３\s*２\s*１\s*", line):
            continue
        if line.strip() in ("後手番", "上手番"):
            turn = WHITE
            continue
        if line.strip() in ("先手番", "下手番"):
            turn = BLACK
            continue
        if m := re.match(r"手数＝\s*(\d+)", line):
            played_before = int(m.group(1))
            continue
        if line.startswith("手数-"):
            continue
        if "：" in line:
            key, value = line.split("：", 1)
            key, value = key.strip(), value.strip()
            if key in ("先手", "下手"):
                parsed.black = value
            elif key in ("後手", "上手"):
                parsed.white = value
            elif key == "開始日時":
                parsed.started = _parse_started(value)
            elif key == "手合割":
                handicap = (number, value)
            elif key.endswith("の持駒"):
                hand = _parse_bod_hand(value)
                if hand is None:
                    raise RecordError(
                        number, line, "cannot read the pieces in hand (expected e.g. 飛　角　歩二, or なし)"
                    )
                hands[BLACK if key[:2] in ("先手", "下手") else WHITE] = hand
            continue  # other headers (棋戦, 場所, ...) carry nothing the game needs
        raise RecordError(number, line, "cannot read this line as a KIF header, board row or move")

    if bod_rows:
        parsed.sfen, parsed.sfen_line = _bod_sfen(bod_rows, hands, turn, played_before), bod_rows[0][0]
    elif handicap is not None:
        line_no, value = handicap
        sfen = cshogi.KIF.Parser.HANDYCAP_SFENS.get(value)
        if sfen is None:
            raise RecordError(
                line_no, f"手合割：{value}", "unknown handicap and no board diagram to take it from"
            )
        parsed.sfen, parsed.sfen_line = sfen, line_no
    return parsed


def _bod_sfen(rows: list[tuple[int, str]], hands: list[dict[int, int]], turn: int, played_before: int) -> str:
    if len(rows) != 9:
        raise RecordError(rows[0][0], rows[0][1], f"a board diagram needs 9 rows, found {len(rows)}")
    cells: list[tuple[int, int] | None] = []
    for number, line in rows:
        m = re.fullmatch(r"\|(.{18})\|.*", line)
        if m is None:
            raise RecordError(number, line, "a board row needs 9 cells of 2 characters between | and |")
        for i in range(0, 18, 2):
            cell = m.group(1)[i : i + 2]
            if cell not in _BOD_CELL:
                raise RecordError(number, line, f"unknown board cell {cell!r}")
            cells.append(_BOD_CELL[cell])
    side = "b" if turn == BLACK else "w"
    return f"{_sfen_board(cells)} {side} {_sfen_hands((hands[0], hands[1]))} {played_before + 1}"


def _kif_to_usi(match: re.Match[str], prev_to: int | None) -> tuple[str, int, int | None]:
    """(USI, destination, origin or None) of a KIF move; raises ValueError for 同 with no previous move."""
    dfile, drank, name, promote, drop, ofile, orank = match.groups()
    if dfile:
        to = (int(dfile) - 1) * 9 + _KANJI_DIGITS.index(drank) - 1
    elif prev_to is None:
        raise ValueError("同 needs a previous move")
    else:
        to = prev_to
    pt = _KIF_PIECE_TYPES[name]
    dest = cshogi.SQUARE_NAMES[to]
    if drop:
        if pt not in _HAND_TYPES or promote:
            raise ValueError(f"{name} cannot be dropped")
        return f"{_SFEN_PIECES[pt]}*{dest}", to, None
    frm = (int(ofile) - 1) * 9 + int(orank) - 1
    return f"{cshogi.SQUARE_NAMES[frm]}{dest}{'+' if promote == '成' else ''}", to, frm


_ToUsi = Callable[[Game, re.Match[str], dict[str, int | None]], str]


def _replay(parsed: _Parsed, max_plies: int | None, to_usi: _ToUsi) -> Game:
    """Build the Game from the parsed text and play every move through it, naming the line that fails."""
    n_moves = len(parsed.moves)
    if max_plies is None:
        # A truncated game is replayed with the cap it ended on, so it ends truncated again.
        truncated = parsed.ending in ("中断", "%CHUDAN", "%MAX_MOVES") or parsed.summary_word == "中断"
        max_plies = n_moves if truncated and n_moves else max(DEFAULT_MAX_PLIES, n_moves)
    try:
        game = Game(parsed.sfen, max_plies=max_plies)
    except SfenError as e:
        raise RecordError(parsed.sfen_line, "", f"invalid initial position: {e}") from None
    state: dict[str, int | None] = {"prev_to": None}
    for number, line, token in parsed.moves:
        try:
            usi = to_usi(game, token, state)
            game.push_usi(usi)
        except (ValueError, IllegalMoveError) as e:
            raise RecordError(number, line, str(e)) from None
    return game


def _kif_usi(game: Game, token: re.Match[str], state: dict[str, int | None]) -> str:
    usi, to, frm = _kif_to_usi(token, state["prev_to"])
    if frm is not None:
        # The piece named must be the one standing on the origin, or the file is not what it claims.
        piece = game.board.piece(frm)
        named = _KIF_PIECE_TYPES[token.group(3)]
        if piece == cshogi.NONE or cshogi.piece_to_piece_type(piece) != named:
            raise ValueError(f"there is no {token.group(3)} on {frm // 9 + 1}{frm % 9 + 1}")
    state["prev_to"] = to
    return usi


def _ending_result(
    game: Game, word: str | None, summary_winner: int | None, perpetual: bool
) -> tuple[str | None, str | None]:
    """(result, reason) from a normalised ending word and the winner a summary line states."""
    if word is None:
        return None, None
    to_move, last_mover = game.turn, 1 - game.turn
    outcome = game.outcome
    if word == "tsumi":
        reason = CHECKMATE if game.in_check else NO_LEGAL_MOVES
        winner = last_mover
    elif word == "sennichite":
        return "draw", SENNICHITE
    elif word == "impasse":
        return "draw", IMPASSE
    elif word == "draw":
        return "draw", None
    elif word == "truncated":
        return "truncated", MAX_PLIES
    elif word == "perpetual":
        reason = PERPETUAL_CHECK
        # The record does not say who checked; the replay does (usually the side that moved last).
        winner = outcome.winner if outcome is not None and outcome.reason == PERPETUAL_CHECK else to_move
    elif word == "illegal_lose":
        # 反則負け / %ILLEGAL_MOVE: the side to move lost by an illegal act the record does not show,
        # unless the comment or the replay says it is the perpetual check of the side that moved last.
        replay_perpetual = outcome is not None and outcome.reason == PERPETUAL_CHECK
        if perpetual or replay_perpetual:
            reason = PERPETUAL_CHECK
            winner = outcome.winner if replay_perpetual else to_move
        else:
            reason, winner = ILLEGAL_MOVE, last_mover
    elif word == "illegal_win":
        reason, winner = ILLEGAL_MOVE, to_move
    elif word in ("black_illegal", "white_illegal"):
        reason, winner = ILLEGAL_MOVE, (WHITE if word == "black_illegal" else BLACK)
    elif word == "resign":
        reason, winner = RESIGN, last_mover
    elif word == "time_up":
        reason, winner = TIME_UP, last_mover
    elif word == "entering_king":
        reason, winner = ENTERING_KING, to_move
    else:
        raise ValueError(f"unknown ending {word!r}")
    if summary_winner is not None:
        winner = summary_winner
    return _result_of(winner), reason


_KIF_ENDING_WORDS = {
    "詰み": "tsumi",
    "投了": "resign",
    "切れ負け": "time_up",
    "千日手": "sennichite",
    "持将棋": "impasse",
    "中断": "truncated",
    "入玉勝ち": "entering_king",
    "宣言勝ち": "entering_king",
    "反則負け": "illegal_lose",
    "反則勝ち": "illegal_win",
}
_KIF_SUMMARY_WORDS = {
    "千日手": "sennichite",
    "持将棋": "impasse",
    "中断": "truncated",
    "入玉勝ち": "entering_king",
    "反則負け": "illegal_lose",
    "反則勝ち": "illegal_win",
}


def from_kif(text: str, *, max_plies: int | None = None) -> Record:
    """Read a KIF record (start position, handicap or BOD diagram) and replay it through `Game`.

    `max_plies` caps the replayed game; by default a record ending in 中断 gets its own length as the cap
    (so it ends truncated again) and any other gets the default cap, raised to fit every move.
    """
    parsed = _read_kif(text)
    game = _replay(parsed, max_plies, _kif_usi)
    word = _KIF_ENDING_WORDS.get(parsed.ending) if parsed.ending else None
    if word is None and parsed.summary_word is not None:
        word = _KIF_SUMMARY_WORDS.get(parsed.summary_word)
        if word is None and parsed.summary_winner is not None:
            # "まで N手で先手の勝ち" alone: a mate if the replay ends in one, otherwise a resignation.
            word = "tsumi" if game.outcome is not None and game.outcome.reason == CHECKMATE else "resign"
    try:
        result, reason = _ending_result(game, word, parsed.summary_winner, parsed.perpetual_comment)
    except ValueError as e:
        raise RecordError(parsed.ending_line, parsed.ending or "", str(e)) from None
    return Record(game, parsed.black, parsed.white, result, reason, parsed.started)


# --- CSA -----------------------------------------------------------------------------------------------

_CSA_ENDINGS = {
    "%TSUMI": "tsumi",
    "%TORYO": "resign",
    "%TIME_UP": "time_up",
    "%SENNICHITE": "sennichite",
    "%OUTE_SENNICHITE": "perpetual",
    "%JISHOGI": "impasse",
    "%HIKIWAKE": "draw",
    "%KACHI": "entering_king",
    "%CHUDAN": "truncated",
    "%MAX_MOVES": "truncated",
    "%ILLEGAL_MOVE": "illegal_lose",
    "%+ILLEGAL_ACTION": "black_illegal",
    "%-ILLEGAL_ACTION": "white_illegal",
}


def _csa_ending(game: Game) -> str | None:
    outcome = game.outcome
    if outcome is None:
        return None
    return {
        CHECKMATE: "%TSUMI",
        NO_LEGAL_MOVES: "%TSUMI",
        SENNICHITE: "%SENNICHITE",
        PERPETUAL_CHECK: "%OUTE_SENNICHITE",
        ENTERING_KING: "%KACHI",
        MAX_PLIES: "%CHUDAN",  # V2.2 has no %MAX_MOVES (V3.0 does); %CHUDAN is "interrupted"
    }[outcome.reason]


def _csa_position(sfen: str) -> list[str]:
    board = cshogi.Board(sfen)
    lines = []
    for rank in range(9):
        row = f"P{rank + 1}"
        for file in range(8, -1, -1):
            piece = board.piece(file * 9 + rank)
            if piece == cshogi.NONE:
                row += " * "
            else:
                row += ("-" if piece >= cshogi.WPAWN else "+") + _CSA_PIECES[
                    cshogi.piece_to_piece_type(piece)
                ]
        lines.append(row)
    for color, sign in ((BLACK, "+"), (WHITE, "-")):
        hand = board.pieces_in_hand[color]
        pieces = "".join(f"00{_CSA_PIECES[_HAND_TYPES[i]]}" * hand[i] for i in _HAND_ORDER)
        if pieces:
            lines.append(f"P{sign}{pieces}")
    lines.append("+" if board.turn == BLACK else "-")
    return lines


def to_csa(game: Game, *, black: str = "Black", white: str = "White") -> str:
    """The game as CSA V2.2 text, with its ending (%TSUMI, %SENNICHITE, ...) when it is over."""
    lines = ["V2.2", f"N+{_one_line(black)}", f"N-{_one_line(white)}"]
    lines += ["PI", "+"] if game.initial_sfen == STARTING_SFEN else _csa_position(game.initial_sfen)
    turn = cshogi.Board(game.initial_sfen).turn
    for move in game.moves:
        lines.append(("+" if turn == BLACK else "-") + cshogi.move_to_csa(move))
        turn = 1 - turn
    ending = _csa_ending(game)
    if ending is not None:
        lines.append(ending)
    return "\n".join(lines) + "\n"


def _read_csa(text: str) -> _Parsed:
    parsed = _Parsed()
    cells: list[tuple[int, int] | None] | None = None
    hands: tuple[dict[int, int], dict[int, int]] = ({}, {})
    turn: int | None = None
    position_line: int | None = None
    done = False
    for number, raw in enumerate(_split_lines(text), start=1):
        if done:
            break
        line = raw.strip()
        if line.startswith("'"):
            continue
        # Commas separate statements on one line, but a name or an info value may hold one itself.
        statements = [line] if line.startswith(("N+", "N-", "$")) else line.split(",")
        for statement in (s.strip() for s in statements):
            if not statement:
                continue
            if statement == "/":
                done = True  # a second game follows; only the first is read
                break
            if parsed.ending is not None:
                if statement.startswith("T"):
                    continue
                raise RecordError(number, raw, "unexpected statement after the ending")
            if statement.startswith("V") or statement.startswith("T"):
                continue
            if statement.startswith(("N+", "N-")):
                if statement[1] == "+":
                    parsed.black = statement[2:]
                else:
                    parsed.white = statement[2:]
                continue
            if statement.startswith("$"):
                key, _, value = statement[1:].partition(":")
                if key == "START_TIME":
                    parsed.started = _parse_started(value)
                continue
            if statement.startswith("%"):
                if statement not in _CSA_ENDINGS:
                    raise RecordError(number, raw, f"unsupported ending {statement}")
                parsed.ending, parsed.ending_line = statement, number
                continue
            if m := _CSA_MOVE_RE.fullmatch(statement):
                if turn is None or cells is None:
                    raise RecordError(number, raw, "a move before the initial position and side to move")
                parsed.moves.append((number, raw, m))
                continue
            if parsed.moves:
                raise RecordError(number, raw, "unexpected statement among the moves")
            if statement in ("+", "-"):
                turn = BLACK if statement == "+" else WHITE
                continue
            if statement.startswith("PI"):
                cells = _csa_pi(statement, number, raw)
                position_line = position_line or number
                continue
            if re.fullmatch(r"P[1-9].*", statement):
                if cells is None:
                    cells = [None] * 81
                position_line = position_line or number
                _csa_row(cells, statement, number, raw)
                continue
            if statement.startswith(("P+", "P-")):
                if cells is None:
                    cells = [None] * 81
                position_line = position_line or number
                _csa_placements(cells, hands, statement, number, raw)
                continue
            raise RecordError(number, raw, "cannot read this CSA statement")
    if cells is None or turn is None:
        raise RecordError(None, "", "no initial position (PI or P1..P9) and side to move (+ or -) found")
    side = "b" if turn == BLACK else "w"
    parsed.sfen = f"{_sfen_board(cells)} {side} {_sfen_hands(hands)} 1"
    parsed.sfen_line = position_line
    return parsed


def _csa_cell_index(file: int, rank: int) -> int:
    """Index into the rank-major, file-9-first cell list _sfen_board reads."""
    return (rank - 1) * 9 + (9 - file)


def _csa_pi(statement: str, number: int, raw: str) -> list[tuple[int, int] | None]:
    board = cshogi.Board()
    cells: list[tuple[int, int] | None] = []
    for rank in range(9):
        for file in range(8, -1, -1):
            piece = board.piece(file * 9 + rank)
            cells.append(
                None
                if piece == cshogi.NONE
                else (cshogi.piece_to_piece_type(piece), int(piece >= cshogi.WPAWN))
            )
    rest = statement[2:]
    if len(rest) % 4:
        raise RecordError(number, raw, "PI removals come in groups of 4 (square + piece), e.g. PI82HI22KA")
    for i in range(0, len(rest), 4):
        sq, code = rest[i : i + 2], rest[i + 2 : i + 4]
        if not sq.isdigit() or "0" in sq or code not in _CSA_PIECE_TYPES:
            raise RecordError(number, raw, f"cannot read the removal {rest[i : i + 4]!r}")
        index = _csa_cell_index(int(sq[0]), int(sq[1]))
        if cells[index] is None or cells[index][0] != _CSA_PIECE_TYPES[code]:
            raise RecordError(number, raw, f"no {code} on {sq} to remove")
        cells[index] = None
    return cells


def _csa_row(cells: list[tuple[int, int] | None], statement: str, number: int, raw: str) -> None:
    rank = int(statement[1])
    body = statement[2:].ljust(27)  # trailing empty cells are often written without their spaces
    if len(body) != 27:
        raise RecordError(number, raw, "a board row needs 9 cells of 3 characters")
    for i in range(9):
        cell = body[i * 3 : i * 3 + 3]
        index = (rank - 1) * 9 + i
        if cell.strip() == "*":
            cells[index] = None
        elif cell[0] in "+-" and cell[1:] in _CSA_PIECE_TYPES:
            cells[index] = (_CSA_PIECE_TYPES[cell[1:]], BLACK if cell[0] == "+" else WHITE)
        else:
            raise RecordError(number, raw, f"unknown board cell {cell!r}")


def _csa_placements(
    cells: list[tuple[int, int] | None],
    hands: tuple[dict[int, int], dict[int, int]],
    statement: str,
    number: int,
    raw: str,
) -> None:
    color = BLACK if statement[1] == "+" else WHITE
    body = statement[2:]
    if len(body) % 4:
        raise RecordError(number, raw, "P+/P- entries come in groups of 4, e.g. 00FU or 55KA")
    for i in range(0, len(body), 4):
        sq, code = body[i : i + 2], body[i + 2 : i + 4]
        if code == "AL" or code not in _CSA_PIECE_TYPES or not sq.isdigit():
            # AL ("all the rest in hand") is refused: it needs piece limits this reader does not guess.
            raise RecordError(number, raw, f"cannot read the entry {body[i : i + 4]!r}")
        pt = _CSA_PIECE_TYPES[code]
        if sq == "00":
            if pt not in _HAND_TYPES:
                raise RecordError(number, raw, f"{code} cannot be held in hand")
            hands[color][pt] = hands[color].get(pt, 0) + 1
        elif "0" in sq:
            raise RecordError(number, raw, f"no square {sq}")
        else:
            cells[_csa_cell_index(int(sq[0]), int(sq[1]))] = (pt, color)


def _csa_usi(game: Game, token: re.Match[str], state: dict[str, int | None]) -> str:
    sign, ffile, frank, tfile, trank, code = token.groups()
    if (sign == "+") != (game.turn == BLACK):
        raise ValueError(f"it is {'Black' if game.turn == BLACK else 'White'}'s turn, not {sign}")
    pt = _CSA_PIECE_TYPES.get(code)
    if pt is None:
        raise ValueError(f"unknown piece {code}")
    dest = cshogi.SQUARE_NAMES[(int(tfile) - 1) * 9 + int(trank) - 1]
    if ffile == "0" and frank == "0":
        if pt not in _HAND_TYPES:
            raise ValueError(f"{code} cannot be dropped")
        return f"{_SFEN_PIECES[pt]}*{dest}"
    if ffile == "0" or frank == "0":
        raise ValueError(f"no square {ffile}{frank}")
    frm = (int(ffile) - 1) * 9 + int(frank) - 1
    piece = game.board.piece(frm)
    if piece == cshogi.NONE:
        raise ValueError(f"there is no piece on {ffile}{frank}")
    before = cshogi.piece_to_piece_type(piece)
    # CSA names the piece after the move: the same type, or its promoted type for a promotion.
    if pt == before:
        promote = ""
    elif _PROMOTED.get(before) == pt:
        promote = "+"
    else:
        raise ValueError(f"the piece on {ffile}{frank} is {_CSA_PIECES[before]}, which cannot become {code}")
    return f"{cshogi.SQUARE_NAMES[frm]}{dest}{promote}"


def from_csa(text: str, *, max_plies: int | None = None) -> Record:
    """Read a CSA record (PI or P1..P9 position) and replay it through `Game`; see `from_kif` for max_plies.

    CSA carries no move number, so the replayed game starts from move 1.
    """
    parsed = _read_csa(text)
    game = _replay(parsed, max_plies, _csa_usi)
    word = _CSA_ENDINGS.get(parsed.ending) if parsed.ending else None
    try:
        result, reason = _ending_result(game, word, None, False)
    except ValueError as e:
        raise RecordError(parsed.ending_line, parsed.ending or "", str(e)) from None
    return Record(game, parsed.black, parsed.white, result, reason, parsed.started)
