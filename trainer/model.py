"""Actor-critic networks for Shogi: an SE-ResNet tower and a one-conv baseline.

Both take the (B, 80, 9, 9) observation of `showcase_core.shogi.features` and a (B, 13527) legal mask and
expose the same two verbs as cleanrl's agents: `get_value(obs)` and
`get_action_and_value(obs, mask, action=None)`. The tower can also hand back, from the same forward
pass, the per-block SE gates and post-gate activations that the insight code draws.

Normalisation is GroupNorm, not BatchNorm: with BatchNorm the policy that acted (eval mode, running
statistics) and the policy PPO scores (train mode, batch statistics) differ, which showed up as a KL of
0.07 between the two modes of a freshly initialised cpu-small net before any update. GroupNorm does not
depend on the batch, so the probability ratio starts at exactly 1, and costs the same on this CPU.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical

from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES

ModelKind = Literal["restower", "baseline"]
PolicyHeadKind = Literal["bilinear", "linear"]


@dataclass(frozen=True)
class ModelArgs:
    """Everything needed to rebuild a network; stored in every checkpoint."""

    kind: ModelKind = "restower"
    depth: int = 4  # residual blocks
    width: int = 64  # channels in the tower
    se_ratio: float = 0.25  # SE bottleneck = width * se_ratio; 0 disables SE
    value_hidden: int = 128  # hidden units of the value MLP
    policy_head: PolicyHeadKind = "bilinear"  # restower only: "bilinear" or DESIGN.md's "linear"
    policy_dim: int = 32  # bilinear head: per-square query/key size

    def __post_init__(self):
        assert self.kind in ("restower", "baseline"), f"unknown model kind {self.kind!r}"
        assert self.policy_head in ("bilinear", "linear"), f"unknown policy head {self.policy_head!r}"
        assert self.depth >= 0 and self.width >= 1, f"depth >= 0 and width >= 1, got {self}"
        assert 0 <= self.se_ratio <= 1, f"se_ratio must be in [0, 1], got {self.se_ratio}"


PRESETS: dict[str, ModelArgs] = {
    # Small enough that self-play on 2 CPU cores runs hundreds of updates in half an hour.
    "cpu-small": ModelArgs(kind="restower", depth=3, width=48, se_ratio=0.25, value_hidden=64),
    "production": ModelArgs(kind="restower", depth=9, width=256, se_ratio=0.25, value_hidden=256),
}


def default_preset() -> str:
    return "production" if torch.cuda.is_available() else "cpu-small"


def model_args_from_config(section) -> ModelArgs:
    """The config's `model` section -> ModelArgs: a named preset, the machine's default, or custom."""
    preset = section.preset or default_preset()
    if preset == "custom":
        return ModelArgs(
            kind=section.kind,
            depth=section.depth,
            width=section.width,
            se_ratio=section.se_ratio,
            value_hidden=section.value_hidden,
        )
    return PRESETS[preset]


class Insight(NamedTuple):
    """What one forward pass saw: per block the SE gate (B, C) (None without SE) and the post-gate
    activation (B, C, 9, 9), in the side to move's frame."""

    gates: list[torch.Tensor | None]
    activations: list[torch.Tensor]
    stem: torch.Tensor | None = None  # the stem's output (B, C, 9, 9), where there is a stem


def norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (the largest of 8, 4, 2, 1 that divides `channels`)."""
    groups = next(g for g in (8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, ratio: float):
        super().__init__()
        hidden = max(1, round(channels * ratio))
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3))  # (B, C)
        return torch.sigmoid(self.fc2(F.relu(self.fc1(s))))  # (B, C) gate per channel


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, se_ratio: float):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = norm(channels)
        self.se = SqueezeExcitation(channels, se_ratio) if se_ratio > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        h = F.relu(self.norm1(self.conv1(x)))
        h = self.norm2(self.conv2(h))  # (B, C, 9, 9)
        gate = None
        if self.se is not None:
            gate = self.se(h)
            h = h * gate[:, :, None, None]
        out = F.relu(x + h)
        return out, gate, h


class PolicyHead(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, 1, bias=False)
        self.norm = norm(2)
        self.fc = nn.Linear(2 * 81, N_ACTIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.norm(self.conv(x))).flatten(1))  # (B, 13527) unmasked logits


def _off_diagonal_index() -> torch.Tensor:
    """Positions of the 12,960 board actions in a flattened (from 81, to 81, promote 2) grid: for each
    from-square the other 80 squares in order, each twice, exactly the action layout."""
    idx = [(f * 81 + t) * 2 + p for f in range(81) for t in range(81) if t != f for p in (0, 1)]
    return torch.tensor(idx, dtype=torch.long)


class BilinearPolicyHead(nn.Module):
    """Move logits from per-square features: a board move scores `<q_promote(from), k(to)>`, a drop
    scores a per-square, per-piece linear read-out.

    The DESIGN.md head squeezes the board into 2 planes (162 numbers) before a linear map to 13,527
    logits, so it cannot tell which piece a move captures; this head relates the two squares of every
    move directly and costs a fifth of the multiply-adds.
    """

    def __init__(self, channels: int, dim: int):
        super().__init__()
        self.dim = dim
        self.query = nn.Conv2d(channels, 2 * dim, 1)  # one query per square for each promote flag
        self.key = nn.Conv2d(channels, dim, 1)
        self.drop = nn.Conv2d(channels, 7, 1)
        self.register_buffer("board_index", _off_diagonal_index(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        q = self.query(x).reshape(b, 2, self.dim, 81)  # (B, promote, d, from)
        k = self.key(x).reshape(b, self.dim, 81)  # (B, d, to)
        pairs = torch.einsum("bpdf,bdt->bftp", q, k) * self.dim**-0.5  # (B, from, to, promote)
        board = pairs.reshape(b, -1)[:, self.board_index]  # (B, 12960)
        drops = self.drop(x).reshape(b, 7, 81).transpose(1, 2).reshape(b, 81 * 7)  # (B, to * 7 + piece)
        return torch.cat([board, drops], dim=1)  # (B, 13527)


class ValueHead(nn.Module):
    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 2, 1, bias=False)
        self.norm = norm(2)
        self.fc1 = nn.Linear(2 * 81, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(self.conv(x))).flatten(1)
        return torch.tanh(self.fc2(F.relu(self.fc1(h)))).squeeze(-1)  # (B,) in [-1, 1], mover's view


def masked_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Illegal actions get the dtype's lowest value: zero probability, finite arithmetic."""
    return logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


def sample_logits(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One action per row of (B, A) masked logits, drawn from their softmax by the inverse of the
    cumulative distribution (one uniform per row from torch's global generator), and its
    log-probability: the distribution of `Categorical(logits=...).sample()` at a third or less of
    its cost over 13,527 actions, where `torch.multinomial` was a quarter of collection's time. A
    zero-probability action is never drawn: `right=True` finds the first entry whose cumulative sum
    exceeds the draw, and a draw that rounds up to the total takes the last entry with probability."""
    assert logits.dim() == 2, f"sample_logits wants (batch, actions), got {tuple(logits.shape)}"
    logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    cdf = (logits - lse).exp_().cumsum_(dim=-1)
    total = cdf[:, -1:]
    draw = torch.rand(total.shape, device=logits.device, dtype=cdf.dtype) * total
    action = torch.searchsorted(cdf, draw, right=True)
    last = (cdf < total).sum(dim=-1, keepdim=True)  # the first entry reaching the total
    action = torch.minimum(action, last)
    return action.squeeze(-1), (logits.gather(-1, action) - lse).squeeze(-1)


def legal_entropy(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Entropy over the legal moves only, from already-masked logits: -sum p log p, non-negative."""
    logp = torch.log_softmax(logits, dim=-1)
    p = logp.exp()
    return -(p * logp).masked_fill(~mask, 0.0).sum(-1)


class ActorCriticBase(nn.Module, abc.ABC):
    """The shared verbs; subclasses implement `trunk` (features) and own the two heads."""

    args: ModelArgs
    policy: nn.Module
    value: nn.Module

    @abc.abstractmethod
    def trunk(self, obs: torch.Tensor, insight: bool = False) -> tuple[torch.Tensor, Insight | None]:
        """Shared features for both heads, plus what the blocks saw when `insight` is set."""

    def forward(self, obs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(masked logits (B, 13527), value (B,)) in one pass; the form torch.compile sees."""
        x, _ = self.trunk(obs)
        return masked_logits(self.policy(x), mask), self.value(x)

    def get_value(self, obs: torch.Tensor) -> torch.Tensor:
        x, _ = self.trunk(obs)
        return self.value(x)

    def get_action_and_value(
        self,
        obs: torch.Tensor,
        mask: torch.Tensor,
        action: torch.Tensor | None = None,
        *,
        temperature: float = 1.0,
        return_insight: bool = False,
    ):
        """Sample (or score) an action: returns (action, log_prob, entropy, value[, insight]).

        `temperature` only changes sampling; log_prob and entropy are of the untempered policy, which
        is the one PPO optimises.
        """
        x, seen = self.trunk(obs, insight=return_insight)
        logits = masked_logits(self.policy(x), mask)
        value = self.value(x)
        dist = Categorical(logits=logits)
        if action is None:
            if temperature == 1.0:
                action = dist.sample()
            elif temperature <= 0:
                action = logits.argmax(-1)
            else:
                action = Categorical(logits=masked_logits(logits / temperature, mask)).sample()
        out = (action, dist.log_prob(action), legal_entropy(logits, mask), value)
        return (*out, seen) if return_insight else out


class ActorCriticResTower(ActorCriticBase):
    """Stem conv 46 -> W, `depth` SE residual blocks, policy head to 13,527 logits, tanh value head."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        assert args.kind == "restower", f"ActorCriticResTower needs kind 'restower', got {args.kind!r}"
        self.args = args
        self.stem = nn.Sequential(
            nn.Conv2d(N_PLANES, args.width, 3, padding=1, bias=False),
            norm(args.width),
            nn.ReLU(),
        )
        self.blocks = nn.ModuleList(ResidualBlock(args.width, args.se_ratio) for _ in range(args.depth))
        self.policy = (
            BilinearPolicyHead(args.width, args.policy_dim)
            if args.policy_head == "bilinear"
            else PolicyHead(args.width)
        )
        self.value = ValueHead(args.width, args.value_hidden)

    def trunk(self, obs: torch.Tensor, insight: bool = False) -> tuple[torch.Tensor, Insight | None]:
        x = self.stem(obs)  # (B, W, 9, 9)
        stem = x
        gates: list[torch.Tensor | None] = []
        acts: list[torch.Tensor] = []
        for block in self.blocks:
            x, gate, h = block(x)
            if insight:
                gates.append(gate)
                acts.append(h)
        return x, (Insight(gates, acts, stem) if insight else None)


class ActorCritic(ActorCriticBase):
    """The simple baseline: one 3x3 conv, then linear policy and value heads."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        assert args.kind == "baseline", f"ActorCritic needs kind 'baseline', got {args.kind!r}"
        self.args = args
        self.conv = nn.Conv2d(N_PLANES, args.width, 3, padding=1)
        self.policy = nn.Linear(args.width * 81, N_ACTIONS)
        self.value = nn.Sequential(
            nn.Linear(args.width * 81, args.value_hidden),
            nn.ReLU(),
            nn.Linear(args.value_hidden, 1),
            nn.Tanh(),
            nn.Flatten(0),
        )

    def trunk(self, obs: torch.Tensor, insight: bool = False) -> tuple[torch.Tensor, Insight | None]:
        h = F.relu(self.conv(obs))  # (B, W, 9, 9)
        return h.flatten(1), (Insight([None], [h]) if insight else None)


def build_model(args: ModelArgs) -> ActorCriticBase:
    return ActorCriticResTower(args) if args.kind == "restower" else ActorCritic(args)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
