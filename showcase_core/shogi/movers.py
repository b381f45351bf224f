"""Scripted movers on one `Game` (torch-free): the uniform-random mover, the one-ply greedy mover and
the two-ply greedy mover. The trainer's batched movers (`trainer.selfplay`) and the engine ladder's
round robin use them."""

from __future__ import annotations

import random

import numpy as np

from showcase_core.shogi.game import Game

# cshogi piece type (1..14: P L N S B R G K +P +L +N +S +B +R) -> value of capturing it.
CAPTURE_VALUE = np.array([0, 1, 3, 4, 5, 8, 10, 6, 0, 7, 6, 6, 6, 10, 12], dtype=np.float32)


def mate_in_one(game: Game) -> int:
    """A mating move of the side to move, or 0. cshogi's search assumes the mover is not in check and
    can name an illegal move otherwise, so its answer is checked against the legal list."""
    if game.is_over or game.in_check:
        return 0
    mate = game.board.mate_move_in_1ply()
    return mate if mate and mate in game._legal else 0


def random_move(game: Game, rng: random.Random | np.random.Generator) -> int:
    legal = game._legal
    return legal[int(rng.integers(len(legal)))] if isinstance(rng, np.random.Generator) else rng.choice(legal)


def greedy_move(game: Game, rng: np.random.Generator) -> int:
    """Mate in one if there is one, else the most valuable capture (ties at random), else a random
    legal move."""
    mate = mate_in_one(game)
    if mate:
        return mate
    legal = np.array(game._legal, dtype=np.int64)
    gains = CAPTURE_VALUE[(legal >> 20) & 0xF]
    best = np.flatnonzero(gains == gains.max()) if gains.max() > 0 else np.arange(len(legal))
    return int(legal[rng.choice(best)])


# What a reply that mates is worth to the two-ply mover: more than any material.
MATED = 1000.0


def greedy2_move(game: Game, rng: np.random.Generator) -> int:
    """Two plies of material: mate in one if there is one; else the move whose capture minus the
    best capture the opponent could make in reply is largest (ties at random), where a reply that
    mates in one (cshogi's search, tried only when the reply does not start in check) costs more
    than any material and a move that leaves no legal reply is taken. It keeps its pieces out of
    one-move captures and parries the mates it can see: a defender, where the one-ply mover only
    grabs."""
    mate = mate_in_one(game)
    if mate:
        return mate
    board = game.board
    legal = np.array(game._legal, dtype=np.int64)
    score = CAPTURE_VALUE[(legal >> 20) & 0xF].astype(np.float64)
    for k, move in enumerate(legal.tolist()):
        board.push(move)
        replies = np.fromiter(board.legal_moves, dtype=np.int64)
        if not len(replies):
            score[k] = MATED  # the reply side has no move: this wins (a mate the search missed)
        elif not board.is_check() and board.mate_move_in_1ply():
            score[k] -= MATED
        else:
            score[k] -= CAPTURE_VALUE[(replies >> 20) & 0xF].max()
        board.pop()
    best = np.flatnonzero(score == score.max())
    return int(legal[rng.choice(best)])
