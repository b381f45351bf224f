"""How an update uses its buffer: which game phase the clipped and the high-advantage samples came
from, and how Black's and White's samples of self-play differ.

Every sample's phase is read from its observation by the insight's rule (trainer/insight.py,
PHASE_RULE): opening while nothing has been captured or promoted and at most 40 plies are played;
endgame once the pieces in hand are worth 15 or more, or 4 or more promoted pieces stand on the board;
middlegame otherwise. The pieces in hand, the promoted pieces, the ply and the side to move are
planes of the observation (showcase_core/shogi/features.py), so this is exact and vectorised.

Metrics (per update, docs/metrics.md):
- `buffer/samples_<phase>`: share of the rollout's samples in that phase;
- `buffer/clipped_<phase>`: share of the update's clipped samples (|ratio - 1| > clip, over every
  minibatch visit of every epoch) that were in that phase; `buffer/clip_rate_<phase>`: the clipped
  share of that phase's visits;
- `buffer/high_adv_<phase>`: share of the rollout's top tenth by |advantage| in that phase;
- `side/<black|white>_entropy`, `side/<black|white>_clip_rate`: the update's mean policy entropy and
  clip rate over the self-play samples with that side to move; `side/<black|white>_value`: the
  rollout's mean value there (the mover's view).
"""

from __future__ import annotations

import torch

from showcase_core.shogi.features import HAND_MAX
from trainer.insight import ENDGAME_HAND, ENDGAME_PROMOTED, HAND_VALUE, OPENING_MAX_PLIES

PHASES = ("opening", "middlegame", "endgame")
SIDES = ("black", "white")
HIGH_ADV_SHARE = 0.1
_HAND_VALUE = torch.tensor(HAND_VALUE, dtype=torch.float32)  # P L N S G B R, the planes' order too
_HAND_MAX = torch.from_numpy(HAND_MAX.copy()).float()
_OWN_PROMOTED, _OPP_PROMOTED = slice(8, 14), slice(22, 28)
_OWN_HAND, _OPP_HAND = slice(28, 35), slice(35, 42)
_BLACK_TO_MOVE, _PLY = 42, 43


def phases(obs: torch.Tensor, max_plies: int) -> torch.Tensor:
    """(B,) phase index (0 opening, 1 middlegame, 2 endgame) of each observation (B, planes, 9, 9)."""
    corner = obs[:, :, 0, 0].float()  # hands and scalars fill their whole plane
    counts = torch.round(torch.cat([corner[:, _OWN_HAND], corner[:, _OPP_HAND]], 1) * _HAND_MAX.repeat(2))
    in_hand = (counts * _HAND_VALUE.repeat(2)).sum(1)
    promoted = obs[:, _OWN_PROMOTED].float().sum((1, 2, 3)) + obs[:, _OPP_PROMOTED].float().sum((1, 2, 3))
    plies = torch.round(corner[:, _PLY] * max_plies)
    out = torch.ones(len(obs), dtype=torch.long)
    out[(in_hand == 0) & (promoted == 0) & (plies <= OPENING_MAX_PLIES)] = 0
    out[(out == 1) & ((in_hand >= ENDGAME_HAND) | (promoted >= ENDGAME_PROMOTED))] = 2
    return out


class BufferUsage:
    """Built per update from its rollout; ppo_update calls `visit` for every minibatch."""

    def __init__(self, rollout, advantages: torch.Tensor, *, max_plies: int, selfplay_envs: int):
        obs = rollout.obs.flatten(0, 1)
        self.phase = phases(obs, max_plies)
        steps, envs = rollout.actions.shape
        black = obs[:, _BLACK_TO_MOVE, 0, 0] > 0.5
        selfplay = (torch.arange(envs) < selfplay_envs).repeat(steps)
        self.side = torch.where(selfplay, torch.where(black, 0, 1), 2)  # 2: an opponent env
        self.values = rollout.values.flatten()
        adv = advantages.flatten().abs()
        k = max(1, int(len(adv) * HIGH_ADV_SHARE))
        self.high_adv = torch.bincount(self.phase[torch.topk(adv, k).indices], minlength=3)
        self.visited = torch.zeros(3)
        self.clipped = torch.zeros(3)
        self.side_visits = torch.zeros(3)
        self.side_clipped = torch.zeros(3)
        self.side_entropy = torch.zeros(3)
        self.samples = torch.bincount(self.phase, minlength=3).float()
        self.side_values = torch.bincount(self.side, weights=self.values.float(), minlength=3)
        self.side_samples = torch.bincount(self.side, minlength=3).float()

    def reduce(self, dist) -> None:
        """Under torchrun: every counter summed over the ranks (call once, after the update), so the
        metrics describe the global batch; the high-advantage tenth is each rank's own top tenth."""
        if not dist.active:
            return
        names = ("samples", "high_adv", "visited", "clipped", "side_visits", "side_clipped",
                 "side_entropy", "side_values", "side_samples")  # fmt: skip
        packed = dist.sum(torch.cat([getattr(self, n).double() for n in names]))
        for i, name in enumerate(names):
            setattr(self, name, packed[3 * i : 3 * i + 3].float())

    def visit(self, idx: torch.Tensor, clipped: torch.Tensor, entropy: torch.Tensor) -> None:
        """One minibatch: its sample indices, which of them were clipped, their policy entropy."""
        phase, side = self.phase[idx], self.side[idx]
        clipped = clipped.detach().cpu().float()
        self.visited += torch.bincount(phase, minlength=3)
        self.clipped += torch.bincount(phase, weights=clipped, minlength=3)
        self.side_visits += torch.bincount(side, minlength=3)
        self.side_clipped += torch.bincount(side, weights=clipped, minlength=3)
        self.side_entropy += torch.bincount(side, weights=entropy.detach().cpu().float(), minlength=3)

    def metrics(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        samples = self.samples
        n = float(samples.sum())
        clipped_total = float(self.clipped.sum())
        high_total = float(self.high_adv.sum())
        for i, name in enumerate(PHASES):
            out[f"buffer/samples_{name}"] = float(samples[i]) / n
            out[f"buffer/clipped_{name}"] = float(self.clipped[i]) / clipped_total if clipped_total else None
            out[f"buffer/clip_rate_{name}"] = (
                float(self.clipped[i] / self.visited[i]) if self.visited[i] else None
            )
            out[f"buffer/high_adv_{name}"] = float(self.high_adv[i]) / high_total
        for i, name in enumerate(SIDES):
            seen = float(self.side_visits[i])
            count = float(self.side_samples[i])
            out[f"side/{name}_entropy"] = float(self.side_entropy[i]) / seen if seen else None
            out[f"side/{name}_clip_rate"] = float(self.side_clipped[i]) / seen if seen else None
            out[f"side/{name}_value"] = float(self.side_values[i]) / count if count else None
        return out
