"""KIF and CSA records: export of finished games, re-import through Game, and refusal of broken files."""

import random
from datetime import datetime

import cshogi
import pytest

from showcase_core.shogi.game import (
    CHECKMATE,
    MAX_PLIES,
    PERPETUAL_CHECK,
    SENNICHITE,
    WHITE,
    Game,
)
from showcase_core.shogi.records import RESIGN, RecordError, from_csa, from_kif, to_csa, to_kif

# White king 1a, Black rook 9c, Black king 5i: the rook checks along ranks a and b while the king steps
# between 1a and 1b, so the 4th repetition comes from Black's checks.
PERPETUAL_SFEN = "8k/9/R8/9/9/9/9/9/4K4 b - 1"
PERPETUAL_MOVES = ["9c9a"] + ["1a1b", "9a9b", "1b1a", "9b9a"] * 3


def mating_game(seed: int) -> Game:
    """A seeded random game in which either side takes a mate in one when it sees it: ends by checkmate."""
    rng = random.Random(seed)
    game = Game()
    while not game.is_over:
        mate = game.board.mate_move_in_1ply()
        game.push(mate if mate else rng.choice(game.legal_moves()))
    return game


def random_game(seed: int, plies: int, sfen: str | None = None, max_plies: int = 512) -> Game:
    rng = random.Random(seed)
    game = Game(sfen, max_plies=max_plies)
    while game.ply < plies and not game.is_over:
        game.push(rng.choice(game.legal_moves()))
    return game


def played(moves: list[str], sfen: str | None = None) -> Game:
    game = Game(sfen)
    for move in moves:
        game.push_usi(move)
    return game


def finished_games() -> dict[str, Game]:
    sennichite = played(["5i4h", "5a4b", "4h5i", "4b5a"] * 3)
    return {
        "checkmate": mating_game(3),
        "non_start_sfen": random_game(
            5, 30, sfen="ln1g1k1nl/1r1s2gb1/p1pppp1pp/6p2/1p7/2P4P1/PPSPPP2P/1B3S1R1/LN1GKG1NL w Ps 1"
        ),
        "max_plies": random_game(11, 1000, max_plies=40),
        "sennichite": sennichite,
        "perpetual_check": played(PERPETUAL_MOVES, sfen=PERPETUAL_SFEN),
    }


@pytest.mark.parametrize("name", list(finished_games()))
@pytest.mark.parametrize("fmt", ["kif", "csa"])
def test_records_round_trip_to_the_same_position_and_ending(name, fmt):
    game = finished_games()[name]
    text = (
        to_kif(game, black="AI v1", white="AI v2")
        if fmt == "kif"
        else to_csa(game, black="AI v1", white="AI v2")
    )
    record = from_kif(text) if fmt == "kif" else from_csa(text)
    assert record.game.sfen() == game.sfen()
    assert record.game.moves == game.moves
    assert (record.black, record.white) == ("AI v1", "AI v2")
    if game.outcome is None:
        assert (record.result, record.reason) == (None, None)
        assert record.game.outcome is None
    else:
        assert (record.result, record.reason) == (game.outcome.result, game.outcome.reason)
        assert record.game.outcome == game.outcome


def test_the_sample_games_end_as_intended():
    games = finished_games()
    assert games["checkmate"].outcome.reason == CHECKMATE
    assert games["non_start_sfen"].outcome is None and games["non_start_sfen"].ply == 30
    assert games["max_plies"].outcome.reason == MAX_PLIES
    assert games["sennichite"].outcome.reason == SENNICHITE
    assert games["perpetual_check"].outcome.reason == PERPETUAL_CHECK
    assert games["perpetual_check"].outcome.winner == WHITE


def test_kif_layout():
    game = played(["7g7f", "3c3d", "8h2b+", "3a2b", "B*5e"])
    text = to_kif(game, black="先手AI", white="後手AI", started=datetime(2024, 5, 1, 20, 30, 0))
    lines = text.splitlines()
    assert lines[1:6] == [
        "開始日時：2024/05/01 20:30:00",
        "手合割：平手",
        "先手：先手AI",
        "後手：後手AI",
        "手数----指手---------消費時間--",
    ]
    assert lines[6:11] == [
        "   1 ７六歩(77)   ( 0:00/00:00:00)",
        "   2 ３四歩(33)   ( 0:00/00:00:00)",
        "   3 ２二角成(88) ( 0:00/00:00:00)",
        "   4 同　銀(31)   ( 0:00/00:00:00)",
        "   5 ５五角打     ( 0:00/00:00:00)",
    ]
    assert len(lines) == 11  # not over: no ending line
    assert "開始日時" not in to_kif(game)  # an unknown start time is left out, not invented


def test_kif_ending_lines():
    game = finished_games()["perpetual_check"]
    tail = to_kif(game).splitlines()[-3:]
    assert tail == ["  14 反則負け     ( 0:00/00:00:00)", "*連続王手の千日手", "まで13手で先手の反則負け"]
    mate = finished_games()["checkmate"]
    winner = "先手" if mate.outcome.winner == 0 else "後手"
    assert to_kif(mate).splitlines()[-1] == f"まで{mate.ply}手で{winner}の勝ち"
    assert to_kif(finished_games()["sennichite"]).splitlines()[-1] == "まで12手で千日手"
    assert to_kif(finished_games()["max_plies"]).splitlines()[-1] == "まで40手で中断"


def test_csa_layout():
    game = played(["7g7f", "3c3d", "8h2b+", "3a2b", "B*5e"])
    assert to_csa(game).splitlines() == [
        "V2.2",
        "N+Black",
        "N-White",
        "PI",
        "+",
        "+7776FU",
        "-3334FU",
        "+8822UM",
        "-3122GI",
        "+0055KA",
    ]
    endings = {name: to_csa(g).splitlines()[-1] for name, g in finished_games().items()}
    assert endings["checkmate"] == "%TSUMI"
    assert endings["sennichite"] == "%SENNICHITE"
    assert endings["perpetual_check"] == "%OUTE_SENNICHITE"
    assert endings["max_plies"] == "%CHUDAN"


def test_csa_position_is_read_by_cshogi_too():
    game = finished_games()["non_start_sfen"]
    parsed = cshogi.Parser.parse_str(to_csa(game))[0]
    assert parsed.sfen == game.initial_sfen
    assert parsed.moves == game.moves


def test_kif_keeps_the_move_number_of_a_mid_game_position():
    game = random_game(8, 10, sfen="lnsgkgsnl/1r5b1/pppppp1pp/6p2/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL b - 37")
    record = from_kif(to_kif(game))
    assert record.game.initial_sfen == game.initial_sfen
    assert record.game.sfen() == game.sfen()
    # CSA has no move number: the position, side and hands survive, the count starts again at 1.
    assert from_csa(to_csa(game)).game.sfen().rsplit(" ", 1)[0] == game.sfen().rsplit(" ", 1)[0]


def test_entering_king_is_written_and_read():
    # Black's king sits in the enemy camp with 12 pieces there worth 28 points: Black declares and wins.
    game = Game("RRBBGGGS1/SSS1K4/9/9/9/9/9/9/4k4 b 18P4L4Ng 1")
    assert game.outcome.reason == "entering_king"
    for text, read in ((to_kif(game), from_kif), (to_csa(game), from_csa)):
        record = read(text)
        assert (record.result, record.reason) == ("black", "entering_king")
    assert to_kif(game).splitlines()[-1] == "まで0手で先手の入玉勝ち"


def test_foreign_endings_are_read():
    kif = "手合割：平手\n   1 ７六歩(77)\n   2 投了\nまで1手で先手の勝ち\n"
    record = from_kif(kif)
    assert (record.result, record.reason) == ("black", RESIGN)
    csa = "V2.2\nPI\n+\n+7776FU\n-3334FU\n%TORYO\n"
    record = from_csa(csa)
    assert (record.result, record.reason) == ("white", RESIGN)
    assert record.game.usi_moves == ["7g7f", "3c3d"]


def test_kif_with_kifu_for_windows_spellings():
    kif = "\n".join(
        [
            "# ---- Kifu for Windows ----",
            "開始日時：2024/05/01 20:30",
            "棋戦：練習",
            "手合割：平手",
            "先手：甲",
            "後手：乙",
            "手数----指手---------消費時間--",
            "   1 ７六歩(77)        ( 0:01/00:00:01)",
            "*初手の感想",
            "   2 ３四歩(33)        ( 0:02/00:00:02)+",
            "   3 ２二角不成(88)    ( 0:01/00:00:02)",
            "   4 同　銀(31)        ( 0:01/00:00:03)",
            "",
            "変化：3手",
            "   3 ６六歩(67)        ( 0:01/00:00:02)",
        ]
    )
    record = from_kif(kif)
    assert record.game.usi_moves == ["7g7f", "3c3d", "8h2b", "3a2b"]
    assert (record.black, record.white, record.started) == ("甲", "乙", datetime(2024, 5, 1, 20, 30))
    assert record.result is None


def test_malformed_kif_names_the_line():
    text = to_kif(played(["7g7f", "3c3d", "2g2f"]))
    lines = text.splitlines()
    broken = "\n".join([*lines[:-1], "   3 ７五歩(77)   ( 0:00/00:00:00)"])  # 7g is empty now
    with pytest.raises(RecordError, match=r"line 8: .*７五歩") as info:
        from_kif(broken)
    assert info.value.line == 8
    unreadable = "\n".join([*lines[:-1], "   3 ほげ"])
    with pytest.raises(RecordError, match=r"line 8: .*cannot read this move"):
        from_kif(unreadable)
    wrong_piece = "\n".join([*lines[:-1], "   3 ２六銀(27)"])  # a pawn stands on 2g, not a silver
    with pytest.raises(RecordError, match=r"line 8: .*no 銀 on 27"):
        from_kif(wrong_piece)
    bad_board = to_kif(Game(PERPETUAL_SFEN)).replace("| ・ ・ ・ ・ 玉", "| ・ ・ ・ ・ 象")
    with pytest.raises(RecordError, match="unknown board cell"):
        from_kif(bad_board)


def test_malformed_csa_names_the_line():
    with pytest.raises(RecordError, match=r"line 6: '\+7674FU': .*not a legal move") as info:
        from_csa("V2.2\nPI\n+\n+7776FU\n-3334FU\n+7674FU\n")
    assert info.value.line == 6
    with pytest.raises(RecordError, match=r"line 4: .*turn"):
        from_csa("V2.2\nPI\n+\n-3334FU\n")
    with pytest.raises(RecordError, match=r"line 4: .*cannot read"):
        from_csa("V2.2\nPI\n+\n+7776XX1\n")
    with pytest.raises(RecordError, match="no initial position"):
        from_csa("V2.2\nN+a\n")


def test_moves_after_the_game_ended_are_refused():
    game = finished_games()["sennichite"]
    text = to_csa(game).replace("%SENNICHITE\n", "+5948OU\n")
    with pytest.raises(RecordError, match="game is over"):
        from_csa(text)
