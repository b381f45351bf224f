"""The engine ladder: fixed opponents (the scripted movers and engine rungs at fixed node counts, which
do not depend on the machine's speed) with Elo anchored at the uniform-random mover = 0 (torch-free).

- `fit_ratings` fits everyone's Elo from a round robin by maximum likelihood (Bradley-Terry on the
  Elo scale, P(i beats j) = 1 / (1 + 10^((Rj - Ri) / 400)), a draw half a win and half a loss, as
  BayesElo and Ordo do), with one virtual draw per pair that met (BayesElo's prior, which keeps a
  perfect score finite). Error bars are one standard error from the inverse of the observed
  information with the anchor fixed.
- `fit_agent` fits one newcomer against rungs whose ratings stay fixed: the agent's Elo at an
  evaluation, comparable across runs and machines.
- `ladder.json` beside this file is the calibrated table `python -m trainer bench ladder` writes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from showcase_core.engines.usi import DEFAULT_SEARCH_DIRS, EngineSpec, resolve_command

TABLE_PATH = Path(__file__).with_name("ladder.json")
ANCHOR = "random"
LN10_400 = math.log(10.0) / 400.0
NO_ENGINE = "no engine installed: apt-get install fairy-stockfish"


class Rung(BaseModel):
    """One fixed opponent: a scripted mover or an engine at fixed limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    kind: Literal["random", "greedy", "engine"] = "engine"
    engine: EngineSpec | None = None

    @model_validator(mode="after")
    def _engine_when_needed(self) -> Rung:
        if (self.kind == "engine") != (self.engine is not None):
            raise ValueError(
                f"rung {self.name!r}: an engine rung needs `engine`, a scripted one must not have it"
            )
        if self.engine is not None and self.engine.name != self.name:
            self.engine = self.engine.model_copy(update={"name": self.name})
        return self


def fsf(name: str, go: dict[str, int], **options: str | int | bool) -> Rung:
    """A Fairy-Stockfish 11.1 rung (contempt off so it does not avoid draws against weak play)."""
    spec = EngineSpec(
        name=name,
        command="fairy-stockfish",
        options={"Threads": 1, "Hash": 16, "Contempt": 0, **options},
        go=go,
        swap_clocks=True,
        search_s=5.0,  # these limits answer in milliseconds: a search still going after 5 s is stuck
    )
    return Rung(name=name, kind="engine", engine=spec)


DEFAULT_RUNGS: list[Rung] = [
    Rung(name="random", kind="random"),
    Rung(name="greedy", kind="greedy"),
    # No rung weakened by Skill Level: Fairy-Stockfish 11.1 at Skill Level < 20 never finishes a
    # depth-limited search in positions with few legal moves, and with a node limit it sometimes
    # answers garbage ('0.`9e+', '3f/h-') or an illegal drop, forfeiting (see the README).
    fsf("fsf-n1", {"nodes": 1}),
    fsf("fsf-n4", {"nodes": 4}),
    fsf("fsf-n16", {"nodes": 16}),
    fsf("fsf-d1", {"depth": 1}),
    fsf("fsf-n64", {"nodes": 64}),
    fsf("fsf-n256", {"nodes": 256}),
    fsf("fsf-n1024", {"nodes": 1024}),
    fsf("fsf-n4096", {"nodes": 4096}),
]

# The analysis engine's default: full strength, fixed nodes, contempt off.
ANALYSIS_SPEC = EngineSpec(
    name="fsf-analysis",
    command="fairy-stockfish",
    options={"Threads": 1, "Hash": 32, "Contempt": 0},
    go={"nodes": 20000},
    swap_clocks=True,
)


def available(rung: Rung, search_dirs=DEFAULT_SEARCH_DIRS) -> bool:
    return rung.engine is None or resolve_command(rung.engine.command, search_dirs) is not None


# --- results and fits ----------------------------------------------------------------------------


@dataclass
class PairResult:
    a: str
    b: str
    wins: int = 0  # a's wins
    draws: int = 0
    losses: int = 0

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        return (self.wins + 0.5 * self.draws) / self.games if self.games else float("nan")


def _expected(diff: np.ndarray) -> np.ndarray:
    """P(win) for a rating difference on the Elo scale."""
    return 1.0 / (1.0 + np.power(10.0, -diff / 400.0))


def fit_ratings(
    results: list[PairResult], *, anchor: str = ANCHOR, prior_draws: float = 1.0, iterations: int = 200
) -> dict[str, tuple[float, float]]:
    """name -> (Elo, standard error) from pairwise results, `anchor` fixed at 0 (error 0)."""
    names = sorted({r.a for r in results} | {r.b for r in results})
    if anchor not in names:
        raise ValueError(f"the anchor {anchor!r} played no game")
    index = {n: i for i, n in enumerate(names)}
    # Per pair: games and a's points, with the virtual draws added.
    pairs = []
    for r in results:
        if r.games == 0:
            continue
        n = r.games + prior_draws
        pairs.append((index[r.a], index[r.b], n, r.wins + 0.5 * r.draws + 0.5 * prior_draws))
    free = [i for i in range(len(names)) if names[i] != anchor]
    pos = {i: k for k, i in enumerate(free)}
    ratings = np.zeros(len(names))
    hess = np.zeros((len(free), len(free)))
    for _ in range(iterations):
        grad = np.zeros(len(free))
        hess = np.zeros((len(free), len(free)))
        for i, j, n, s in pairs:
            p = _expected(np.array(ratings[i] - ratings[j]))
            g = LN10_400 * (s - n * p)  # d loglik / d R_i
            w = LN10_400**2 * n * p * (1 - p)
            if i in pos:
                grad[pos[i]] += g
                hess[pos[i], pos[i]] += w
            if j in pos:
                grad[pos[j]] -= g
                hess[pos[j], pos[j]] += w
            if i in pos and j in pos:
                hess[pos[i], pos[j]] -= w
                hess[pos[j], pos[i]] -= w
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise ValueError("the results do not connect every player to the anchor") from exc
        step = np.clip(step, -400, 400)
        for i in free:
            ratings[i] += step[pos[i]]
        if np.abs(step).max() < 1e-6:
            break
    cov = np.linalg.inv(hess)
    out = {anchor: (0.0, 0.0)}
    for i in free:
        out[names[i]] = (float(ratings[i]), float(math.sqrt(max(cov[pos[i], pos[i]], 0.0))))
    return out


def fit_agent(
    results: dict[str, tuple[float, float, int]], ratings: dict[str, float], *, prior_draws: float = 1.0
) -> tuple[float, float] | None:
    """The agent's Elo and standard error from {rung: (points, games, ...)} against rungs of fixed
    `ratings`, with one virtual draw per rung played. None when it played no rated rung."""
    data = [
        (ratings[name], pts + 0.5 * prior_draws, n + prior_draws)
        for name, (pts, n, *_) in results.items()
        if n and name in ratings
    ]
    if not data:
        return None
    r = float(np.mean([d[0] for d in data]))
    info = 0.0
    for _ in range(200):
        grad = 0.0
        info = 0.0
        for rating, s, n in data:
            p = float(_expected(np.array(r - rating)))
            grad += LN10_400 * (s - n * p)
            info += LN10_400**2 * n * p * (1 - p)
        step = max(min(grad / info, 400.0), -400.0)
        r += step
        if abs(step) < 1e-6:
            break
    return r, 1.0 / math.sqrt(info)


# --- the shipped table ---------------------------------------------------------------------------


def load_table(path: Path = TABLE_PATH) -> dict:
    """The calibrated ladder: {"rungs": [{name, elo, error, games, kind, engine}], "win_model": {...},
    ...}. An empty table (rungs: []) when the file is missing."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {"rungs": [], "win_model": None}


def table_rungs(table: dict) -> list[Rung]:
    return [Rung.model_validate(r["rung"]) for r in table.get("rungs", [])]


def table_ratings(table: dict) -> dict[str, float]:
    return {r["name"]: float(r["elo"]) for r in table.get("rungs", [])}
