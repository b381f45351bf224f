"""N Shogi games stepped together, with batched observations and legal-action masks.

Self-play convention: one policy plays both sides; each env's observation is from its side to move.
`step` returns the reward from the view of the player who just moved (+1 win, -1 loss, 0 draw or
truncation), `terminated` for a rules ending, `truncated` for the max-ply cap, the terminal observation
of every env that ended (the returned observation is already the reset game), and auto-resets.

The returned `obs` and `mask` arrays are the env's own buffers, overwritten by the next call: copy what
you keep (rollout storage does).

Each step keeps only the compact encoding (`features.encode_compact`: 99 int16 per env, planes 0-45;
the attack planes come from the cshogi boards when read) and the legal actions as flat lists; the 80
float planes and the 13,527-entry mask are built from them when `obs` or `mask` is read (once per
step), so a caller that needs neither (random play, the scripted movers' side of a match) never pays
for them, and the dense arrays are not rewritten on every step. The contents are those of `observe`
and `legal_mask`, bit for bit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from showcase_core.shogi.actions import N_ACTIONS, moves_to_actions
from showcase_core.shogi.features import (
    COMPACT_WIDTH,
    N_PLANES,
    PIECE_CODES,
    Attacks,
    encode_compact,
    expand_compact,
)
from showcase_core.shogi.game import DEFAULT_MAX_PLIES, Game, IllegalMoveError

# cshogi piece type of a hand piece (P L N S B R G = 1..7) -> index in pieces_in_hand (P L N S G B R).
_HAND_INDEX = np.array([-1, 0, 1, 2, 3, 5, 6, 4], dtype=np.int64)


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
    env: VecEnv  # `obs` and `mask` are the env's, after auto-reset, built on first read
    reward: np.ndarray  # (N,) float32, from the mover's view
    terminated: np.ndarray  # (N,) bool
    truncated: np.ndarray  # (N,) bool
    final_obs: np.ndarray  # (N, 94, 9, 9): terminal observation where done, else zeros (reused: copy it)
    reasons: list[str | None]  # per env: why it ended this step, or None
    episodes: list[Episode] = field(default_factory=list)

    @property
    def obs(self) -> np.ndarray:  # (N, 94, 9, 9) float32
        return self.env.obs

    @property
    def mask(self) -> np.ndarray:  # (N, 13527) bool
        return self.env.mask


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
        self.compact = np.zeros((num_envs, COMPACT_WIDTH), dtype=np.int16)
        # Every board as cshogi piece codes (Black's frame) and both hands, kept up to date from the
        # moves played (numpy, all envs at once) instead of read back from cshogi every step.
        self._board = np.zeros((num_envs, 81), dtype=np.int64)
        self._hands = np.zeros((num_envs, 2, 7), dtype=np.int64)
        self._obs = np.zeros((num_envs, N_PLANES, 9, 9), dtype=np.float32)
        self._attacks = Attacks(num_envs)
        self._mask = np.zeros((num_envs, N_ACTIONS), dtype=bool)
        self._obs_fresh = self._mask_fresh = False
        self._no_final = np.zeros_like(self._obs)
        self._no_final.flags.writeable = False
        self._rows = np.arange(num_envs)
        # Legal actions as flat arrays: per env a segment (offsets, counts), as actions, cshogi
        # moves, the env of each entry and its cell in the dense mask (row * N_ACTIONS + action).
        self._flat_actions = np.zeros(0, dtype=np.int64)
        self._flat_moves = np.zeros(0, dtype=np.int64)
        self._cells = np.zeros(0, dtype=np.int64)
        self._flat_rows = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(num_envs, dtype=np.int64)
        self._final = np.zeros_like(self._obs)  # terminal observations, rows cleared after use
        self._final_rows: list[int] = []
        self._mask_cells = np.zeros(0, dtype=np.int64)  # what the dense mask has set
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
        self._refresh()
        return self.obs, self.mask

    @property
    def obs(self) -> np.ndarray:
        """(N, 94, 9, 9) float32 observations of the current positions (built once per step)."""
        if not self._obs_fresh:
            expand_compact(self.compact, self._obs, self.max_plies)
            self._attacks.write(self.games, self._obs)
            self._obs_fresh = True
        return self._obs

    @property
    def mask(self) -> np.ndarray:
        """(N, 13527) bool legal-action masks of the current positions (built once per step)."""
        if not self._mask_fresh:
            flat = self._mask.reshape(-1)
            flat[self._mask_cells] = False  # clear only what the last build set
            flat[self._cells] = True
            self._mask_cells = self._cells
            self._mask_fresh = True
        return self._mask

    def moves_for(self, actions: np.ndarray) -> np.ndarray:
        """The cshogi move of each env's action, and -1 where that action is not legal there: one
        comparison over the flat legal lists (an action occurs at most once in an env's list)."""
        actions = np.asarray(actions, dtype=np.int64)
        hits = np.flatnonzero(self._flat_actions == np.repeat(actions, self._counts))
        out = np.full(self.num_envs, -1, dtype=np.int64)
        out[self._flat_rows[hits]] = self._flat_moves[hits]
        return out

    def _sync(self, envs) -> None:
        """Read the boards and hands of `envs` back from cshogi (new or replaced games)."""
        for i in envs:
            board = self.games[i].board
            self._board[i] = board.pieces
            self._hands[i] = board.pieces_in_hand

    def _apply(self, envs: np.ndarray, moves: np.ndarray, movers: np.ndarray) -> None:
        """Play cshogi `moves` (one per env in `envs`, by colour `movers`) on the kept boards: bits
        0-6 to, 7-13 from (81 + type - 1 for a drop), 14 promotion, 16-19 the moving piece's type,
        20-23 the captured piece's type (promoted types are the base + 8)."""
        to, frm = moves & 0x7F, (moves >> 7) & 0x7F
        colour = movers * 16
        drop = frm >= 81
        step = ~drop
        e, cap = envs[step], (moves[step] >> 20) & 0xF
        self._board[e, frm[step]] = 0
        self._board[e, to[step]] = ((moves[step] >> 16) & 0xF) + 8 * ((moves[step] >> 14) & 1) + colour[step]
        took = cap > 0
        base = np.where(cap[took] > 8, cap[took] - 8, cap[took])
        self._hands[e[took], movers[step][took], _HAND_INDEX[base]] += 1
        kind = frm[drop] - 80
        self._board[envs[drop], to[drop]] = kind + colour[drop]
        self._hands[envs[drop], movers[drop], _HAND_INDEX[kind]] -= 1

    def _refresh(self, synced: bool = False) -> None:
        """Encode every env's position compactly and list its legal actions (batched numpy passes).
        Unless `synced`, every board is first read back from cshogi."""
        games = self.games
        if not synced:
            self._sync(range(self.num_envs))
        self._obs_fresh = self._mask_fresh = False
        counts_l: list[int] = []
        whites: list[int] = []
        flat: list[int] = []
        scalars: list[int] = []
        for game in games:
            legal = game._legal  # never empty here: auto-reset replaced finished games
            counts_l.append(len(legal))
            white = game.board.turn
            whites.append(white)
            flat.extend(legal)
            keys = game._keys
            scalars += (1 - white, len(keys) - 1, game._counts[keys[-1]] - 1, game._checks[-1])
        w = np.array(whites, dtype=np.int64)
        codes = PIECE_CODES[w[:, None], self._board]
        rotate = w.astype(bool)
        codes[rotate] = codes[rotate, ::-1]
        compact = self.compact
        compact[:, :81] = codes
        rows = self._rows
        compact[:, 81:88] = self._hands[rows, w]
        compact[:, 88:95] = self._hands[rows, 1 - w]
        compact[:, 95:99] = np.array(scalars, dtype=np.int16).reshape(-1, 4)
        counts = np.array(counts_l, dtype=np.int64)
        moves = np.array(flat, dtype=np.int64)
        actions = moves_to_actions(moves, np.repeat(np.array(whites, dtype=bool), counts))
        self._flat_rows = np.repeat(self._rows, counts)
        self._cells = self._flat_rows * N_ACTIONS + actions  # flat index into (N, 13527)
        self._counts = counts
        self._flat_moves = moves
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
        found = self.moves_for(actions)
        if (found < 0).any():
            bad = int(np.flatnonzero(found < 0)[0])
            raise IllegalMoveError(
                f"env {bad}: action {int(actions[bad])} is not legal in {self.games[bad].sfen()}"
            )
        moves_arr = found
        moves = found.tolist()

        n = self.num_envs
        reward = np.zeros(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        reasons: list[str | None] = [None] * n
        done: list[int] = []
        games = self.games
        whites = self._whites
        moved = self._rows if active is None else np.flatnonzero(active)
        self._apply(moved, moves_arr[moved], np.asarray(whites, dtype=np.int64)[moved])
        for i in moved.tolist():
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
            final_obs = self._final
            final_obs[self._final_rows] = 0.0
            self._final_rows = done
            compact = encode_compact(finished, np.empty((len(done), COMPACT_WIDTH), np.int16))
            planes = expand_compact(
                compact, np.empty((len(done), N_PLANES, 9, 9), np.float32), self.max_plies
            )
            self._attacks.write(finished, planes)
            final_obs[done] = planes
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
            self._sync(done)
        self._refresh(synced=True)
        return StepResult(self, reward, terminated, truncated, final_obs, reasons, episodes)

    def stats(self) -> dict[str, float | int | dict[str, int]]:
        """Episode statistics since construction: count, mean length, results and reasons."""
        n = self.episodes_finished
        return {
            "episodes": n,
            "mean_length": self.total_episode_plies / n if n else float("nan"),
            "results": dict(self.result_counts),
            "reasons": dict(self.reason_counts),
        }
