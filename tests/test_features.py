"""The 46-plane observation, checked plane by plane on known positions."""

import numpy as np

from trainer.shogi.features import N_PLANES, Encoder, observe
from trainer.shogi.game import Game

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
