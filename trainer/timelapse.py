"""SE attention over time: a fixed, shipped set of positions, analysed by each checkpoint the trainer
saves (and, for a fresh run, by the untrained network at update 0), so a page can play the maps
across the run like a time-lapse.

Each frame is the `attention_frame` message: per position the full insight of that checkpoint's
network (the SE-weighted activation map the page plays, the other maps, the top five moves and the
value). The trainer publishes it and writes it to `timelapse/update_<N>.json` in the run directory;
the server keeps every frame in the archive, so the time-lapse outlives the pruned checkpoint files.
`python -m trainer timelapse RUN_DIR` analyses the checkpoints kept in a run directory afresh.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from showcase_core.protocol import AttentionFrame, FramePosition
from showcase_core.shogi.game import Game

# (key, title, moves from the start in USI, or a whole SFEN): the positions every checkpoint sees.
POSITIONS: tuple[tuple[str, str, list[str] | str], ...] = (
    ("start", "The starting position (Black to move)", []),
    ("open-lanes", "Both bishops' diagonals opened (7g7f 3c3d), Black to move", ["7g7f", "3c3d"]),
    (
        "bishop-exchange",
        "After the bishop exchange: a bishop in each hand, Black to move",
        ["7g7f", "3c3d", "8h2b+", "3a2b"],
    ),
    (
        "ranging-mino",
        "Black's Fourth File Rook in a Mino castle against Static Rook, White to move",
        [
            "7g7f",
            "3c3d",
            "2h6h",
            "8c8d",
            "5i4h",
            "8d8e",
            "4h3h",
            "7a7b",
            "3h2h",
            "4a3b",
            "3i3h",
            "6a5b",
            "6i5h",
        ],
    ),
    ("mate-in-one", "Endgame: Black mates with the gold drop at 5b", "4k4/9/4P4/9/9/9/9/9/4K4 b G 1"),
)


def position_games() -> list[tuple[str, str, Game]]:
    """Each shipped position as a game (checked against the rules: a move that is not legal fails)."""
    out = []
    for key, title, spec in POSITIONS:
        if isinstance(spec, str):
            game = Game(spec)
        else:
            game = Game()
            for usi in spec:
                legal = dict(zip(game.legal_usi(), game.legal_moves(), strict=True))
                if usi not in legal:
                    raise ValueError(f"timelapse position {key!r}: {usi} is not legal")
                game.push(legal[usi])
        out.append((key, title, game))
    return out


def frame(
    model, *, update: int, samples: int, potential: float = 0.0, material_cap: float = 0.0
) -> AttentionFrame:
    """The shipped positions as `model` sees them now."""
    from trainer.insight import analyse

    positions = []
    for key, title, game in position_games():
        insight = analyse(model, game, potential=potential, material_cap=material_cap).insight
        positions.append(FramePosition(key=key, title=title, sfen=game.sfen(), insight=insight))
    return AttentionFrame(update=update, samples=samples, positions=positions)


def write_frame(out_dir: Path, f: AttentionFrame) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"update_{f.update:06d}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(f.model_dump(mode="json")))
    tmp.replace(path)  # a kill mid-write leaves the previous frame, never half of one
    return path


_UPDATE = re.compile(r"^update_(\d+)\.pt$")


def from_run_dir(run_dir: Path) -> list[Path]:
    """Analyse every kept `update_<N>.pt` checkpoint of `run_dir` and write its frame; returns the
    frames' paths in update order."""
    from trainer.config import TrainConfig
    from trainer.evaluate import load_policy
    from trainer.live import shown_potential

    paths = []
    found = sorted(
        (int(m.group(1)), p)
        for p in (run_dir / "checkpoints").glob("update_*.pt")
        if (m := _UPDATE.match(p.name))
    )
    for update, path in found:
        model, data = load_policy(str(path))
        cfg = TrainConfig.model_validate(data["config"])
        f = frame(
            model,
            update=data.get("update", update),
            samples=data.get("samples", 0),
            potential=shown_potential(cfg),
            material_cap=cfg.reward.material_cap,
        )
        paths.append(write_frame(run_dir / "timelapse", f))
    return paths
