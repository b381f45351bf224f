"""Torch-free Shogi: rules (Game), action space, observation features, vector env, notation, records.

Importable on its own: the server uses it without torch.
"""

from showcase_core.shogi.actions import N_ACTIONS, action_to_move, legal_mask, move_to_action
from showcase_core.shogi.features import N_PLANES, observe
from showcase_core.shogi.game import (
    BLACK,
    STARTING_SFEN,
    WHITE,
    Game,
    IllegalMoveError,
    Outcome,
    SfenError,
    perft,
)
from showcase_core.shogi.vecenv import VecEnv

__all__ = [
    "BLACK",
    "N_ACTIONS",
    "N_PLANES",
    "STARTING_SFEN",
    "WHITE",
    "Game",
    "IllegalMoveError",
    "Outcome",
    "SfenError",
    "VecEnv",
    "action_to_move",
    "legal_mask",
    "move_to_action",
    "observe",
    "perft",
]
