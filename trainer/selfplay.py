"""Experience collection: self-play over a VecEnv, optional games against a scripted opponent. The
scripted movers and OpponentEnv are torch-free (showcase_core/shogi/opponents.py) and importable from
here as before.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from showcase_core.shogi.features import HAND_MAX
from showcase_core.shogi.opponents import (  # noqa: F401
    Mover,
    OpponentEnv,
    OpponentStep,
    greedy_mover,
    greedy_mover_for,
    random_mover,
)
from showcase_core.shogi.vecenv import Episode, VecEnv
from trainer.ppo import Rollout

# Material values (pawn = 1) indexed by our piece planes P L N S G B R K +P +L +N +S +B +R.
_BOARD_VALUES = np.array([1, 3, 4, 5, 6, 8, 10, 0, 7, 6, 6, 6, 10, 12], dtype=np.float32)
_HAND_VALUES = np.array([1, 3, 4, 5, 6, 8, 10], dtype=np.float32)
# One weight per observation plane: own pieces and hand positive, the opponent's negative.
PLANE_MATERIAL = np.concatenate(
    [
        _BOARD_VALUES,
        -_BOARD_VALUES,
        _HAND_VALUES * HAND_MAX,
        -_HAND_VALUES * HAND_MAX,
        np.zeros(4, np.float32),
    ]
)


def material(obs: np.ndarray) -> np.ndarray:
    """(N, 94, 9, 9) observations -> (N,) material balance from the side to move's view, pawn = 1.

    Board planes hold 0/1 per square; hand planes hold count / max over the whole plane, so one
    square of each hand plane times max recovers the count.
    """
    board = obs[:, :28].sum(axis=(2, 3))
    hands = obs[:, 28:42, 0, 0]
    return board @ PLANE_MATERIAL[:28] + hands @ PLANE_MATERIAL[28:42]


def potential(obs: np.ndarray, cap: float = 0.0) -> np.ndarray:
    """The shaping potential before its coefficient: the material balance (pawn = 1), clipped to
    [-cap, cap] pawns when `cap` is set, so that beyond that lead more material is worth nothing
    more and only winning pays (still a function of the state: still potential-based)."""
    m = material(obs)
    return np.clip(m, -cap, cap) if cap else m


# --- collection into rollout storage ------------------------------------------------------------------


@dataclass
class CollectStats:
    episodes: list[Episode]
    vs_opponent: list[tuple[Episode, int]]  # against the random mover
    steps: int
    seconds: float
    vs_pool: list[tuple[Episode, int]] = field(default_factory=list)  # against a past self
    vs_greedy: list[tuple[Episode, int]] = field(default_factory=list)  # against the greedy mover


class AutoMix:
    """The opponent mix that follows the agent (`curriculum.greedy_share_auto`): a window of its
    latest training games against the random mover; after each update, a window scoring at least
    `up_at` raises the greedy share by `step`, one below `down_at` lowers it, always inside
    [low, high]. A full window is needed first, and after each move the window starts afresh, so
    the share moves only on games played under the current mix."""

    def __init__(self, low: float, high: float, *, window: int = 100, up_at: float = 0.97,
                 down_at: float = 0.90, step: float = 0.02):  # fmt: skip
        self.low, self.high = low, high
        self.window, self.up_at, self.down_at, self.step = window, up_at, down_at, step
        self.scores: list[float] = []

    def after(self, share: float, scores: list[float]) -> float:
        """The share for the next update, given this update's game scores against random."""
        self.scores.extend(scores)
        if len(self.scores) < self.window:
            return share
        mean = sum(self.scores[-self.window :]) / self.window
        new = share
        if mean >= self.up_at:
            new = min(self.high, share + self.step)
        elif mean < self.down_at:
            new = max(self.low, share - self.step)
        new = round(new, 6)
        if new != share:
            self.scores = []
        else:
            del self.scores[: -self.window]
        return new


class Collector:
    """Fills a Rollout from `num_envs` self-play envs plus optional curriculum envs (against the
    random mover, then against the greedy mover) and pool envs (against `pool_opponent`, a past
    version of the agent), in that order."""

    def __init__(
        self,
        num_envs: int,
        *,
        max_plies: int,
        gamma: float,
        material_shaping: float,
        random_opponent_envs: int,
        seed: int,
        start_sfens: list[str] | None = None,
        cap_is_draw: bool = False,
        material_cap: float = 0.0,
        pool_envs: int = 0,
        pool_opponent: Mover | None = None,
        greedy_opponent_envs: int = 0,
        greedy_share: float = 0.0,
        greedy_plies: int = 1,
        workers: int = 0,
    ):
        self.rng = np.random.default_rng(seed)
        self.remote = None
        greedy_mover_for(greedy_plies)  # a bad value fails here, not in a worker
        if workers:  # the rules of every group but the pool in worker processes (trainer/envworkers.py)
            self._remote_groups(workers, num_envs, random_opponent_envs, greedy_opponent_envs, max_plies,
                                start_sfens, greedy_share, greedy_plies)  # fmt: skip
        else:
            self._local_groups(num_envs, random_opponent_envs, greedy_opponent_envs, max_plies, start_sfens,
                               greedy_share, greedy_plies)  # fmt: skip
        if pool_envs and pool_opponent is None:
            raise ValueError("pool_envs needs a pool_opponent")
        self.pool = (
            OpponentEnv(pool_envs, pool_opponent, self.rng, max_plies=max_plies) if pool_envs else None
        )
        self.num_envs = num_envs + random_opponent_envs + greedy_opponent_envs + pool_envs
        self.gamma = gamma
        # Potential phi = coefficient * material balance / 100: taking a rook (balance +20) is worth
        # 0.2 x the coefficient, against 1 for winning the game.
        self.shaping = material_shaping / 100.0
        self.cap_is_draw = cap_is_draw
        self.material_cap = material_cap
        self.reason_counts: Counter[str] = Counter()
        # Called after every step with the games that ended in it (training thumbnails): a list of
        # (kind, env in its group, Episode, the agent's colour in that game or None for self-play).
        self.watch: Callable[[list], None] | None = None

    def _local_groups(self, num_envs, random_opponent_envs, greedy_opponent_envs, max_plies, start_sfens,
                      greedy_share, greedy_plies) -> None:  # fmt: skip
        greedy = greedy_mover_for(greedy_plies)
        self.selfplay = VecEnv(num_envs, max_plies=max_plies, start_sfen=start_sfens)
        self.curriculum = (
            OpponentEnv(
                random_opponent_envs,
                random_mover,
                self.rng,
                max_plies=max_plies,
                alt=greedy,
                alt_share=greedy_share,
            )
            if random_opponent_envs
            else None
        )
        self.greedy = (
            OpponentEnv(greedy_opponent_envs, greedy, self.rng, max_plies=max_plies)
            if greedy_opponent_envs
            else None
        )

    def _remote_groups(self, workers, num_envs, random_opponent_envs, greedy_opponent_envs, max_plies,
                       start_sfens, greedy_share, greedy_plies) -> None:  # fmt: skip
        from trainer.envworkers import EnvWorkers, RemoteGroup

        sizes = {"self": num_envs, "random": random_opponent_envs, "greedy": greedy_opponent_envs}
        self.remote = EnvWorkers(workers, sizes, max_plies=max_plies, seed=int(self.rng.integers(2**31)),
                                 start_sfens=start_sfens, greedy_share=greedy_share,
                                 greedy_plies=greedy_plies)  # fmt: skip
        self.selfplay = RemoteGroup(self.remote, "self")
        self.curriculum = RemoteGroup(self.remote, "random") if random_opponent_envs else None
        self.greedy = RemoteGroup(self.remote, "greedy") if greedy_opponent_envs else None

    def close(self) -> None:
        """Stop the environment workers, if any (a no-op without them)."""
        if self.remote is not None:
            self.remote.close()

    def set_greedy_share(self, share: float) -> None:
        """The opponent mix of the random-opponent envs from their next games on (the `greedy_share`
        knob): each new game is against the greedy mover with this probability."""
        if self.remote is not None:
            self.remote.set_greedy_share(float(share))
        elif self.curriculum is not None:
            self.curriculum.alt_share = float(share)

    def groups(self) -> list[tuple[str, VecEnv | OpponentEnv]]:
        """(kind, group) of every group of envs, in observation order: self, random, greedy, pool."""
        named = (("random", self.curriculum), ("greedy", self.greedy), ("pool", self.pool))
        return [("self", self.selfplay), *((k, g) for k, g in named if g is not None)]

    def _opponent_envs(self) -> list[OpponentEnv]:
        return [e for e in (self.curriculum, self.greedy, self.pool) if e is not None]

    def observation(self) -> tuple[np.ndarray, np.ndarray]:
        """The current (obs, mask) of every env: self-play first, then random-opponent, greedy-opponent
        and pool envs."""
        if self.remote is not None:  # the workers' block is already in group order
            if self.pool is None:
                return self.remote.obs, self.remote.mask
            return (np.concatenate([self.remote.obs, self.pool.obs]),
                    np.concatenate([self.remote.mask, self.pool.mask]))  # fmt: skip
        groups = [self.selfplay, *self._opponent_envs()]
        if len(groups) == 1:
            return self.selfplay.obs, self.selfplay.mask
        return np.concatenate([g.obs for g in groups]), np.concatenate([g.mask for g in groups])

    def _step_groups(self, a: np.ndarray, groups: list) -> tuple:
        """One step of every group: the self-play result and, per opponent group in `groups` order,
        its result. With workers, the pool (the only group left here) steps while they do."""
        if self.remote is None:
            res = self.selfplay.step(a[: self.selfplay.num_envs])
            out, start = [], self.selfplay.num_envs
            for group, _games, _kind in groups:
                out.append(group.step(a[start : start + group.num_envs]))
                start += group.num_envs
            return res, out
        n = self.remote.total
        self.remote.send_step(a[:n])
        try:
            pool = self.pool.step(a[n:]) if self.pool is not None else None
        finally:
            parts = self.remote.finish_step()
        kinds = {id(self.curriculum): "random", id(self.greedy): "greedy"}
        out = [pool if group is self.pool else parts[kinds[id(group)]] for group, _games, _kind in groups]
        return parts["self"], out

    @torch.no_grad()
    def collect(self, rollout: Rollout, act: Callable, value_of: Callable) -> CollectStats:
        """`act(obs, mask) -> (actions, logprobs, values)` on tensors; `value_of(obs) -> values`."""
        start = time.perf_counter()
        n_self = self.selfplay.num_envs
        episodes: list[Episode] = []
        vs_opponent: list[tuple[Episode, int]] = []
        vs_pool: list[tuple[Episode, int]] = []
        vs_greedy: list[tuple[Episode, int]] = []
        # Each opponent group with the list its finished games go to, in observation order.
        groups = [
            (g, games, kind)
            for g, games, kind in (
                (self.curriculum, vs_opponent, "random"),
                (self.greedy, vs_greedy, "greedy"),
                (self.pool, vs_pool, "pool"),
            )
            if g is not None
        ]
        T = rollout.actions.shape[0]
        obs, mask = self.observation()
        for t in range(T):
            rollout.obs[t] = torch.from_numpy(obs)
            rollout.masks[t] = torch.from_numpy(mask)
            actions, logprobs, values = act(rollout.obs[t], rollout.masks[t])
            rollout.actions[t] = actions
            rollout.logprobs[t] = logprobs
            rollout.values[t] = values
            cap = self.material_cap
            phi_before = potential(obs, cap) if self.shaping else None

            a = actions.numpy()
            res, stepped = self._step_groups(a, groups)
            reward = [res.reward]
            terminated, truncated = [res.terminated], [res.truncated]
            final_obs, next_sign = [res.final_obs], [np.full(n_self, -1.0, np.float32)]
            episodes += res.episodes
            ended = [("self", ep.env, ep, None) for ep in res.episodes] if self.watch else None
            for (_group, games, kind), cur in zip(groups, stepped, strict=True):
                reward.append(cur.reward)
                terminated.append(cur.terminated)
                truncated.append(cur.truncated)
                final_obs.append(cur.final_obs)
                next_sign.append(cur.next_sign)
                alt = cur.alt if len(cur.alt) == len(cur.episodes) else [False] * len(cur.episodes)
                for (ep, colour), against_alt in zip(cur.episodes, alt, strict=True):
                    (vs_greedy if against_alt else games).append((ep, colour))  # the mix: by opponent
                if ended is not None:
                    ended += [
                        (kind, ep.env, ep, colour, "greedy" if a else kind)  # group, env, ..., opponent
                        for (ep, colour), a in zip(cur.episodes, alt, strict=True)
                    ]
            reward = np.concatenate(reward)
            terminated, truncated = np.concatenate(terminated), np.concatenate(truncated)
            sign = np.concatenate(next_sign)
            obs, mask = self.observation()
            final = np.concatenate(final_obs) if len(final_obs) > 1 else final_obs[0]
            if ended is not None:
                self.watch(ended)

            if self.cap_is_draw and truncated.any():
                # The ply cap ends the game as a draw: the observation shows the plies played, so
                # the cap is part of the game the agent sees, and evaluation scores it as a draw.
                terminated, truncated = terminated | truncated, np.zeros_like(truncated)

            if phi_before is not None:
                # Potential-based shaping F = gamma * phi(s') - phi(s), phi from each mover's view;
                # the potential of a terminal state is 0 so shaping cannot change who should win.
                # phi(s') from whoever moves there goes into the rollout for the shaped baseline.
                phi_next = np.where(truncated, potential(final, cap), potential(obs, cap))
                phi_next[terminated] = 0.0
                reward = reward + self.shaping * (self.gamma * phi_next * sign - phi_before)
                rollout.potentials[t] = torch.from_numpy(self.shaping * phi_before)
                rollout.next_potentials[t] = torch.from_numpy(self.shaping * phi_next)

            rollout.rewards[t] = torch.from_numpy(reward.astype(np.float32))
            rollout.terminated[t] = torch.from_numpy(terminated)
            rollout.truncated[t] = torch.from_numpy(truncated)
            rollout.next_sign[t] = torch.from_numpy(sign)
            rollout.next_values[t] = 0.0  # filled below: truncation now, live envs from the next step
            if truncated.any():
                idx = np.flatnonzero(truncated)
                rollout.next_values[t, idx] = value_of(torch.from_numpy(final[idx]))
            if t > 0:
                live = ~(rollout.terminated[t - 1] | rollout.truncated[t - 1])
                rollout.next_values[t - 1] = torch.where(live, rollout.values[t], rollout.next_values[t - 1])
        # Bootstrap the last step from the position each env is in now.
        live = ~(rollout.terminated[T - 1] | rollout.truncated[T - 1])
        tail = value_of(torch.from_numpy(obs))
        rollout.next_values[T - 1] = torch.where(live, tail, rollout.next_values[T - 1])
        for ep in episodes:
            self.reason_counts[ep.reason] += 1
        seconds = time.perf_counter() - start
        return CollectStats(episodes, vs_opponent, T * self.num_envs, seconds, vs_pool, vs_greedy)
