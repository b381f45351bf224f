"""Showcase matches: who the AI can play besides itself, and the players that make the other side's
moves. `past:<checkpoint>` is one of this run's kept checkpoints (the AI from earlier in the run);
`rung:<name>` is a rung of the calibrated engine ladder (showcase_core/engines/ladder.json) that is
installed here. Engines are opponents only: they never produce a training sample.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from showcase_core.engines.ladder import Rung, available, load_table, table_ratings, table_rungs
from showcase_core.engines.play import Player
from showcase_core.protocol import Opponent
from showcase_core.shogi.actions import action_to_move, legal_mask
from showcase_core.shogi.features import observe
from showcase_core.shogi.game import Game

_CHECKPOINT = re.compile(r"^(minute_[0-9.]+|update_\d{6})$")


class OpponentUnavailable(RuntimeError):
    """The opponent asked for cannot play (a checkpoint gone or unreadable, an engine not installed)."""


def _describe(stem: str) -> str:
    if stem.startswith("update_"):
        return f"the AI at update {int(stem[7:])}"
    return f"the AI after {stem[7:]} minutes"


class Opponents:
    """The run's kept checkpoints (`checkpoints`) and the installed ladder rungs, as `Opponent`s;
    `elo_at(update)` gives the ladder Elo an evaluation measured at that update (None if none)."""

    def __init__(
        self,
        checkpoints: Path | None,
        *,
        elo_at: Callable[[int], float | None] = lambda update: None,
        table: dict | None = None,
        search_dirs=None,
    ):
        self.checkpoints = Path(checkpoints) if checkpoints else None
        self.elo_at = elo_at
        table = load_table() if table is None else table
        self.ratings = table_ratings(table)
        self.rungs: dict[str, Rung] = {r.name: r for r in table_rungs(table)}
        self.search_dirs = search_dirs
        kw = {} if search_dirs is None else {"search_dirs": search_dirs}
        self._installed = {
            name for name, rung in self.rungs.items() if rung.kind != "engine" or available(rung, **kw)
        }
        self._updates: dict[str, int] = {}  # checkpoint stem -> its update, read once

    def _checkpoint_update(self, path: Path) -> int | None:
        if path.stem not in self._updates:
            if path.stem.startswith("update_"):
                self._updates[path.stem] = int(path.stem[7:])
            else:
                try:
                    data = torch.load(path, map_location="cpu", weights_only=True)
                    self._updates[path.stem] = int(data["update"])
                except Exception:  # unreadable: not offered
                    return None
        return self._updates[path.stem]

    def offered(self) -> list[Opponent]:
        out = []
        if self.checkpoints is not None and self.checkpoints.is_dir():
            past = []
            for path in self.checkpoints.glob("*.pt"):
                if not _CHECKPOINT.match(path.stem):
                    continue
                update = self._checkpoint_update(path)
                if update is not None:
                    past.append((update, path.stem))
            for update, stem in sorted(past):  # oldest first: the poll takes the first and the last
                out.append(Opponent(id=f"past:{stem}", name=_describe(stem), elo=self.elo_at(update)))
        for name in self.rungs:
            if name in self._installed:
                out.append(
                    Opponent(id=f"rung:{name}", name=rung_name(self.rungs[name]), elo=self.ratings.get(name))
                )
        return out

    def open(self, opponent: str, *, temperature: float, seed: int) -> MatchPlayer:
        kind, _, name = opponent.partition(":")
        if kind == "past":
            if self.checkpoints is None or not _CHECKPOINT.match(name):
                raise OpponentUnavailable(f"{opponent}: not a checkpoint of this run")
            path = self.checkpoints / f"{name}.pt"
            update = self._checkpoint_update(path) if path.is_file() else None
            try:
                from trainer.evaluate import load_policy

                model, _ = load_policy(str(path))
            except Exception as exc:
                raise OpponentUnavailable(f"{opponent}: {exc}") from None
            return NetworkPlayer(model, _describe(name), self.elo_at(update) if update is not None else None,
                                 temperature=temperature, seed=seed)  # fmt: skip
        if kind == "rung":
            rung = self.rungs.get(name)
            if rung is None:
                raise OpponentUnavailable(f"{opponent}: no such rung on the ladder")
            if name not in self._installed:
                raise OpponentUnavailable(
                    f"{opponent}: its engine is not installed (apt-get install fairy-stockfish)"
                )
            return RungPlayer(rung, self.ratings.get(name), seed=seed, search_dirs=self.search_dirs)
        raise OpponentUnavailable(f"{opponent}: unknown kind of opponent")


def rung_name(rung: Rung) -> str:
    if rung.kind == "random":
        return "the random mover"
    if rung.kind == "greedy":
        return "the greedy mover"
    limits = ", ".join(f"{k} {v}" for k, v in rung.engine.go.items())
    return f"Fairy-Stockfish 11.1 ({rung.name}: {limits})"


class MatchPlayer(abc.ABC):
    """The other side of a match: `move(game)` is a legal cshogi move, or None with `why` set (the
    engine resigned, failed or broke the rules: the AI wins that game)."""

    name: str
    elo: float | None
    why: str = ""
    code: int = 0  # why there was no move: showcase_core.engines.play RESIGN, FORFEIT or VOID

    @abc.abstractmethod
    def move(self, game: Game) -> int | None: ...

    def close(self) -> None:  # nothing to release unless a subclass holds a process
        return None


class NetworkPlayer(MatchPlayer):
    """An earlier checkpoint of the AI, sampling at the showcase's temperature."""

    def __init__(self, model, name: str, elo: float | None, *, temperature: float, seed: int):
        self.model, self.name, self.elo, self.temperature = model, name, elo, temperature
        self.generator = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def move(self, game: Game) -> int:
        obs = torch.from_numpy(observe(game))[None]
        mask = torch.from_numpy(legal_mask(game))[None]
        logits, _ = self.model(obs, mask)
        if self.temperature <= 0:
            action = int(logits.argmax())
        else:
            probs = torch.softmax(logits[0] / self.temperature, dim=-1)
            action = int(torch.multinomial(probs, 1, generator=self.generator))
        return action_to_move(action, game)


class RungPlayer(MatchPlayer):
    """A ladder rung: the random or greedy mover, or Fairy-Stockfish at the rung's fixed limits."""

    def __init__(self, rung: Rung, elo: float | None, *, seed: int, search_dirs=None):
        self.player = Player(rung, search_dirs=search_dirs, seed=seed)
        self.name, self.elo = rung_name(rung), elo

    def move(self, game: Game) -> int | None:
        answer = self.player.move(game)
        if answer.code:
            self.why, self.code = answer.note or "the engine gave no move", answer.code
            return None
        return answer.move

    def close(self) -> None:
        self.player.close()


def elo_history(metrics_path: Path) -> Callable[[int], float | None]:
    """The ladder Elo of the evaluation at or before each update, read from the run's metrics.jsonl."""
    points: list[tuple[int, float]] = []
    if metrics_path.is_file():
        for line in metrics_path.read_text().splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            elo = d.get("eval/ladder_elo")
            if isinstance(elo, int | float) and np.isfinite(elo):
                points.append((int(d["update"]), float(elo)))

    def at(update: int) -> float | None:
        best = None
        for u, elo in points:
            if u <= update:
                best = elo
        return best

    return at
