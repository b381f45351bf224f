"""Rules through Game: perft, special rules, endings, SFEN validation, move refusal."""

import cshogi
import pytest

from showcase_core.shogi.game import (
    BLACK,
    CHECKMATE,
    ENTERING_KING,
    MAX_PLIES,
    NO_LEGAL_MOVES,
    PERPETUAL_CHECK,
    SENNICHITE,
    WHITE,
    Game,
    IllegalMoveError,
    SfenError,
    perft,
    validate_sfen,
)


@pytest.mark.parametrize(("depth", "nodes"), [(1, 30), (2, 900), (3, 25_470), (4, 719_731)])
def test_perft_from_start(depth, nodes):
    assert perft(Game(), depth) == nodes


def test_perft_leaves_game_unchanged():
    game = Game()
    game.push_usi("7g7f")
    before = (game.sfen(), game.repetitions, list(game.moves))
    perft(game, 2)
    assert (game.sfen(), game.repetitions, list(game.moves)) == before


def test_pawn_drop_mate_is_refused():
    # White king 9a, own lance 8a; Black gold 8c guards 9b and 8b. P*9b would mate: forbidden.
    game = Game("kl7/9/1G7/9/9/9/9/9/8K b P 1")
    assert "P*9b" not in game.legal_usi()
    assert "P*9d" in game.legal_usi()
    with pytest.raises(IllegalMoveError, match="P\\*9b"):
        game.push_usi("P*9b")
    # A pawn *push* that mates is legal.
    pushed = Game("kl7/9/PG7/9/9/9/9/9/8K b - 1")
    pushed.push_usi("9c9b+")
    assert pushed.outcome.reason == CHECKMATE and pushed.outcome.winner == BLACK


def test_nifu_is_refused():
    game = Game("4k4/9/9/9/9/9/4P4/9/4K4 b P 1")
    legal = game.legal_usi()
    assert "P*5e" not in legal
    assert "P*4e" in legal
    with pytest.raises(IllegalMoveError):
        game.push_usi("P*5e")


def test_forced_promotion():
    game = Game("6k2/P7L/3N5/9/9/9/9/9/4K4 b - 1")
    legal = set(game.legal_usi())
    assert "9b9a+" in legal and "9b9a" not in legal  # pawn to the last rank
    assert "1b1a+" in legal and "1b1a" not in legal  # lance to the last rank
    assert {"6c7a+", "6c5a+"} <= legal and not {"6c7a", "6c5a"} & legal  # knight to the last two ranks
    # Where promotion is optional both moves exist.
    optional = Game("4k4/9/9/P8/9/9/9/9/4K4 b - 1")
    assert {"9d9c", "9d9c+"} <= set(optional.legal_usi())


def test_fourfold_repetition_is_a_draw():
    game = Game()
    cycle = ["5i5h", "5a5b", "5h5i", "5b5a"]
    for n in range(3):
        for usi in cycle:
            assert not game.is_over
            game.push_usi(usi)
        assert game.repetitions == n + 2
    assert game.outcome.reason == SENNICHITE
    assert game.outcome.winner is None and game.outcome.terminated
    assert game.outcome.result == "draw"
    assert game.ply == 12
    with pytest.raises(IllegalMoveError, match="over"):
        game.push_usi("5i5h")


def test_perpetual_check_loses_for_the_checker():
    # Black's rook checks on rank a and rank b in turn; the White king steps between 5a and 5b.
    game = Game("4k4/R8/9/9/9/9/9/9/4K4 b - 1")
    cycle = ["9b9a", "5a5b", "9a9b", "5b5a"]
    for _ in range(3):
        for usi in cycle:
            game.push_usi(usi)
    assert game.outcome.reason == PERPETUAL_CHECK
    assert game.outcome.winner == WHITE


def test_perpetual_check_by_the_last_mover_loses():
    # Same cycle started one ply later, so the 4th occurrence arrives after the checker's move.
    game = Game("R3k4/9/9/9/9/9/9/9/4K4 w - 1")
    for _ in range(3):
        for usi in ["5a5b", "9a9b", "5b5a", "9b9a"]:
            game.push_usi(usi)
    assert game.outcome.reason == PERPETUAL_CHECK
    assert game.outcome.winner == WHITE


def test_entering_king_declaration_wins():
    # Black king in the enemy camp with 10 pieces there and 28 points (2P in hand): Black declares.
    sfen = "RRBBGGGGS/S3K4/9/9/9/9/9/9/8k b 2P 1"
    game = Game(sfen)
    assert game.outcome.reason == ENTERING_KING and game.outcome.winner == BLACK
    assert game.legal_moves() == []
    # One point short (27 for Black) is no declaration.
    assert not Game("RRBBGGGGS/S3K4/9/9/9/9/9/9/8k b P 1").is_over


def test_no_legal_moves_loses_for_side_to_move():
    mate = Game("4k4/4G4/4P4/9/9/9/9/9/4K4 w - 1")
    assert mate.outcome.reason == CHECKMATE and mate.outcome.winner == BLACK
    # Not in check but every king move is covered and White has nothing else.
    stuck = Game("8k/9/6NGG/9/9/9/9/9/K8 w - 1")
    assert not stuck.in_check
    assert stuck.outcome.reason == NO_LEGAL_MOVES and stuck.outcome.winner == BLACK


def test_checkmate_by_a_move():
    game = Game("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    game.push_usi("G*5b")
    assert game.outcome.reason == CHECKMATE and game.outcome.winner == BLACK
    assert game.outcome.result == "black"


def test_max_plies_is_truncation_not_draw():
    game = Game(max_plies=4)
    for usi in ["7g7f", "3c3d", "2g2f", "8c8d"]:
        game.push_usi(usi)
    assert game.outcome.reason == MAX_PLIES
    assert game.outcome.truncated and not game.outcome.terminated
    assert game.outcome.winner is None and game.outcome.result == "truncated"


def test_pop_restores_counters_and_reopens_game():
    game = Game(max_plies=2)
    game.push_usi("7g7f")
    game.push_usi("3c3d")
    assert game.is_over
    assert game.pop() == game.board.move_from_usi("3c3d")
    assert not game.is_over and game.ply == 1 and game.repetitions == 1
    with pytest.raises(IndexError):
        Game().pop()


@pytest.mark.parametrize(
    ("sfen", "reason"),
    [
        ("", "3 or 4"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1 b - 1", "9 ranks"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSN b - 1", "8 squares"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNLL b - 1", "10 squares"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGXGSNL b - 1", "unknown piece"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNS+GKGSNL b - 1", "cannot be promoted"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL x - 1", "side to move"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b 2Q 1", "pieces in hand"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b - 0", "move number"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGGGSNL b - 1", "one king"),
        ("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSNL b P 1", "at most 18"),
        ("4k4/9/9/9/9/4P4/4P4/9/4K4 b - 1", "nifu"),
        ("P3k4/9/9/9/9/9/9/9/4K4 b - 1", "never move"),
        ("4k4/N8/9/9/9/9/9/9/4K4 b - 1", "never move"),
        ("4k4/4R4/9/9/9/9/9/9/4K4 b - 1", "not to move is in check"),
        ("4k4/9/9/9/9/9/9/9/4K4 b 0P 1", "at least 1"),
    ],
)
def test_malformed_sfen_is_rejected_with_reason(sfen, reason):
    with pytest.raises(SfenError, match=reason):
        Game(sfen)


def test_cshogi_alone_accepts_what_we_reject():
    # The reason validation exists: cshogi takes a board with a missing file without complaint.
    board = cshogi.Board()
    board.set_sfen("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSN b - 1")
    with pytest.raises(SfenError):
        validate_sfen("lnsgkgsnl/1r5b1/ppppppppp/9/9/9/PPPPPPPPP/1B5R1/LNSGKGSN b - 1")


def test_sfen_accepts_prefix_and_missing_move_number():
    assert validate_sfen("sfen 4k4/9/9/9/9/9/9/9/4K4 b - ") == "4k4/9/9/9/9/9/9/9/4K4 b - 1"
    assert Game("4k4/9/9/9/9/9/9/9/4K4 w 2P3p").turn == WHITE


def test_illegal_usi_and_moves_are_refused():
    game = Game()
    for bad in ["7g7e", "7g7f+", "P*5e", "", "zz", "1a1b"]:
        with pytest.raises(IllegalMoveError):
            game.push_usi(bad)
    with pytest.raises(IllegalMoveError):
        game.push(0)
    with pytest.raises(IllegalMoveError):
        game.push(game.board.move_from_usi("7g7f") | (1 << 14))  # forged promotion bit
    assert game.ply == 0 and game.sfen() == cshogi.STARTING_SFEN


def test_history_and_repetition_key_covers_hands_and_side():
    game = Game()
    for usi in ["7g7f", "3c3d", "8h2b+", "3a2b"]:
        game.push_usi(usi)
    assert game.usi_moves == ["7g7f", "3c3d", "8h2b+", "3a2b"]
    a = Game("4k4/9/9/9/9/9/9/9/4K4 b P 1")
    b = Game("4k4/9/9/9/9/9/9/9/4K4 b p 1")
    c = Game("4k4/9/9/9/9/9/9/9/4K4 w P 1")
    assert len({a.board.zobrist_hash(), b.board.zobrist_hash(), c.board.zobrist_hash()}) == 3
