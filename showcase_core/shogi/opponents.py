"""The scripted movers (uniform random, one- and two-ply greedy) and the agent's envs against one: torch-free,
so evaluation, the curriculum and the environment workers (trainer/envworkers.py) share them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from showcase_core.shogi.actions import moves_to_actions
from showcase_core.shogi.game import BLACK
from showcase_core.shogi.movers import greedy2_move, greedy_move
from showcase_core.shogi.vecenv import Episode, VecEnv

# --- scripted movers: (VecEnv, env indices, rng) -> actions for those envs --------------------------

Mover = Callable[[VecEnv, np.ndarray, np.random.Generator], np.ndarray]


def random_mover(env: VecEnv, envs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random legal move for each listed env."""
    return env.sample_random_actions(rng)[envs]


def greedy_mover(env: VecEnv, envs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One ply of look-ahead: mate in one if there is one, else the most valuable capture (ties at
    random), else a random legal move."""
    out = np.empty(len(envs), dtype=np.int64)
    for k, i in enumerate(envs.tolist()):
        game = env.games[i]
        out[k] = int(moves_to_actions(np.array([greedy_move(game, rng)]), game.board.turn != BLACK)[0])
    return out


def greedy2_mover(env: VecEnv, envs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two plies of material (`movers.greedy2_move`): it also weighs the reply's best capture and
    avoids the mates in one it can see."""
    out = np.empty(len(envs), dtype=np.int64)
    for k, i in enumerate(envs.tolist()):
        game = env.games[i]
        out[k] = int(moves_to_actions(np.array([greedy2_move(game, rng)]), game.board.turn != BLACK)[0])
    return out


def greedy_mover_for(plies: int) -> Mover:
    """The curriculum's greedy mover (`curriculum.greedy_plies`)."""
    if plies not in (1, 2):
        raise ValueError(f"greedy_plies must be 1 or 2, got {plies}")
    return greedy_mover if plies == 1 else greedy2_mover


# --- the agent against a scripted opponent -----------------------------------------------------------


@dataclass
class OpponentStep:
    obs: np.ndarray
    mask: np.ndarray
    reward: np.ndarray  # from the agent's view
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    next_sign: np.ndarray  # +1 where the final/next state has the agent to move, -1 otherwise
    episodes: list[tuple[Episode, int]] = field(default_factory=list)  # (episode, agent colour)
    alt: list[bool] = field(default_factory=list)  # per episode: played against the env's `alt` mover


class OpponentEnv:
    """Envs where the agent plays one colour (alternating by game) and `opponent` the other. Each
    `step` takes the agent's moves and plays the opponent's replies, so every returned observation has
    the agent to move."""

    def __init__(
        self,
        num_envs: int,
        opponent: Mover,
        rng: np.random.Generator,
        *,
        max_plies: int,
        alt: Mover | None = None,
        alt_share: float = 0.0,
    ):
        self.env = VecEnv(num_envs, max_plies=max_plies)
        self.opponent = opponent
        self.rng = rng
        self.agent_colour = np.array([i % 2 for i in range(num_envs)])  # half start as White
        self.num_envs = num_envs
        # The opponent mix: each game is played against `alt` with probability `alt_share`, drawn
        # when the game starts; `uses_alt[e]` is env e's current game's draw.
        self.alt, self.alt_share = alt, alt_share
        self.uses_alt = np.zeros(num_envs, dtype=bool)
        self.alt_flags: list[bool] = []  # per episode reported, in order: was it against `alt`?
        for e in range(num_envs):
            self._draw(e)
        self._reply(np.ones(num_envs, dtype=bool), [])

    def _draw(self, e: int) -> None:
        if self.alt is not None:
            self.uses_alt[e] = self.alt_share > 0 and self.rng.random() < self.alt_share

    def _ended(self, ep, episodes: list) -> None:
        episodes.append((ep, int(self.agent_colour[ep.env])))
        self.alt_flags.append(bool(self.uses_alt[ep.env]))
        self.agent_colour[ep.env] ^= 1
        self._draw(ep.env)

    @property
    def obs(self) -> np.ndarray:
        return self.env.obs

    @property
    def mask(self) -> np.ndarray:
        return self.env.mask

    def _opponent_to_move(self) -> np.ndarray:
        return np.array([g.turn for g in self.env.games]) != self.agent_colour

    def _reply(self, fresh: np.ndarray, episodes: list, result: OpponentStep | None = None) -> None:
        """Let the opponent move wherever it is to move. Where the reply ends an agent transition
        (`fresh` False: the game was already in progress), it becomes that transition's outcome."""
        while True:
            todo = self._opponent_to_move()
            if not todo.any():
                return
            envs = np.flatnonzero(todo)
            actions = np.zeros(self.num_envs, dtype=np.int64)
            alt = self.uses_alt[envs]
            if alt.any():
                actions[envs[alt]] = self.alt(self.env, envs[alt], self.rng)
            if not alt.all():
                actions[envs[~alt]] = self.opponent(self.env, envs[~alt], self.rng)
            res = self.env.step(actions, active=todo)
            for ep in res.episodes:
                self._ended(ep, episodes)
            if result is not None:
                ended = (res.terminated | res.truncated) & ~fresh
                result.reward[ended] = -res.reward[ended]
                result.terminated[ended] = res.terminated[ended]
                result.truncated[ended] = res.truncated[ended]
                result.final_obs[ended] = res.final_obs[ended]
                result.next_sign[ended] = 1.0
            fresh = fresh | res.terminated | res.truncated  # a reset game's first reply is no outcome

    def step(self, actions: np.ndarray) -> OpponentStep:
        self.alt_flags = []
        res = self.env.step(actions)
        done = res.terminated | res.truncated
        out = OpponentStep(
            obs=res.obs,
            mask=res.mask,
            reward=res.reward.copy(),
            terminated=res.terminated.copy(),
            truncated=res.truncated.copy(),
            final_obs=res.final_obs.copy(),
            next_sign=np.where(done, -1.0, 1.0).astype(np.float32),
        )
        for ep in res.episodes:
            self._ended(ep, out.episodes)
        self._reply(done.copy(), out.episodes, out)
        out.alt = self.alt_flags
        return out
