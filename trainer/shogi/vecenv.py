"""N Shogi games stepped together, with batched observations and legal-action masks.

Self-play convention: one policy plays both sides; each env's observation is from its side to move.
`step` returns the reward from the view of the player who just moved (+1 win, -1 loss, 0 draw or
truncation), `terminated` for a rules ending, `truncated` for the max-ply cap, the terminal observation
of every env that ended (the returned observation is already the reset game), and auto-resets.

The returned `obs` and `mask` arrays are the env's own buffers, overwritten by the next call: copy what
you keep (rollout storage does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trainer.shogi.actions import N_ACTIONS, moves_to_actions
from trainer.shogi.features import N_PLANES, Encoder
from trainer.shogi.game import DEFAULT_MAX_PLIES, Game, IllegalMoveError


@dataclass
class Episode:
    """One finished game: which env, how long, how it ended."""

    env: int
    length: int
    reason: str
    winner: int | None  # BLACK 0, WHITE 1, None
    terminated: bool
    final_sfen: str
    moves: list[int]


@dataclass
class StepResult:
    obs: np.ndarray  # (N, 46, 9, 9) float32, after auto-reset
    mask: np.ndarray  # (N, 13527) bool
    reward: np.ndarray  # (N,) float32, from the mover's view
    terminated: np.ndarray  # (N,) bool
    truncated: np.ndarray  # (N,) bool
    final_obs: np.ndarray  # (N, 46, 9, 9): terminal observation where done, else zeros
    reasons: list[str | None]  # per env: why it ended this step, or None
    episodes: list[Episode] = field(default_factory=list)


class VecEnv:
    """`num_envs` games, each capped at `max_plies`, starting from `start_sfen`: the initial position
    (None), one SFEN, or a list of SFENs that new games take in turn."""

    def __init__(
        self,
        num_envs: int,
        *,
        max_plies: int = DEFAULT_MAX_PLIES,
        start_sfen: str | Sequence[str] | None = None,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.num_envs = num_envs
        self.max_plies = max_plies
        starts = [start_sfen] if start_sfen is None or isinstance(start_sfen, str) else list(start_sfen)
        if not starts:
            raise ValueError("start_sfen must name at least one position")
        for sfen in starts:
            game = Game(sfen, max_plies=max_plies)
            if game.is_over:
                raise ValueError(f"start position is already over ({game.outcome.reason}): {sfen}")
        self._starts = starts
        self._next_start = 0
        self.games = [self._new_game() for _ in range(num_envs)]
        self._encoder = Encoder(num_envs)
        self.obs = np.zeros((num_envs, N_PLANES, 9, 9), dtype=np.float32)
        self.mask = np.zeros((num_envs, N_ACTIONS), dtype=bool)
        self._no_final = np.zeros_like(self.obs)
        self._no_final.flags.writeable = False
        # action -> cshogi move, filled only where the mask is True.
        self._move_table = np.zeros((num_envs, N_ACTIONS), dtype=np.int32)
        self._rows = np.arange(num_envs)
        # Legal actions as flat arrays (for uniform random sampling without scanning the mask).
        self._flat_actions = np.zeros(0, dtype=np.int64)
        self._mask_cells = np.zeros(0, dtype=np.int64)
        self._row_starts = self._rows * N_ACTIONS
        self._whites: list[int] = []
        self._offsets = np.zeros(num_envs + 1, dtype=np.int64)
        # Episode statistics since construction.
        self.episodes_finished = 0
        self.reason_counts: Counter[str] = Counter()
        self.result_counts: Counter[str] = Counter()
        self.total_episode_plies = 0
        self._refresh()

    def _new_game(self) -> Game:
        sfen = self._starts[self._next_start % len(self._starts)]
        self._next_start += 1
        return Game(sfen, max_plies=self.max_plies)

    def reset(self) -> tuple[np.ndarray, np.ndarray]:
        self.games = [self._new_game() for _ in range(self.num_envs)]
        self.mask[:] = False
        self._refresh()
        return self.obs, self.mask

    def _refresh(self) -> None:
        """Encode every env's observation and legal mask (batched: one numpy pass for all envs)."""
        games = self.games
        self._encoder.encode(games, self.obs)
        counts_l: list[int] = []
        whites: list[int] = []
        flat: list[int] = []
        for game in games:
            legal = game._legal  # never empty here: auto-reset replaced finished games
            counts_l.append(len(legal))
            whites.append(game.board.turn)
            flat.extend(legal)
        counts = np.array(counts_l, dtype=np.int64)
        moves = np.array(flat, dtype=np.int64)
        actions = moves_to_actions(moves, np.repeat(np.array(whites, dtype=bool), counts))
        cells = np.repeat(self._row_starts, counts) + actions  # flat index into (N, 13527)
        # Clear only what the previous step set: cheaper than wiping all N x 13527 entries.
        mask_flat = self.mask.reshape(-1)
        mask_flat[self._mask_cells] = False
        mask_flat[cells] = True
        self._move_table.reshape(-1)[cells] = moves
        self._mask_cells = cells
        self._flat_actions = actions
        self._whites = whites
        np.cumsum(counts, out=self._offsets[1:])

    def restart(self, i: int, sfen: str | None) -> None:
        """Replace env `i`'s game with a new one from `sfen` (None = the initial position)."""
        game = Game(sfen, max_plies=self.max_plies)
        if game.is_over:
            raise ValueError(f"start position is already over ({game.outcome.reason}): {sfen}")
        self.games[i] = game
        self._refresh()

    def adjudicate(self, i: int, winner: int | None, reason: str) -> Episode:
        """End env `i`'s game by a decision from outside the rules (a resignation, a forfeit for an
        illegal move) and reset it; returns its episode, counted like any other."""
        game = self.games[i]
        episode = Episode(i, game.ply, reason, winner, True, game.sfen(), game.moves)
        self.episodes_finished += 1
        self.reason_counts[reason] += 1
        self.result_counts[{0: "black", 1: "white", None: "draw"}[winner]] += 1
        self.total_episode_plies += game.ply
        self.games[i] = self._new_game()
        self._refresh()
        return episode

    def sample_random_actions(self, rng: np.random.Generator) -> np.ndarray:
        """One uniformly random legal action per env (what a random agent would play)."""
        counts = np.diff(self._offsets)
        picks = self._offsets[:-1] + (rng.random(self.num_envs) * counts).astype(np.int64)
        return self._flat_actions[picks]

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> StepResult:
        """Play one action per env. With `active` (bool per env), only those envs move; the others'
        actions are ignored and their games stay as they are (used when two players alternate)."""
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        if active is not None:
            active = np.asarray(active, dtype=bool)
            actions = np.where(active, actions, self._flat_actions[self._offsets[:-1]])
        if ((actions < 0) | (actions >= N_ACTIONS)).any():
            raise IllegalMoveError(f"actions must be in [0, {N_ACTIONS}), got {actions.tolist()}")
        legal = self.mask[self._rows, actions]
        if not legal.all():
            bad = int(np.flatnonzero(~legal)[0])
            raise IllegalMoveError(
                f"env {bad}: action {int(actions[bad])} is not legal in {self.games[bad].sfen()}"
            )
        moves = self._move_table[self._rows, actions].tolist()

        n = self.num_envs
        reward = np.zeros(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        done: list[int] = []
        games = self.games
        whites = self._whites
        for i in range(n) if active is None else np.flatnonzero(active).tolist():
            game = games[i]
            mover = whites[i]
            game._advance(moves[i])
            outcome = game.outcome
            if outcome is not None:
                done.append(i)
                reasons[i] = outcome.reason
                if outcome.terminated:
                    terminated[i] = True
                    if outcome.winner is not None:
                        reward[i] = 1.0 if outcome.winner == mover else -1.0
                else:
                    truncated[i] = True

        episodes: list[Episode] = []
        final_obs = self._no_final
        if done:
            finished = [games[i] for i in done]
            final_obs = np.zeros_like(self.obs)
            final_obs[done] = self._encoder.encode(
                finished, np.empty((len(done), N_PLANES, 9, 9), np.float32)
            )
            for i, game in zip(done, finished, strict=True):
                o = game.outcome
                episodes.append(
                    Episode(i, game.ply, o.reason, o.winner, o.terminated, game.sfen(), game.moves)
                )
                self.episodes_finished += 1
                self.reason_counts[o.reason] += 1
                self.result_counts[o.result] += 1
                self.total_episode_plies += game.ply
                games[i] = self._new_game()
        self._refresh()
        return StepResult(self.obs, self.mask, reward, terminated, truncated, final_obs, reasons, episodes)

    def stats(self) -> dict[str, float | int | dict[str, int]]:
        """Episode statistics since construction: count, mean length, results and reasons."""
        n = self.episodes_finished
        return {
            "episodes": n,
            "mean_length": self.total_episode_plies / n if n else float("nan"),
            "results": dict(self.result_counts),
            "reasons": dict(self.reason_counts),
        }
