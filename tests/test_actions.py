"""The 13,527-action mapping: exact indices, bijection on legal moves, masks."""

import numpy as np
import pytest
from conftest import random_positions

from showcase_core.shogi.actions import (
    DROP_BASE,
    N_ACTIONS,
    action_to_move,
    action_to_usi,
    decode_action,
    legal_mask,
    move_to_action,
    moves_to_actions,
)
from showcase_core.shogi.game import BLACK, WHITE, Game, IllegalMoveError


def test_action_count():
    assert N_ACTIONS == 81 * 80 * 2 + 81 * 7 == 13_527


def test_exact_indices_and_colour_symmetry():
    game = Game()
    # 7g7f: from 7g = 6*9+6 = 60, to 7f = 59 (< from, offset 59): 60*160 + 59*2.
    assert move_to_action(game.board.move_from_usi("7g7f"), BLACK) == 9718
    game.push_usi("7g7f")
    # White's 3c3d is the same shape after the 180-degree rotation.
    assert move_to_action(game.board.move_from_usi("3c3d"), WHITE) == 9718
    # A promotion sets the low bit; a destination above the origin skips the origin's slot.
    game.push_usi("3c3d")
    bxb = game.board.move_from_usi("8h2b+")
    assert move_to_action(bxb, BLACK) == 70 * 160 + 10 * 2 + 1
    up = Game("4k4/9/9/9/9/9/9/9/K8 b - 1").board.move_from_usi("9i9h")  # from 80 to 79
    assert move_to_action(up, BLACK) == 80 * 160 + 79 * 2
    down = Game("K8/9/9/9/9/9/9/9/4k4 b - 1").board.move_from_usi("9a9b")  # from 72 to 73
    assert move_to_action(down, BLACK) == 72 * 160 + 72 * 2  # offset skips from-square 72


def test_drop_indices_in_hand_order():
    game = Game("4k4/9/9/9/9/9/9/9/4K4 b PLNSGBR 1")
    for piece, letter in enumerate("PLNSGBR"):
        move = game.board.move_from_usi(f"{letter}*5e")  # 5e = 4*9+4 = 40, its own rotation
        assert move_to_action(move, BLACK) == DROP_BASE + 40 * 7 + piece
    white = Game("4k4/9/9/9/9/9/9/9/4K4 w r 1")
    drop = white.board.move_from_usi("R*1a")  # square 0 rotates to 80
    assert move_to_action(drop, WHITE) == DROP_BASE + 80 * 7 + 6


def test_bijection_on_legal_moves_of_random_positions():
    positions = random_positions(seed=11, games=400)
    checked = 0
    for k, game in enumerate(positions):
        legal = game.legal_moves()
        actions = moves_to_actions(np.array(legal), game.turn == WHITE)
        assert len(set(actions.tolist())) == len(legal), game.sfen()
        assert ((actions >= 0) & (actions < N_ACTIONS)).all()
        mask = legal_mask(game)
        assert mask.sum() == len(legal) and mask[actions].all()
        # Each index decodes to the USI of the move it came from.
        usis = [action_to_usi(a, game.turn) for a in actions.tolist()]
        assert usis == game.legal_usi()
        if k % 10 == 0:  # the full inverse through the legal list on a tenth of them (it is slower)
            for move, action in zip(legal, actions.tolist(), strict=True):
                assert action_to_move(action, game) == move
                assert move_to_action(move, game.turn) == action
        checked += len(legal)
    whites = sum(game.turn == WHITE for game in positions)
    assert len(positions) > 5000 and 2000 < whites < 3300 and checked > 200_000


def test_decode_round_trip_on_every_action():
    for turn in (BLACK, WHITE):
        for action in range(0, N_ACTIONS, 7):
            frm, to, promote, piece = decode_action(action, turn)
            if piece is None:
                rebuilt = moves_to_actions(np.array([(frm << 7) | to | (promote << 14)]), turn == WHITE)[0]
            else:
                cshogi_from = 81 + [0, 1, 2, 3, 6, 4, 5][piece]
                rebuilt = moves_to_actions(np.array([(cshogi_from << 7) | to]), turn == WHITE)[0]
            assert rebuilt == action


def test_illegal_action_is_refused_with_its_move_name():
    game = Game()
    with pytest.raises(IllegalMoveError, match="7g7e"):
        game.push_action(60 * 160 + 58 * 2)  # 7g7e
    with pytest.raises(IllegalMoveError, match="out of range"):
        action_to_move(N_ACTIONS, game)
    with pytest.raises(ValueError):
        decode_action(-1, BLACK)
    assert game.push_action(9718) == game.moves[-1] and game.usi_moves == ["7g7f"]
