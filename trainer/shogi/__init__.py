"""Torch-free Shogi: rules (Game), action space, observation features, vector env, notation, records.

Importable on its own: the server uses it without torch.
"""

from trainer.shogi.actions import N_ACTIONS, action_to_move, legal_mask, move_to_action
from trainer.shogi.features import N_PLANES, observe
from trainer.shogi.game import BLACK, STARTING_SFEN, WHITE, Game, IllegalMoveError, Outcome, SfenError, perft
from trainer.shogi.vecenv import VecEnv

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
