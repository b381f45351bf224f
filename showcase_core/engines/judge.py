"""An engine's judgement of a move: winning chances, the loss of the played move from the same root,
a label and a per-move accuracy (torch-free).

- **Winning chance** from an engine score (side to move's view): a mate is 1 (or 0); a cp score is
  `1 / (1 + exp(-k * cp))` with `k` fitted by maximum likelihood on game results for that engine at
  that search limit (`fit_win_model`; Fairy-Stockfish 11.1's "cp" are not shogi centipawns, so no
  slope is assumed). The shipped `k` is in `ladder.json`, measured by `python -m trainer bench ladder`.
- **Loss** of a move: the engine searches the root position (its best line), then the same root
  restricted to the played move (`searchmoves`); the loss is the mover's winning chance on the best
  line minus that on the played line, at least 0. Not two consecutive evaluations differenced.
- **Labels** on the loss in winning-chance points (0..100): at least 15 blunder, 10 mistake,
  5 inaccuracy (lishogi's 0.3 / 0.2 / 0.1 drops of 2*chance-1); the engine's own move is `best`, any
  other move below 5 points `good`.
- **Accuracy** per move, lichess's formula (lila `AccuracyPercent.scala`), on winning-chance points:
  `103.1668 * exp(-0.04354 * (before - after)) - 3.1669 + 1`, clamped to 0..100; 100 when nothing
  was lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from showcase_core.engines.usi import Engine, Score, SearchResult

LABELS = ("best", "good", "inaccuracy", "mistake", "blunder")
THRESHOLDS = {"inaccuracy": 5.0, "mistake": 10.0, "blunder": 15.0}  # winning-chance points lost


@dataclass(frozen=True)
class WinModel:
    """cp -> winning chance for one engine at one limit: 1 / (1 + exp(-k * cp))."""

    k: float
    source: str = "default"

    def chance(self, score: Score | None) -> float | None:
        """The side to move's winning chance in [0, 1], or None without a score."""
        if score is None:
            return None
        if score.is_mate:
            return 1.0 if score.sign > 0 else 0.0
        return 1.0 / (1.0 + math.exp(-self.k * float(score.value)))


def fit_win_model(samples: list[tuple[float, float]], *, iterations: int = 50) -> tuple[float, float, int]:
    """Maximum-likelihood slope `k` of P(win) = 1 / (1 + exp(-k cp)) from (cp, result) pairs, result 1 /
    0.5 / 0 from the side to move's view (a draw counts half, as in the Bernoulli likelihood with a
    fractional outcome). Returns (k, standard error, samples used). Newton's method on a concave
    one-parameter log-likelihood."""
    data = [(float(cp), float(y)) for cp, y in samples if cp is not None]
    if len(data) < 2:
        raise ValueError(f"need at least 2 scored positions to fit, got {len(data)}")
    k = 0.001
    info = 0.0
    for _ in range(iterations):
        grad = 0.0
        info = 0.0
        for cp, y in data:
            p = 1.0 / (1.0 + math.exp(min(max(-k * cp, -700.0), 700.0)))
            grad += (y - p) * cp
            info += p * (1 - p) * cp * cp
        if info <= 0:
            break
        step = grad / info
        k += max(min(step, 0.01), -0.01)  # a damped Newton step: far from the optimum it can overshoot
        if abs(step) < 1e-12:
            break
    return k, (1.0 / math.sqrt(info) if info > 0 else float("inf")), len(data)


def label_for(loss_points: float, *, is_best: bool) -> str:
    if is_best:
        return "best"
    if loss_points >= THRESHOLDS["blunder"]:
        return "blunder"
    if loss_points >= THRESHOLDS["mistake"]:
        return "mistake"
    if loss_points >= THRESHOLDS["inaccuracy"]:
        return "inaccuracy"
    return "good"


def accuracy(before_points: float, after_points: float) -> float:
    """lichess's per-move accuracy from the mover's winning chance (0..100) before and after."""
    if after_points >= before_points:
        return 100.0
    raw = (
        103.1668100711649 * math.exp(-0.04354415386753951 * (before_points - after_points))
        - 3.166924740191411
    )
    return min(max(raw + 1.0, 0.0), 100.0)


@dataclass
class Judgement:
    """The engine's view of one move; chances are the mover's unless named Black's."""

    best_usi: str
    best_score: Score | None
    best_pv: list[str]
    played_usi: str
    played_score: Score | None
    best_chance: float | None  # the mover's winning chance on the engine's best line
    played_chance: float | None  # ... on the line after the played move
    loss: float  # winning-chance points lost, 0..100
    label: str
    accuracy: float
    black_chance_before: float | None  # Black's winning chance at the root (best play)
    black_chance_after: float | None  # Black's winning chance after the played move
    nodes: int | None
    elapsed_s: float


def judge_move(
    engine: Engine,
    sfen: str | None,
    moves: list[str],
    played: str,
    *,
    black_to_move: bool,
    model: WinModel,
    root: SearchResult | None = None,
) -> Judgement:
    """Judge `played` in the position `sfen` + `moves` (all USI, already checked legal); `root` is the
    search of that position when it was already made."""
    root = root or engine.search(sfen, moves)
    elapsed = root.elapsed_s
    best = root.bestmove
    best_score = root.score
    if best == played:
        played_score = best_score
    else:
        alt = engine.search(sfen, moves, searchmoves=[played])
        elapsed += alt.elapsed_s
        played_score = alt.score
    before = model.chance(best_score)
    after = model.chance(played_score)
    if before is None or after is None:
        loss = 0.0
        acc = float("nan")
    else:
        loss = max(0.0, 100.0 * (before - after))
        acc = accuracy(100.0 * before, 100.0 * after)
    is_best = best == played

    def black(chance: float | None) -> float | None:
        if chance is None:
            return None
        return chance if black_to_move else 1.0 - chance

    return Judgement(
        best_usi=best,
        best_score=best_score,
        best_pv=list(root.info.pv) if root.info else [best],
        played_usi=played,
        played_score=played_score,
        best_chance=before,
        played_chance=after,
        loss=loss,
        label=label_for(loss, is_best=is_best),
        accuracy=acc,
        black_chance_before=black(before),
        black_chance_after=black(after),
        nodes=root.info.nodes if root.info else None,
        elapsed_s=elapsed,
    )
