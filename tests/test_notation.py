"""Move names (USI, western, Japanese) and the parse of what a viewer types back to the one legal move."""

import random
from collections import Counter

import pytest

from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import MoveParseError, japanese, names, parse_move, usi, western


def played(*moves: str, sfen: str | None = None) -> Game:
    game = Game(sfen)
    for move in moves:
        game.push_usi(move)
    return game


def legal(game: Game, text: str) -> int:
    """The legal move with this USI (fails the test if there is none)."""
    matches = [m for m in game.legal_moves() if usi(m) == text]
    assert matches, f"{text} is not legal in {game.sfen()}"
    return matches[0]


def parse_error(game: Game, text: str) -> MoveParseError:
    with pytest.raises(MoveParseError) as info:
        parse_move(game, text)
    return info.value


# --- every legal move of many positions names itself ---------------------------------------------------


def test_every_name_of_every_legal_move_parses_back_to_that_move():
    rng = random.Random(2024)
    seen = Counter()
    positions = 0
    for _ in range(40):
        game = Game()
        stop = rng.randrange(60, 220)
        while game.ply < stop and not game.is_over:
            # Check the position every few plies (Game keeps its history, so 同 comes up).
            if game.ply % 5 == 2:
                positions += 1
                seen["white" if game.turn else "black"] += 1
                seen["hand"] += any(any(h) for h in game.board.pieces_in_hand)
                for move in game.legal_moves():
                    named = names(game, move)
                    bare = japanese(game, move, mark=False)
                    for text in (named["usi"], named["western"], named["japanese"], bare):
                        assert parse_move(game, text) == move, (game.sfen(), text)
                    for mark in ("=", "不成", "打", "同", "右", "左", "直", "上", "引", "寄"):
                        seen[mark] += mark in named["western"] + named["japanese"]
            game.push(rng.choice(game.legal_moves()))
    assert positions > 600
    # The sample really covers both colours, hands, declined promotions, drops with 打, 同 and KI2 modifiers.
    for what in ("black", "white", "hand", "=", "不成", "打", "同", "右", "左", "直", "上", "引", "寄"):
        assert seen[what] > 0, what


# --- exact names ----------------------------------------------------------------------------------------


def test_first_move_names():
    game = Game()
    move = legal(game, "7g7f")
    assert names(game, move) == {"usi": "7g7f", "western": "P-7f", "japanese": "▲７六歩"}
    assert japanese(game, move, mark=False) == "７六歩"


def test_capture_with_promotion_and_declined_promotion():
    game = played("7g7f", "3c3d")
    assert western(game, legal(game, "8h2b+")) == "Bx2b+"
    assert japanese(game, legal(game, "8h2b+")) == "▲２二角成"
    assert western(game, legal(game, "8h2b")) == "Bx2b="
    assert japanese(game, legal(game, "8h2b")) == "▲２二角不成"


def test_same_square_as_previous_move_is_dou():
    game = played("7g7f", "3c3d", "8h2b+")
    move = legal(game, "3a2b")
    assert western(game, move) == "Sx2b"
    assert japanese(game, move) == "△同　銀"
    # Without that previous move the square is spelled out.
    assert japanese(game, move, prev_move=legal(Game(), "7g7f")) == "△２二銀"


def test_pawn_declining_promotion():
    game = Game("lnsgkgsnl/1r5b1/ppppppp1p/7P1/9/9/PPPPPPP1P/1B5R1/LNSGKGSNL b P 1")
    assert western(game, legal(game, "2d2c")) == "P-2c="
    assert western(game, legal(game, "2d2c+")) == "P-2c+"
    assert japanese(game, legal(game, "2d2c")) == "▲２三歩不成"
    assert japanese(game, legal(game, "2d2c+")) == "▲２三歩成"


def test_drop_names_say_uchi_only_when_a_board_piece_could_also_go_there():
    # Black's bishop on 8h can reach 5e but not 5d; Black also holds a bishop.
    game = Game("lnsgkgsnl/1r7/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL b B 1")
    assert western(game, legal(game, "B*5e")) == "B*5e"
    assert japanese(game, legal(game, "B*5e")) == "▲５五角打"
    assert japanese(game, legal(game, "8h5e")) == "▲５五角"
    assert western(game, legal(game, "8h5e")) == "B-5e"
    assert japanese(game, legal(game, "B*5d")) == "▲５四角"
    assert parse_move(game, "55角") == legal(game, "8h5e")  # KI2: no 打 means the board piece
    assert parse_move(game, "55角打") == legal(game, "B*5e")
    assert parse_move(game, "54角") == legal(game, "B*5d")
    assert parse_move(game, "B5e") == legal(game, "8h5e")
    assert parse_move(game, "B5d") == legal(game, "B*5d")  # no board move there: the drop is meant


def test_two_golds_to_one_square_are_told_apart():
    game = Game()
    left, right = legal(game, "6i5h"), legal(game, "4i5h")
    assert western(game, left) == "G6i-5h"
    assert western(game, right) == "G4i-5h"
    # 左 / 右 are from the mover's seat: Black's left is the file-9 side, so the 6i gold is the left one.
    assert japanese(game, left) == "▲５八金左"
    assert japanese(game, right) == "▲５八金右"
    assert parse_move(game, "58金右") == right
    assert parse_move(game, "５八金左") == left
    assert parse_move(game, "G6i-5h") == left
    assert parse_move(game, "G4i5h") == right


def test_ki2_modifiers_for_white_are_from_whites_seat():
    game = played("7g7f")
    left, right = legal(game, "4a5b"), legal(game, "6a5b")
    # White sits on the other side: its left is the file-1 side.
    assert japanese(game, left) == "△５二金左"
    assert japanese(game, right) == "△５二金右"


def test_straight_and_motion_modifiers():
    # Golds on 6i, 5i and 4i all reach 5h: 左, 直 and 右. (Black king on 1i, White king on 5a.)
    game = Game("4k4/9/9/9/9/9/9/9/3GGG2K b - 1")
    assert [japanese(game, legal(game, u), mark=False) for u in ("6i5h", "5i5h", "4i5h")] == [
        "５八金左",
        "５八金直",
        "５八金右",
    ]
    # Golds on 6h and 5i both reach 5h, one sideways and one forward: 寄 and 上.
    game = Game("4k4/9/9/9/9/9/9/3G5/4G3K b - 1")
    assert japanese(game, legal(game, "6h5h"), mark=False) == "５八金寄"
    assert japanese(game, legal(game, "5i5h"), mark=False) == "５八金上"
    assert parse_move(game, "58金寄") == legal(game, "6h5h")


# --- accepted input forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "7g7f",
        "7G7F",
        "  7g7f  ",
        "P-7f",
        "p-7f",
        "P7f",
        "P-76",
        "P7g-7f",
        "76歩",
        "７六歩",
        "▲７六歩",
        "7六歩",
    ],
)
def test_many_spellings_of_the_first_move(text):
    assert usi(parse_move(Game(), text)) == "7g7f"


def test_dou_and_promotion_spellings():
    game = played("7g7f", "3c3d", "8h2b+")
    for text in ("同銀", "同　銀", "△同銀", "22銀", "Sx2b", "S-2b", "3a2b"):
        assert usi(parse_move(game, text)) == "3a2b", text
    game = played("7g7f", "3c3d")
    for text, expected in (
        ("22角成", "8h2b+"),
        ("２二角不成", "8h2b"),
        ("22角生", "8h2b"),
        ("Bx2b=", "8h2b"),
    ):
        assert usi(parse_move(game, text)) == expected, text


def test_piece_name_aliases():
    # Black: tokin 9e, dragon 5e, horse 1e, promoted lance 9g, promoted knight 7g, promoted silver 3g.
    game = Game("1k7/9/9/9/+P3+R3+B/9/+L1+N3+S2/9/4K4 b - 1")
    for text, expected in (
        ("94と", "9e9d"),
        ("54竜", "5e5d"),
        ("54龍", "5e5d"),
        ("14馬", "1e1d"),
        ("96杏", "9g9f"),
        ("96成香", "9g9f"),
        ("76圭", "7g7f"),
        ("76成桂", "7g7f"),
        ("36全", "3g3f"),
        ("36成銀", "3g3f"),
        ("58王", "5i5h"),
        ("58玉", "5i5h"),
        ("+R-5d", "5e5d"),
        ("D-5d", "5e5d"),
        ("H-1d", "1e1d"),
        ("+N-7f", "7g7f"),
    ):
        assert usi(parse_move(game, text)) == expected, text


# --- errors ----------------------------------------------------------------------------------------------


def test_two_golds_without_a_modifier_is_ambiguous():
    for text in ("58金", "G-5h", "G5h"):
        error = parse_error(Game(), text)
        assert error.kind == "ambiguous"
        assert sorted(error.candidates) == ["4i5h", "6i5h"]
        assert "5八" in error.message or "5h" in error.message or "５八" in error.message


def test_open_promotion_is_ambiguous():
    game = Game("lnsgkgsnl/1r5b1/ppppppp1p/7P1/9/9/PPPPPPP1P/1B5R1/LNSGKGSNL b P 1")
    for text in ("P-2c", "23歩", "P2c"):
        error = parse_error(game, text)
        assert error.kind == "ambiguous", text
        assert sorted(error.candidates) == ["2d2c", "2d2c+"]
        assert "promote" in error.message
    # USI is exact: no suffix means no promotion.
    assert usi(parse_move(game, "2d2c")) == "2d2c"


def test_illegal_moves_say_why():
    error = parse_error(Game(), "7g7e")
    assert error.kind == "illegal"
    assert "7g7e" in error.message and "cannot move to 7e" in error.message
    error = parse_error(Game(), "P-7e")
    assert (error.kind, error.candidates) == ("illegal", [])
    assert "no pawn can move to 7e" in error.message
    # Black holds a pawn but already has one on file 5.
    error = parse_error(Game("lnsgkgsnl/1r5b1/ppppppp1p/7P1/9/9/PPPPPPP1P/1B5R1/LNSGKGSNL b P 1"), "P*5e")
    assert error.kind == "illegal"
    assert "nifu" in error.message
    error = parse_error(Game(), "B*5e")
    assert error.kind == "illegal" and "no bishop in hand" in error.message
    error = parse_error(Game(), "3c3d")
    assert error.kind == "illegal" and "White's" in error.message
    error = parse_error(Game(), "同歩")
    assert error.kind == "illegal" and "no move has been played" in error.message


def test_forced_and_impossible_promotions_are_illegal():
    game = Game("4k4/P8/9/9/9/9/9/9/4K4 b - 1")  # a pawn on 9b must promote on 9a
    error = parse_error(game, "P-9a=")
    assert error.kind == "illegal" and "must promote" in error.message
    assert usi(parse_move(game, "P-9a")) == "9b9a+"
    error = parse_error(Game(), "P-7f+")
    assert error.kind == "illegal" and "cannot promote" in error.message


@pytest.mark.parametrize("text", ["hello", "", "   ", "7g", "P-0f", "55", "★７六歩", "Bx2b!"])
def test_garbage_is_unparseable_with_the_accepted_forms_listed(text):
    error = parse_error(Game(), text)
    assert error.kind == "unparseable"
    assert "7g7f" in error.message and "P-7f" in error.message


def test_a_drop_with_an_origin_is_unparseable():
    error = parse_error(Game(), "G6i*5h")
    assert error.kind == "unparseable" and "no origin" in error.message


def test_a_finished_game_accepts_no_move():
    game = played("5i4h", "5a4b", "4h5i", "4b5a")
    for _ in range(2):
        for move in ("5i4h", "5a4b", "4h5i", "4b5a"):
            game.push_usi(move)
    assert game.is_over
    error = parse_error(game, "7g7f")
    assert error.kind == "illegal" and "over" in error.message


def test_a_bare_board_works_too():
    game = played("7g7f", "3c3d", "8h2b+")
    assert usi(parse_move(game.board, "同銀")) == "3a2b"
    assert japanese(game.board, legal(game, "3a2b")) == "△同　銀"


def test_naming_an_illegal_move_is_refused():
    with pytest.raises(ValueError, match="not a legal move"):
        western(Game(), legal(played("7g7f"), "3c3d"))
