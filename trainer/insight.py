"""What the network sees in one position: top moves, value, SE-weighted attention, activation and
saliency maps, policy mass, game phase, and the time it took.

One forward pass gives the policy, the value, the SE gates and the block activations; value saliency
needs the gradient of the value with respect to the input, i.e. one backward pass through that same
graph. Every map is 81 floats in board coordinates, `index = (file - 1) * 9 + (rank - 1)`, un-rotated
when White is to move (the network sees White's positions rotated 180 degrees).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from showcase_core.protocol import BlockStats, Insight, Maps, Network, TopMove
from showcase_core.shogi.actions import DROP_BASE, N_ACTIONS, N_DROP_PIECES, legal_mask, moves_to_actions
from showcase_core.shogi.features import observe
from showcase_core.shogi.game import WHITE, Game
from showcase_core.shogi.notation import names
from trainer.model import ActorCriticBase, masked_logits

# Material for the phase rule (pawn = 1), by cshogi piece type P L N S B R G K +P +L +N +S +B +R.
HAND_VALUE = (1, 3, 4, 5, 6, 8, 10)  # hand order P L N S G B R
# The phase rule's thresholds (shared with trainer/usage.py, which reads them from observations).
OPENING_MAX_PLIES, ENDGAME_HAND, ENDGAME_PROMOTED = 40, 15, 4

PHASE_RULE = (
    "opening: no piece captured or promoted yet and at most 40 plies played; endgame: pieces in hand worth "
    "15 or more (pawn 1, lance 3, knight 4, silver 5, gold 6, bishop 8, rook 10) or 4 or more promoted "
    "pieces on the board; middlegame otherwise"
)


def game_phase(game: Game) -> str:
    """Opening / middlegame / endgame by PHASE_RULE (material and development, no search)."""
    board = game.board
    hands = board.pieces_in_hand
    in_hand = sum(n * v for side in hands for n, v in zip(side, HAND_VALUE, strict=True))
    promoted = sum(1 for p in board.pieces if p and (p & 15) >= 9)
    if in_hand == 0 and promoted == 0 and board.move_number - 1 <= OPENING_MAX_PLIES:
        return "opening"
    if in_hand >= ENDGAME_HAND or promoted >= ENDGAME_PROMOTED:
        return "endgame"
    return "middlegame"


def _to_board(values: np.ndarray, white: bool) -> np.ndarray:
    """(..., 81) in the side to move's frame -> board coordinates (reverse the squares for White)."""
    return values[..., ::-1] if white else values


def _unit(x: np.ndarray) -> list[float]:
    """Scale non-negative values into [0, 1] by their maximum (all zeros stay zeros)."""
    top = float(x.max()) if x.size else 0.0
    return (x / top if top > 0 else np.zeros_like(x)).astype(float).tolist()


@dataclass
class Analysis:
    """Insight for the protocol plus what the showcase needs to choose its move from the same pass."""

    insight: Insight
    logits: torch.Tensor  # (13527,) masked, untempered
    probs: torch.Tensor  # (13527,) softmax of logits


def analyse(
    model: ActorCriticBase, game: Game, *, top_k: int = 5, potential: float = 0.0, material_cap: float = 0.0
) -> Analysis:
    """Insight into `game`'s current position (which must not be over) from `model` in eval mode.

    `potential` is the material-shaping coefficient per pawn when the value head learned the shaped
    value (expected result minus potential, `reward.value_target = "shaped"`): the value shown, and
    the winning chance made from it, is the head's output plus that potential, i.e. the expected
    result. 0 when the head learned the result itself or there is no shaping."""
    assert not game.is_over, "no insight for a finished game"
    start = time.perf_counter()
    white = game.turn == WHITE
    param = next(model.parameters())
    obs = (
        torch.from_numpy(observe(game))[None].to(param.device, param.dtype).requires_grad_(True)
    )  # (1, N_PLANES, 9, 9)
    mask = torch.from_numpy(legal_mask(game))[None].to(param.device)
    was_training = model.training
    if was_training:  # switching modes walks every module: only when needed
        model.eval()
    try:
        with torch.enable_grad():
            x, seen = model.trunk(obs, insight=True)
            value = model.value(x)[0]
            (grad,) = torch.autograd.grad(value, obs)
        with torch.no_grad():
            logits = masked_logits(model.policy(x.detach()), mask)[0]
    finally:
        if was_training:
            model.train()
    logits = logits.detach().float().cpu()
    probs = torch.softmax(logits, dim=-1)

    # Top moves by untempered probability over the legal moves.
    k = min(top_k, int(mask.sum()))
    top_p, top_a = probs.topk(k)
    legal = game.legal_moves()
    legal_actions = moves_to_actions(np.array(legal), white).tolist()
    by_action = dict(zip(legal_actions, legal, strict=True))
    prev = game.moves[-1] if game.moves else None
    top = [
        TopMove(prob=p, **names(game, by_action[a], prev))
        for p, a in zip(top_p.tolist(), top_a.tolist(), strict=True)
    ]

    # Maps for all blocks at once, in the side to move's frame, then un-rotated.
    h = torch.stack([a[0] for a in seen.activations]).detach().float().cpu()  # (blocks, C, 9, 9)
    act_maps = _to_board(h.abs().mean(1).flatten(1).numpy(), white)  # (blocks, 81)
    gated = [g is not None for g in seen.gates]
    if all(gated) and gated:
        g = torch.stack([x[0] for x in seen.gates]).detach().float().cpu()  # (blocks, C)
        se_maps = _to_board((g[:, :, None, None] * torch.relu(h)).sum(1).flatten(1).numpy(), white)
    else:
        se_maps = np.zeros((0, 81), dtype=np.float32)
    saliency = grad.detach().float().cpu()[0].abs().sum(0).flatten().numpy()
    mass = _policy_mass(probs)

    head = float(value.detach())
    v = head
    if potential:
        from trainer.selfplay import potential as phi  # the same potential the collector shaped with

        v = head + potential * float(phi(obs.detach().cpu().numpy(), material_cap)[0])
    network = _network(model, obs.shape[1], h, seen, probs, int(mask.sum()))
    maps = Maps(
        se_attention=[_unit(m) for m in se_maps],
        se_attention_mean=_unit(np.mean([m / m.max() if m.max() > 0 else m for m in se_maps], axis=0))
        if len(se_maps)
        else [0.0] * 81,
        activation=[_unit(m) for m in act_maps],
        saliency=_unit(_to_board(saliency, white)),
        policy_mass=_to_board(mass, white).astype(float).clip(0.0, 1.0).tolist(),
    )
    insight = Insight(
        top=top,
        value=max(-1.0, min(1.0, v)),
        value_head=max(-2.0, min(2.0, head)),
        black_win=(1.0 + (-max(-1.0, min(1.0, v)) if white else max(-1.0, min(1.0, v)))) / 2.0,
        maps=maps,
        phase=game_phase(game),
        think_ms=(time.perf_counter() - start) * 1000.0,
        network=network,
    )
    return Analysis(insight, logits, probs)


def _network(model, planes: int, h: torch.Tensor, seen, probs: torch.Tensor, legal: int) -> Network:
    """Per block: mean and max |activation|, and the SE gates' spread (from the same forward pass)."""
    blocks = []
    for i, gate in enumerate(seen.gates):
        a = h[i].abs()
        stats = {"act_mean": float(a.mean()), "act_max": float(a.max())}
        if gate is not None:
            g = gate[0].detach().float().cpu()
            stats.update(
                gate_mean=float(g.mean()),
                gate_min=float(g.min()),
                gate_max=float(g.max()),
                gates_open=float((g > 0.5).float().mean()),
                top_channels=g.topk(min(3, g.numel())).indices.tolist(),
            )
        blocks.append(BlockStats(**stats))
    p = probs[probs > 0]
    return Network(
        kind=model.args.kind,
        planes=planes,
        width=h.shape[1],
        stem_act_mean=float(seen.stem.detach().abs().mean()) if seen.stem is not None else None,
        blocks=blocks,
        legal_moves=legal,
        policy_entropy=max(0.0, float(-(p * p.log()).sum())),
        top_prob=float(probs.max()),
    )


def _destinations() -> np.ndarray:
    """Destination square of every action, in the side to move's frame."""
    a = np.arange(N_ACTIONS)
    frm, offset = a // 160, (a % 160) // 2
    board_to = offset + (offset >= frm)
    drop_to = (a - DROP_BASE) // N_DROP_PIECES
    return np.where(a < DROP_BASE, board_to, drop_to)


_DEST = _destinations()


def _policy_mass(probs: torch.Tensor) -> np.ndarray:
    """Probability summed by destination square, in the side to move's frame (like the actions)."""
    return np.bincount(_DEST, weights=probs.numpy().astype(np.float64), minlength=81)
