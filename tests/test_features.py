"""The 94-plane observation, checked plane by plane on known positions (attack and mate planes included)."""

import cshogi
import numpy as np

from showcase_core.shogi.features import N_PLANES, Encoder, observe
from showcase_core.shogi.game import Game
from showcase_core.shogi.movers import mate_in_one

P, L, N, S, G, B, R, K = range(8)
PROM = {"P": 8, "L": 9, "N": 10, "S": 11, "B": 12, "R": 13}
OPP = 14


def cell(file: int, rank: str) -> tuple[int, int]:
    """Plane index of a square in Black's frame: (file - 1, rank - 1)."""
    return file - 1, "abcdefghi".index(rank)


def rotated(file: int, rank: str) -> tuple[int, int]:
    i, j = cell(file, rank)
    return 8 - i, 8 - j


def squares(plane: np.ndarray) -> set[tuple[int, int]]:
    return {tuple(int(v) for v in x) for x in np.argwhere(plane == 1)}


def test_start_position_black_to_move():
    obs = observe(Game())
    assert obs.shape == (N_PLANES, 9, 9) and obs.dtype == np.float32
    assert squares(obs[P]) == {cell(f, "g") for f in range(1, 10)}
    assert squares(obs[L]) == {cell(1, "i"), cell(9, "i")}
    assert squares(obs[N]) == {cell(2, "i"), cell(8, "i")}
    assert squares(obs[S]) == {cell(3, "i"), cell(7, "i")}
    assert squares(obs[G]) == {cell(4, "i"), cell(6, "i")}
    assert squares(obs[B]) == {cell(8, "h")}
    assert squares(obs[R]) == {cell(2, "h")}
    assert squares(obs[K]) == {cell(5, "i")}
    assert squares(obs[OPP + P]) == {cell(f, "c") for f in range(1, 10)}
    assert squares(obs[OPP + B]) == {cell(2, "b")}
    assert squares(obs[OPP + R]) == {cell(8, "b")}
    assert squares(obs[OPP + K]) == {cell(5, "a")}
    assert not obs[8:14].any() and not obs[OPP + 8 : OPP + 14].any()
    assert not obs[28:42].any()  # empty hands
    assert (obs[42] == 1).all()  # Black to move
    assert not obs[43:46].any()  # ply 0, first occurrence, not in check
    assert obs[:28].sum() == 40  # 40 pieces, each on exactly one plane


def test_white_to_move_is_rotated_and_own_first():
    game = Game(max_plies=100)
    for usi in ["7g7f", "3c3d", "8h2b+"]:
        game.push_usi(usi)
    # White to move: Black's bishop took on 2b and promoted; White holds nothing yet.
    obs = observe(game)
    assert squares(obs[K]) == {rotated(5, "a")}  # own (White) king appears at the bottom
    assert rotated(5, "a") == cell(5, "i")
    assert squares(obs[P]) == {rotated(f, "c") for f in range(1, 10) if f != 3} | {rotated(3, "d")}
    assert squares(obs[B]) == set()  # White's bishop was captured
    assert squares(obs[OPP + PROM["B"]]) == {rotated(2, "b")}  # Black's horse
    assert squares(obs[OPP + P]) == {rotated(f, "g") for f in range(1, 10) if f != 7} | {rotated(7, "f")}
    assert (obs[42] == 0).all()
    assert np.allclose(obs[43], 3 / 100)
    assert np.allclose(obs[35 + B], 1 / 2)  # opponent (Black) holds 1 of 2 bishops
    assert not obs[28:35].any()  # White's own hand is empty


def test_hands_are_normalised_counts():
    game = Game("4k4/9/9/9/9/9/9/9/4K4 b 3P2LSGBR5pn2s3gb 1")
    obs = observe(game)
    own = obs[28:35, 0, 0]
    opp = obs[35:42, 0, 0]
    assert np.allclose(own, [3 / 18, 2 / 4, 0, 1 / 4, 1 / 4, 1 / 2, 1 / 2])
    assert np.allclose(opp, [5 / 18, 0, 1 / 4, 2 / 4, 3 / 4, 1 / 2, 0])
    assert (obs[28:42] == obs[28:42, :1, :1]).all()  # each hand plane is constant
    # The same position with White to move swaps own and opponent.
    white = observe(Game("4k4/9/9/9/9/9/9/9/4K4 w 3P2LSGBR5pn2s3gb 1"))
    assert np.allclose(white[28:35, 0, 0], opp) and np.allclose(white[35:42, 0, 0], own)


def test_repetition_and_check_planes():
    game = Game()
    for usi in ["5i5h", "5a5b", "5h5i", "5b5a"] * 2:
        game.push_usi(usi)
    assert np.allclose(observe(game)[44], 2 / 3)  # third occurrence: two earlier ones
    check = Game("4k4/9/9/9/9/9/9/4r4/4K4 b - 1")
    assert (observe(check)[45] == 1).all()


def test_batch_encoding_matches_single_and_has_no_stale_planes(positions):
    encoder = Encoder(len(positions))
    out = np.full((len(positions), N_PLANES, 9, 9), 7.0, dtype=np.float32)
    encoder.encode(positions, out)
    again = encoder.encode(positions[::-1], np.empty_like(out))  # reuse buffers in another order
    for k, game in enumerate(positions):
        single = observe(game)
        assert np.array_equal(out[k], single)
        assert np.array_equal(again[len(positions) - 1 - k], single)
        assert np.isfinite(single).all() and single.min() >= 0 and single.max() <= 1
        pieces = sum(1 for p in game.board.pieces if p)
        assert single[:28].sum() == pieces


# Attack planes, in cshogi's piece order P L N S B R G K +P +L +N +S +B +R; then >= 1, 2, 3 attackers.
A_OWN, A_OPP = 46, 63
A = {"P": 0, "L": 1, "N": 2, "S": 3, "B": 4, "R": 5, "G": 6, "K": 7}
AT_LEAST = 14


def test_start_position_attack_planes_black_to_move():
    obs = observe(Game())
    assert squares(obs[A_OWN + A["P"]]) == {cell(f, "f") for f in range(1, 10)}  # each pawn's square ahead
    assert squares(obs[A_OPP + A["P"]]) == {cell(f, "d") for f in range(1, 10)}
    assert squares(obs[A_OWN + A["K"]]) == {
        cell(4, "h"),
        cell(5, "h"),
        cell(6, "h"),
        cell(4, "i"),
        cell(6, "i"),
    }
    assert squares(obs[A_OWN + A["N"]]) == {cell(1, "g"), cell(3, "g"), cell(7, "g"), cell(9, "g")}
    # The rook on 2h: along rank h up to and including its own bishop on 8h (a defended square is an
    # attacked one), 1h, and its own pawn on 2g and knight on 2i.
    rook = {cell(f, "h") for f in (1, 3, 4, 5, 6, 7, 8)} | {cell(2, "g"), cell(2, "i")}
    assert squares(obs[A_OWN + A["R"]]) == rook
    once = squares(obs[A_OWN + AT_LEAST])
    assert once == set().union(*(squares(obs[A_OWN + k]) for k in range(14)))  # >= 1 is the union
    assert (
        squares(obs[A_OWN + AT_LEAST + 1]) <= once
        and obs[A_OWN + AT_LEAST + 2].sum() <= obs[A_OWN + AT_LEAST + 1].sum()
    )
    assert set(np.unique(obs[46:80])) <= {0.0, 1.0}


def test_a_drop_mate_shows_the_protected_square_next_to_the_king():
    # White king alone on 5a; a Black pawn on 5c guards 5b: G*5b mates.
    game = Game("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    assert cshogi.move_to_usi(mate_in_one(game)) == "G*5b"
    obs = observe(game)
    assert cell(5, "b") in squares(obs[A_OWN + A["P"]])  # the drop square is protected
    assert cell(5, "b") in squares(obs[A_OPP + A["K"]])  # and next to the enemy king
    assert cell(5, "b") not in squares(obs[A_OPP + AT_LEAST + 1])  # defended by the king alone
    assert obs[28 + 4].max() > 0  # a gold in hand (hand order P L N S G B R)


def test_attack_planes_rotate_for_white_like_the_pieces():
    black = observe(Game("4k4/9/9/9/4r4/9/9/9/4K4 b - 1"))
    white = observe(Game("4k4/9/9/9/4R4/9/9/9/4K4 w - 1"))  # the same from the other side
    assert np.array_equal(black[46:80], white[46:80])  # each sees the same attacks, own and opponent's
    files = (1, 2, 3, 4, 6, 7, 8, 9)
    lines = {(5, r) for r in "abcdfghi"} | {(f, "e") for f in files}  # its file and rank, both kings too
    assert squares(black[A_OPP + A["R"]]) == {cell(*sq) for sq in lines}
    assert squares(white[A_OPP + A["R"]]) == {rotated(*sq) for sq in lines}


MATE_OWN, MATE_OPP = 80, 87  # then: 0 board moves, 1-6 drops of L N S G B R
DROP = {"L": 1, "N": 2, "S": 3, "G": 4, "B": 5, "R": 6}


def all_mates(game: Game) -> set[str]:
    """Every legal move that leaves the other side no legal move, by brute force over the legal list."""
    out = set()
    board = game.board
    for move in list(board.legal_moves):  # the board's own list: Game's is for its own position
        board.push(move)
        if board.is_game_over():
            out.add(cshogi.move_to_usi(move))
        board.pop()
    return out


def planes_of(usis: set[str], white: bool) -> set[tuple[int, int, int]]:
    """(plane offset, i, j) of each mating move as the mate planes mark it, in the mover's frame."""
    out = set()
    for usi in usis:
        dest = (int(usi[2]), usi[3])
        square = rotated(*dest) if white else cell(*dest)
        out.add((DROP[usi[0]] if usi[1] == "*" else 0, *square))
    return out


def marked(obs: np.ndarray, base: int) -> set[tuple[int, int, int]]:
    return {(int(c), int(i), int(j)) for c, i, j in np.argwhere(obs[base : base + 7] == 1)}


def test_mate_planes_mark_the_gold_drop_mate_and_nothing_else():
    game = Game("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    obs = observe(game)
    assert marked(obs, MATE_OWN) == {(DROP["G"], *cell(5, "b"))}
    assert marked(obs, MATE_OPP) == set()  # White has nothing that mates


def test_mate_planes_show_the_opponents_threat_rotated_for_white():
    # The same position with White to move: Black's G*5b is now White's threat, seen from White's frame.
    obs = observe(Game("4k4/9/4P4/9/9/9/9/9/4K4 w G 1"))
    assert marked(obs, MATE_OWN) == set()
    assert marked(obs, MATE_OPP) == {(DROP["G"], *rotated(5, "b"))}


def test_a_board_move_mate_is_on_plane_80_and_a_pawn_drop_mate_is_not_marked():
    # White's king on 5a is walled in by its own lances and pawns. Black's gold 5c to 5b mates (the
    # lance on 5h guards 5b through the file), and so does the gold stepping aside (the lance then
    # checks through 5b); a pawn drop on 5b would mate too, which the rules forbid (uchifuzume), so it
    # is neither legal nor marked.
    game = Game("3lkl3/3p1p3/4G4/9/9/9/9/4L4/4K4 b P 1")
    mates = all_mates(game)
    obs = observe(game)
    assert mates == {"5c5b", "5c4c", "5c6c"}
    assert "P*5b" not in {cshogi.move_to_usi(m) for m in game.legal_moves()}
    assert marked(obs, MATE_OWN) == {(0, *cell(5, "b")), (0, *cell(4, "c")), (0, *cell(6, "c"))}


def test_mate_planes_equal_brute_force_over_random_positions():
    rng = np.random.default_rng(5)
    checked = mated = 0
    for _ in range(60):
        game = Game()
        for _ in range(int(rng.integers(10, 140))):
            if game.is_over:
                break
            moves = game.legal_moves()
            game.push(moves[int(rng.integers(len(moves)))])
        if game.is_over:
            continue
        white = bool(game.board.turn)
        obs = observe(game)
        own = all_mates(game)
        assert marked(obs, MATE_OWN) == planes_of(own, white)
        theirs = set()
        if not game.board.is_check():
            game.board.push_pass()
            theirs = all_mates(game)
            game.board.pop_pass()
        assert marked(obs, MATE_OPP) == planes_of(theirs, white)
        checked += 1
        mated += bool(own or theirs)
    assert checked > 40 and mated > 0  # some positions had a mate to mark
