"""Data-parallel PPO under `torchrun`: what each rank does and the few collectives that keep them one.

`torchrun --nproc-per-node N -m trainer train ...` starts N copies; each reads RANK / WORLD_SIZE from
its environment, joins the process group (gloo on CPU, NCCL on CUDA) and:
- collects its share of the configured envs (every env count is divided by N; the minibatch too, so
  the global minibatch, and the number of minibatches per epoch, are the config's);
- after each minibatch's backward, sums its gradients with everyone's and divides by N (one
  flattened all-reduce), so every rank takes the same step on the gradient of the whole minibatch;
  advantage normalisation uses the global minibatch's mean and standard deviation, so that gradient
  is exactly the one a single process would compute on the concatenated minibatch;
- reduces the update's metrics (losses, KL, clip fraction, entropy as global means; explained
  variance and the advantage statistics over the global batch; histograms and game counts summed).

Only rank 0 publishes, evaluates, writes metrics and checkpoints; the others wait for it at the next
collective. Every rank starts from the same weights (rank 0's, broadcast) and the same optimizer state
(the same checkpoint, or fresh), so they stay identical; a checkpoint holds nothing per rank, so a run
resumes with any N.

Without torchrun (WORLD_SIZE unset or 1) `Dist()` is the single process and every method is a no-op.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field

import torch


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    backend: str | None = None
    _initialised: bool = field(default=False, repr=False)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        return {"world_size": self.world, "rank": self.rank, "backend": self.backend}

    # -- collectives (no-ops on one process) ---------------------------------------------------------
    def average_gradients(self, parameters: list[torch.nn.Parameter]) -> None:
        """Every rank's gradients become the mean over ranks (the gradient of the global minibatch)."""
        if not self.active:
            return
        import torch.distributed as tdist

        grads = [p.grad for p in parameters if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        tdist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset : offset + n].view_as(g))
            offset += n

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum over ranks (float64 on the CPU for exact counts and sums)."""
        if not self.active:
            return values
        import torch.distributed as tdist

        out = values.detach().to(torch.float64).clone()
        if self.backend == "nccl":
            out = out.cuda()
        tdist.all_reduce(out)
        return out.cpu()

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on any."""
        return bool(self.sum(torch.tensor([float(flag)]))[0] > 0) if self.active else flag

    def gather(self, obj):
        """Every rank's `obj`, in rank order (on every rank)."""
        if not self.active:
            return [obj]
        import torch.distributed as tdist

        out = [None] * self.world
        tdist.all_gather_object(out, obj)
        return out

    def from_main(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.active:
            return obj
        import torch.distributed as tdist

        box = [obj if self.is_main else None]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every rank."""
        if not self.active:
            return
        import torch.distributed as tdist

        with torch.no_grad():
            for tensor in [*module.parameters(), *module.buffers()]:
                tdist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as tdist

            tdist.barrier()

    def close(self) -> None:
        if self._initialised:
            import torch.distributed as tdist

            tdist.destroy_process_group()
            self._initialised = False


def from_env(device: torch.device | None = None) -> Dist:
    """The process group torchrun describes in the environment, joined; one process without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as tdist

    rank = int(os.environ["RANK"])
    cuda = device is not None and device.type == "cuda"
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # Rank 0 evaluates and checkpoints while the others wait at the next collective: allow for it.
    tdist.init_process_group(backend, timeout=datetime.timedelta(minutes=60))
    return Dist(rank=rank, world=world, backend=backend, _initialised=True)


def share(count: int, dist: Dist, what: str) -> int:
    """This rank's share of `count` (envs, minibatch); it must divide evenly."""
    if count % dist.world:
        from trainer.config import ConfigError

        raise ConfigError(f"{what} = {count} cannot be split evenly over {dist.world} ranks")
    return count // dist.world
