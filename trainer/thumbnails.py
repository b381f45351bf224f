"""Training thumbnails: a sampled handful of the trainer's parallel games, published at a low, bounded
rate as `training_games` (position, who plays, the result when one ends) for `/overlay/training`.

The watched envs are fixed at the start: taken in turn from each group of games (self-play, against
the random mover, the greedy mover, a past self), so every kind the trainer plays shows. A watched
game that ends is shown once more with its final position and result, then the next game in that
env takes the slot. The cost is a few `sfen()` calls per message, at most one message every
`live.thumbnails_every_s`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from showcase_core.protocol import TrainingGame, TrainingGames
from showcase_core.shogi.game import BLACK

OPPONENT_LABEL = {
    "self": "itself",
    "random": "the random mover",
    "greedy": "the greedy mover",
    "pool": "a past self",
}


class Thumbnails:
    """Watch `slots` envs of `collector`; `on_step` (the collector calls it after every step) publishes
    at most once every `every_s` seconds through `publish(t, payload)`."""

    def __init__(
        self,
        collector,
        publish: Callable,
        *,
        slots: int = 6,
        every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.collector = collector
        self.publish = publish
        self.every_s = every_s
        self.clock = clock
        self.update = 0
        groups = collector.groups()  # [(kind, env or OpponentEnv)]
        picks: list[tuple[str, object, int]] = []
        depth = 0
        while len(picks) < slots and any(depth < g.num_envs for _, g in groups):
            for kind, group in groups:
                if depth < group.num_envs and len(picks) < slots:
                    picks.append((kind, group, depth))
            depth += 1
        self.watched = picks
        self.ended: dict[int, TrainingGame] = {}  # slot -> the game that just ended, shown once
        self.next_due = 0.0
        self.published = 0

    def _agent(self, group, env: int) -> str:
        colour = getattr(group, "agent_colour", None)
        if colour is None:
            return "both"
        return "black" if int(colour[env]) == BLACK else "white"

    def _opponent_name(self, kind: str) -> str:
        if kind == "pool":
            name = getattr(self.collector.pool.opponent, "name", None)
            return f"a past self ({name})" if name and name != "current" else OPPONENT_LABEL[kind]
        return OPPONENT_LABEL[kind]

    def on_step(self, finished: list[tuple[str, int, object, int | None]]) -> None:
        """`finished`: (kind, env index in its group, Episode, agent colour at that game[, the
        opponent it played when the group mixes opponents]) this step."""
        for kind, env, episode, agent, *played in finished:
            opponent = played[0] if played else kind
            for slot, (k, _group, i) in enumerate(self.watched):
                if k == kind and i == env:
                    result = (
                        "draw"
                        if episode.winner is None
                        else ("black" if episode.winner == BLACK else "white")
                    )
                    self.ended[slot] = TrainingGame(
                        slot=slot,
                        opponent=opponent,
                        opponent_name=self._opponent_name(opponent),
                        agent="both" if agent is None else ("black" if agent == BLACK else "white"),
                        sfen=episode.final_sfen,
                        ply=episode.length,
                        last_usi=_usi(episode.moves[-1]) if episode.moves else None,
                        result=result,
                        reason=episode.reason,
                    )
        now = self.clock()
        if now < self.next_due:
            return
        self.next_due = now + self.every_s
        games = []
        for slot, (kind, group, i) in enumerate(self.watched):
            ended = self.ended.pop(slot, None)
            if ended is not None:
                games.append(ended)
                continue
            game = _games(group)[i]
            uses_alt = getattr(group, "uses_alt", None)
            opponent = "greedy" if uses_alt is not None and uses_alt[i] else kind  # the opponent mix
            games.append(
                TrainingGame(
                    slot=slot,
                    opponent=opponent,
                    opponent_name=self._opponent_name(opponent),
                    agent=self._agent(group, i),
                    sfen=game.sfen(),
                    ply=game.ply,
                    last_usi=_usi(game.moves[-1]) if game.moves else None,
                )
            )
        self.publish("training_games", TrainingGames(update=self.update, games=games))
        self.published += 1


def _games(group):
    return group.env.games if hasattr(group, "env") else group.games


def _usi(move: int) -> str:
    import cshogi

    return cshogi.move_to_usi(move)
