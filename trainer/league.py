"""Fictitious self-play: an opponent pool of the agent's own past checkpoints.

Some training envs have the agent play a frozen earlier version of itself instead of its current self
or the random mover, so a long run keeps facing the play it has grown out of (the cure for cycling:
a policy that beats only its current self forgets how to beat the older ones). The pool is snapshots
the run writes itself (`pool_<update>.pt`, the newest `size` kept); every `refresh_updates` one of
them, chosen at random, becomes the opponent of all pool envs. Before the first snapshot, and when
every snapshot is unusable, the opponent is a frozen copy of the current weights.

A snapshot that is missing or corrupt is skipped with its reason (`skipped`), never a crash.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import torch

from showcase_core.shogi.vecenv import VecEnv
from trainer.checkpoint import CheckpointError, load_checkpoint

_POOL_NAME = re.compile(r"pool_(\d+)\.pt$")


class PoolOpponent:
    """A mover (`trainer.selfplay.Mover`) that samples a frozen network's legal policy."""

    def __init__(self, model: torch.nn.Module, *, device: torch.device, seed: int = 0):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.device = device
        self.name = "current"  # what it is: "current" or the update of the snapshot, e.g. "update 150"
        self.update: int | None = None
        self.generator = torch.Generator().manual_seed(seed)

    def load(self, state_dict: dict, name: str, update: int | None) -> None:
        self.model.load_state_dict(state_dict)
        self.name, self.update = name, update

    @torch.no_grad()
    def __call__(self, env: VecEnv, envs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        obs = torch.from_numpy(env.obs[envs]).to(self.device)
        mask = torch.from_numpy(env.mask[envs]).to(self.device)
        logits, _ = self.model(obs, mask)
        probs = torch.softmax(logits.float().cpu(), dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1).numpy()


class OpponentPool:
    """The run's pool snapshots in `directory` and the opponent currently drawn from them."""

    def __init__(
        self,
        directory: Path,
        model: torch.nn.Module,
        *,
        model_args: dict,
        size: int,
        device: torch.device,
        seed: int = 0,
    ):
        self.directory = Path(directory)
        self.model_args = model_args
        self.size = size
        self.opponent = PoolOpponent(model, device=device, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.skipped: dict[str, str] = {}  # snapshot file name -> why it was not used

    def snapshots(self) -> list[Path]:
        """The kept snapshots, oldest first."""
        found = [
            (int(m.group(1)), p) for p in self.directory.glob("pool_*.pt") if (m := _POOL_NAME.search(p.name))
        ]
        return [p for _, p in sorted(found)]

    def add(self, save, update: int) -> Path:
        """Write a snapshot of the current weights through `save(path)` and drop the oldest beyond
        `size`."""
        path = save(self.directory / f"pool_{update:06d}.pt")
        for old in self.snapshots()[: -self.size]:
            old.unlink(missing_ok=True)
        return path

    def refresh(self, current: torch.nn.Module) -> str:
        """Draw the next opponent: a random usable snapshot, else the current weights frozen."""
        candidates = self.snapshots()
        self.rng.shuffle(candidates)
        for path in candidates:
            try:
                data = load_checkpoint(path, model_args=self.model_args)
                self.opponent.load(data["model"], f"update {data['update']}", int(data["update"]))
            except (CheckpointError, RuntimeError, KeyError) as exc:
                # RuntimeError: a state dict that does not fit the network (load_state_dict's error).
                self.skipped[path.name] = str(exc).splitlines()[0]
                continue
            return self.opponent.name
        self.opponent.load(current.state_dict(), "current", None)
        return self.opponent.name

    def status(self) -> dict:
        return {
            "opponent": self.opponent.name,
            "opponent_update": self.opponent.update,
            "snapshots": [p.name for p in self.snapshots()],
            "skipped": dict(self.skipped),
        }
