"""Scripted movers on one `Game` (torch-free): the uniform-random mover and the one-ply greedy mover.
The trainer's batched movers (`trainer.selfplay`) and the engine ladder's round robin both use them."""

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
