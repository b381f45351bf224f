"""Milestones: moments in the learning curves worth telling viewers about, by fixed, documented rules.

- `kl_spike`: `ppo/approx_kl` exceeds both 0.02 and 3x the median of the previous 20 updates (at least
  10 of them); then quiet for 20 updates.
- `entropy_drop`: `losses/entropy` is 25% or more below its value 20 updates earlier; then quiet for 50.
- `eval_jump`: `eval/vs_random` rose by 0.15 or more since the previous evaluation.
- `first_mate_vs_random`: the first evaluation in which the agent checkmated the random mover.
- `new_best_elo`: `eval/elo` beats every earlier evaluation's (from the second evaluation on).
- `rung_passed`: the first evaluation in which the agent scores 50% or more against a ladder rung
  (`eval/vs_greedy` for the greedy mover, `ladder/<rung>` for an engine rung).

A detector sees each update's metrics once, in order; restarting it on resume may repeat a milestone,
which is harmless (the server keeps them by kind and update).
"""

from __future__ import annotations

import statistics
from collections import deque

from showcase_core.protocol import Milestone

KL_FLOOR, KL_FACTOR, KL_WINDOW, KL_MIN_HISTORY, KL_QUIET = 0.02, 3.0, 20, 10, 20
ENTROPY_DROP, ENTROPY_LAG, ENTROPY_QUIET = 0.25, 20, 50
EVAL_JUMP = 0.15


class MilestoneDetector:
    def __init__(self):
        self._kl: deque[float] = deque(maxlen=KL_WINDOW)
        self._entropy: deque[float] = deque(maxlen=ENTROPY_LAG + 1)
        self._quiet_until: dict[str, int] = {}
        self._last_vs_random: float | None = None
        self._best_elo: float | None = None
        self._mated_random = False
        self._passed: set[str] = set()

    def _rungs(self, update: int, metrics: dict) -> list[Milestone]:
        scores = {"greedy": metrics.get("eval/vs_greedy")}
        scores.update({k.removeprefix("ladder/"): v for k, v in metrics.items() if k.startswith("ladder/")})
        found = []
        for rung, score in scores.items():
            counter = rung.endswith(("_voided", "_stopped"))
            if counter or score is None or score < 0.5 or rung in self._passed:
                continue
            self._passed.add(rung)
            found.append(
                Milestone(
                    kind="rung_passed",
                    update=update,
                    title=f"Scored 50% against {rung} for the first time",
                    detail=f"score {score:.2f} against the ladder rung {rung}",
                    value=score,
                )
            )
        return found

    def _quiet(self, kind: str, update: int) -> bool:
        return update < self._quiet_until.get(kind, -1)

    def observe(self, update: int, metrics: dict) -> list[Milestone]:
        found: list[Milestone] = self._rungs(update, metrics)
        kl = metrics.get("ppo/approx_kl")
        if kl is not None:
            if len(self._kl) >= KL_MIN_HISTORY and not self._quiet("kl_spike", update):
                median = statistics.median(self._kl)
                if kl > KL_FLOOR and kl > KL_FACTOR * median:
                    found.append(
                        Milestone(
                            kind="kl_spike",
                            update=update,
                            title="KL spike: the policy moved a lot in one update",
                            detail=f"approx KL {kl:.4f}, {kl / median:.1f}x the recent median {median:.4f}",
                            value=kl,
                        )
                    )
                    self._quiet_until["kl_spike"] = update + KL_QUIET
            self._kl.append(kl)

        entropy = metrics.get("losses/entropy")
        if entropy is not None:
            self._entropy.append(entropy)
            if len(self._entropy) == self._entropy.maxlen and not self._quiet("entropy_drop", update):
                earlier = self._entropy[0]
                if earlier > 0 and entropy <= (1 - ENTROPY_DROP) * earlier:
                    found.append(
                        Milestone(
                            kind="entropy_drop",
                            update=update,
                            title="The policy is getting decisive",
                            detail=f"entropy {entropy:.2f} nats, was {earlier:.2f} {ENTROPY_LAG} updates ago",
                            value=entropy,
                        )
                    )
                    self._quiet_until["entropy_drop"] = update + ENTROPY_QUIET

        score = metrics.get("eval/vs_random")
        if score is not None:
            if self._last_vs_random is not None and score - self._last_vs_random >= EVAL_JUMP:
                found.append(
                    Milestone(
                        kind="eval_jump",
                        update=update,
                        title="Big step up against the random mover",
                        detail=f"score {score:.2f}, was {self._last_vs_random:.2f} at the last evaluation",
                        value=score,
                    )
                )
            self._last_vs_random = score
        if not self._mated_random and metrics.get("eval/vs_random_mate_wins", 0) > 0:
            self._mated_random = True
            found.append(
                Milestone(
                    kind="first_mate_vs_random",
                    update=update,
                    title="First checkmate against the random mover",
                    detail=f"{int(metrics['eval/vs_random_mate_wins'])} evaluation game(s) won by checkmate",
                    value=float(metrics["eval/vs_random_mate_wins"]),
                )
            )
        elo = metrics.get("eval/elo")
        if elo is not None:
            if self._best_elo is not None and elo > self._best_elo:
                found.append(
                    Milestone(
                        kind="new_best_elo",
                        update=update,
                        title="New best Elo",
                        detail=f"Elo {elo:.0f}, previous best {self._best_elo:.0f}",
                        value=elo,
                    )
                )
            self._best_elo = elo if self._best_elo is None else max(self._best_elo, elo)
        return found
