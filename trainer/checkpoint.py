"""Checkpoints: written atomically, loaded only when whole and compatible.

A checkpoint holds the model and optimizer state, the update counter (the learning-rate schedule is a
function of it), RNG states, the config and the model arguments. Saving writes a temp file in the same
directory, fsyncs it and renames it over the target, so a kill at any moment leaves either the old or
the new file, never half of one. Loading refuses, with the reason, a file that is not a checkpoint,
is truncated, has another format version, or was made for a different model.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from showcase_core.shogi.features import N_PLANES

FORMAT = "shogi-showcase-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


class ObservationMismatch(CheckpointError):
    """A checkpoint made for another observation (a version with fewer input planes): the network
    cannot read today's positions, whatever its other settings."""


def rng_state(np_rng: np.random.Generator) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np_rng.bit_generator.state,
    }


def restore_rng(state: dict[str, Any], np_rng: np.random.Generator) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    np_rng.bit_generator.state = state["numpy"]


def _tuples(x):
    """random.setstate wants the nested tuples it produced; serialisation may hand back lists."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list | tuple) else x


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Atomically write `payload` (plus format tags) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION, "observation_planes": N_PLANES, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | Path, *, model_args: dict | None = None) -> dict[str, Any]:
    """Load and check a checkpoint. With `model_args`, refuse one made for another architecture."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable or corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a Shogi Showcase checkpoint")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {data.get('version')}, expected {VERSION}")
    for key in ("model", "model_args", "update", "config"):
        if key not in data:
            raise CheckpointError(f"{path}: missing {key!r}")
    planes = _observation_planes(data)
    if planes != N_PLANES:
        raise ObservationMismatch(
            f"{path}: made for the {planes}-plane observation; this version's network reads {N_PLANES}"
            " (attack planes added): start a fresh run, or use the version that made it"
        )
    if model_args is not None and data["model_args"] != model_args:
        raise CheckpointError(
            f"{path}: made for model {data['model_args']}, but the config asks for {model_args}"
        )
    return data


def _observation_planes(data: dict) -> int:
    """The input planes a checkpoint's network reads: recorded since the attack planes came, else the
    input channels of its first convolution (the stem)."""
    if "observation_planes" in data:
        return int(data["observation_planes"])
    for tensor in data["model"].values() if isinstance(data["model"], dict) else ():
        if isinstance(tensor, torch.Tensor) and tensor.ndim == 4:
            return int(tensor.shape[1])
    return N_PLANES


def prune(directory: Path, keep: int) -> None:
    """Keep the newest `keep` periodic checkpoints (update_*.pt); latest.pt and others stay."""
    periodic = sorted(directory.glob("update_*.pt"))
    for old in periodic[:-keep]:
        old.unlink(missing_ok=True)
