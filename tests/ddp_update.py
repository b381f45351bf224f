"""Run by `torchrun --nproc-per-node N tests/ddp_update.py OUT_DIR` (tests/test_distributed.py): one PPO
update of a tiny network on this rank's share of a fixed rollout; writes its gradients and metrics.
Run without torchrun it does the same on the whole rollout in one process."""

import sys
from pathlib import Path

import torch

from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES
from trainer.distributed import from_env
from trainer.model import ModelArgs, build_model
from trainer.ppo import PPOSettings, Rollout, ppo_update

# The global batch, 32 samples, is one minibatch: its loss is a mean over the samples whatever their
# order, so each rank's shuffle does not matter and the single process's minibatch is the union.
STEPS, ENVS, MINIBATCH = 4, 8, 32


def global_rollout() -> tuple[Rollout, torch.Tensor, torch.Tensor]:
    """A fixed rollout with legal actions, old log-probabilities off the current policy, and
    advantages and returns of different scales (so normalisation and clipping both matter)."""
    g = torch.Generator().manual_seed(1234)
    r = Rollout.empty(STEPS, ENVS, N_PLANES, N_ACTIONS)
    r.obs.copy_(torch.rand(r.obs.shape, generator=g))
    r.masks.copy_(torch.rand(r.masks.shape, generator=g) < 0.003)
    for t in range(STEPS):
        for e in range(ENVS):
            legal = r.masks[t, e].nonzero().flatten()
            r.actions[t, e] = legal[torch.randint(len(legal), (1,), generator=g)]
    r.logprobs.copy_(-torch.rand(STEPS, ENVS, generator=g) * 6)
    r.values.copy_(torch.randn(STEPS, ENVS, generator=g) * 0.3)
    advantages = torch.randn(STEPS, ENVS, generator=g) * 2 + 0.5
    returns = r.values + advantages + torch.randn(STEPS, ENVS, generator=g) * 0.1
    return r, advantages, returns


def rank_share(r: Rollout, adv, ret, rank: int, world: int):
    """Rank `rank`'s envs (columns), as the collector would have them."""
    cols = slice(rank * ENVS // world, (rank + 1) * ENVS // world)
    fields = {k: getattr(r, k)[:, cols].clone() for k in r.__dataclass_fields__}
    return Rollout(**fields), adv[:, cols].clone(), ret[:, cols].clone()


def run(out: Path) -> dict:
    dist = from_env()
    torch.manual_seed(0)
    model = build_model(ModelArgs(depth=1, width=8, value_hidden=8, policy_dim=8))
    dist.broadcast_module(model)
    rollout, adv, ret = rank_share(*global_rollout(), dist.rank, dist.world)
    settings = PPOSettings(update_epochs=1, minibatch_size=MINIBATCH // dist.world, max_grad_norm=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    metrics = ppo_update(
        lambda o, m: model(o, m), optimizer, list(model.parameters()), rollout, adv, ret, settings,
        torch.Generator().manual_seed(dist.rank), dist=dist,
    )  # fmt: skip
    result = {
        "rank": dist.rank,
        "grads": [p.grad.clone() for p in model.parameters()],
        "weights": [p.detach().clone() for p in model.parameters()],
        "metrics": metrics,
    }
    torch.save(result, out / f"rank{dist.rank}.pt")
    dist.barrier()
    dist.close()
    return result


if __name__ == "__main__":
    run(Path(sys.argv[1]))
