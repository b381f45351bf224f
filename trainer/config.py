"""The trainer's one typed config: TOML file + command-line overrides, validated at start.

The defaults are the set-up of the learning benchmark (configs/cpu-small-30min.toml), which scored
0.998 against the random mover after 30 minutes on 2 CPU cores: self-play plus a random-opponent
curriculum with material shaping and the cap as a draw, so a streamer's first run learns visibly. The
benchmark pins eager; the default compiles in the background.

`load_config(path, overrides)` returns a `TrainConfig`; any error names the field, e.g.
`ppo.minibatch_size: must divide num_envs * num_steps (4096), got 1000`. The whole config is written
into the run record and into every checkpoint.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from showcase_core.engines.ladder import ANALYSIS_SPEC, Rung
from showcase_core.engines.usi import DEFAULT_SEARCH_DIRS, EngineSpec
from showcase_core.shogi.game import validate_sfen

COMPILE_MODES: tuple[str, ...] = ("off", "default", "reduce-overhead", "max-autotune")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSection(Section):
    preset: Literal["cpu-small", "production", "custom"] | None = None
    """None picks `production` with CUDA and `cpu-small` otherwise; `custom` uses the fields below."""
    kind: Literal["restower", "baseline"] = "restower"
    depth: int = Field(3, ge=0, le=40)
    width: int = Field(48, ge=1, le=1024)
    se_ratio: float = Field(0.25, ge=0.0, le=1.0)
    value_hidden: int = Field(64, ge=1, le=4096)


class EnvSection(Section):
    num_envs: int = Field(32, ge=1, le=4096)
    """Self-play games stepped together (one network plays both sides)."""
    max_plies: int = Field(256, ge=1, le=10_000)
    """Ply cap per game; reaching it is a truncation, not a draw."""
    start_sfens: list[str] = []
    """Positions self-play games start from, in turn; empty means the initial position."""
    workers: int = Field(0, ge=0, le=64)
    """Environment worker processes for the rules of the self-play and scripted-opponent envs, each
    holding a slice of every group (trainer/envworkers.py); 0 = in the trainer's process. For a
    machine whose network runs on a GPU while the cores step the games; the pool's envs stay here."""

    @field_validator("start_sfens")
    @classmethod
    def _valid_sfens(cls, sfens: list[str]) -> list[str]:
        return [validate_sfen(s) for s in sfens]  # SfenError is a ValueError: pydantic names the field


class PPOSection(Section):
    num_steps: int = Field(16, ge=1)
    """Steps per env per rollout; the batch is num_envs * num_steps (plus curriculum envs)."""
    update_epochs: int = Field(2, ge=1)
    minibatch_size: int = Field(512, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Over `run.updates`, or over `run.minutes` of this run's wall clock when only minutes are set."""
    gamma: float = Field(0.95, gt=0, le=1)
    """Discount per ply. 0.95 (was 0.99): with the mate planes, mates in one played rose from 18% to
    69% of the chances at 100 updates for 0.04 less against greedy (README, Learning)."""
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_coef: float = Field(0.2, gt=0)
    clip_vloss: bool = True
    ent_coef: float = Field(0.01, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    norm_adv: bool = True
    target_kl: float | None = Field(None, gt=0)
    amp: bool | None = None
    """bfloat16 autocast for the training forward pass; None = on with CUDA, off on the CPU."""


class RewardSection(Section):
    material_shaping: float = Field(1.0, ge=0.0, le=1.0)
    """Potential-based shaping: coefficient on the material balance (pawn = 1 / 100). 0 disables it.
    Evaluation always uses the plain game result."""
    value_target: Literal["shaped", "result"] = "shaped"
    """What the value head learns. `shaped`: the shaped value (expected result minus the material
    potential), GAE's baseline as it stands; the pages show it plus the potential. `result`: the
    expected result itself, the baseline being value minus the exact potential, which cancels the
    shaping out of every TD error (measured: converts mates but stops valuing material)."""
    material_cap: float = Field(30.0, ge=0.0, le=300.0)
    """Clip the material balance the potential is made of to [-cap, cap] pawns (0 = no clip): a lead
    beyond it earns no more shaping, so only winning pays once far ahead (measured at 30 minutes:
    mate conversion 0.82 -> 0.90 at the same score against greedy)."""
    cap_is_draw: bool = True
    """End a game at the ply cap as a draw (no bootstrap) instead of a truncation. The observation
    carries the plies played, so the cap is part of the game the agent sees, and evaluation scores it
    as a draw (measured: more wins and fewer unfinished games against the random mover)."""


class CurriculumSection(Section):
    random_opponent_envs: int = Field(96, ge=0, le=4096)
    """Extra envs where the agent plays one side and a uniform-random mover the other."""
    greedy_opponent_envs: int = Field(0, ge=0, le=4096)
    """Extra envs against the one-ply greedy mover (mates in one, else takes the most valuable
    piece): a scripted opponent that punishes a hanging piece, which the random mover never does."""
    pool_envs: int = Field(0, ge=0, le=4096)
    """Extra envs where the agent plays a frozen past version of itself (fictitious self-play)."""
    pool_size: int = Field(5, ge=1, le=100)
    """Past snapshots kept in the pool (`pool_<update>.pt` in the checkpoint folder)."""
    pool_every_updates: int = Field(25, ge=1)
    """Add the current weights to the pool this often."""
    pool_refresh_updates: int = Field(5, ge=1)
    """Draw the pool envs' opponent afresh from the pool this often."""
    greedy_share: float = Field(0.0, ge=0.0, le=1.0)
    """The opponent mix of the random-opponent envs: each of their games is played against the greedy
    mover with this probability (drawn when the game starts), else against the random mover. A knob
    (`[knobs] greedy_share`): chat can challenge it while the run goes on."""
    greedy_share_auto: bool = False
    """Move the mix by the agent's results: after each update, if its last 100 training games
    against the random mover scored at least 0.97, the greedy share rises by 0.02 (up to
    `greedy_share_max` and the knob's bounds); below 0.90 it falls by 0.02. `curriculum/greedy_share`
    in the metrics follows it."""
    greedy_share_max: float = Field(0.5, ge=0.0, le=1.0)
    """The most the automatic mix raises the greedy share to."""
    greedy_plies: int = Field(1, ge=1, le=2)
    """The curriculum's greedy mover (the greedy-share games and the greedy-opponent envs): 1 is the
    one-ply greedy mover the evaluation and the ladder use; 2 also weighs the best capture the
    reply could make and avoids the mates in one it can see (`movers.greedy2_move`), a defender
    where the one-ply mover only grabs. The evaluation's greedy mover stays one-ply."""


class CompileSection(Section):
    mode: str = "default"
    """off / default / reduce-overhead / max-autotune; a failure or mismatch falls back to eager."""
    tolerance: float = Field(1e-3, gt=0)
    background: bool = True
    """Start eager and compile in a thread, switching once the compiled copy validates against
    eager; False compiles before the first update (the run waits for it)."""


class CheckpointSection(Section):
    every_updates: int = Field(20, ge=1)
    every_minutes: float = Field(2.0, ge=0.0)
    """Also save `latest.pt` once this much time has passed since the last save, so a kill costs at
    most about this much learning; 0 = by updates only."""
    keep: int = Field(3, ge=1)
    """Periodic checkpoints kept besides `latest.pt` and the milestone snapshots."""
    at_minutes: list[float] = []
    """Also keep a snapshot `minute_<M>.pt` once this much training time has passed (e.g. [5])."""


class EvalSection(Section):
    every_updates: int = Field(25, ge=0)
    """0 disables evaluation during training."""
    games: int = Field(40, ge=2)
    max_plies: int = Field(256, ge=1)


class EnginesSection(Section):
    """Engines as yardsticks at each evaluation (never as teachers): the calibrated ladder's rungs
    nearest the agent's Elo, and the analysis engine's judgement of its moves on the probe set."""

    search_dirs: list[str] = list(DEFAULT_SEARCH_DIRS)
    """Where engine programs are looked for after PATH (Debian's /usr/games is not on root's PATH)."""
    rungs: list[Rung] = []
    """Override the ladder; empty = the calibrated rungs of showcase_core/engines/ladder.json. Rungs not in
    that table are played and scored but have no Elo to fit against."""
    rung_games: int = Field(20, ge=0)
    """Games per engine rung at each evaluation, from the opening book, colours swapped; 0 = none."""
    rungs_per_eval: int = Field(2, ge=1, le=20)
    probe_positions: int = Field(60, ge=0, le=1000)
    """Probe positions judged by the analysis engine at each evaluation (the accuracy curve); 0 = off."""
    analysis: EngineSpec = ANALYSIS_SPEC


class RunSection(Section):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto = cuda when available; the environment and rollout storage always stay on the CPU."""
    seed: int = 1
    threads: int | None = Field(None, ge=1)
    """torch threads; default leaves a core for the server and showcase (cores - 1, at least 1)."""
    run_dir: str = "runs/default"
    updates: int | None = Field(None, ge=1)
    minutes: float | None = Field(None, gt=0)


class LiveSection(Section):
    server_url: str | None = None
    """ws://host:port/ws/trainer of the showcase server; unset = train without publishing."""
    token_env: str = "SHOWCASE_TRAINER_TOKEN"
    """Environment variable holding the trainer token (kept out of the config and run records)."""
    showcase: bool = True
    """Play the paced showcase game while publishing."""
    move_interval_s: float = Field(2.0, gt=0, le=600)
    temperature: float = Field(0.5, ge=0)
    """Showcase sampling temperature (0 = always the top move); insight shows the untempered policy."""
    max_queued_events: int = Field(2000, ge=1)
    """Moves, games and milestones kept while the server is away; later ones are dropped and counted."""
    thumbnails: int = Field(6, ge=0, le=64)
    """Training games shown as thumbnails (`/overlay/training`), taken in turn from each kind of
    game the trainer plays; 0 = none."""
    thumbnails_every_s: float = Field(2.0, ge=0.5, le=600)
    """At most one `training_games` message this often (conflated for slow viewers)."""
    gae_trace: bool = True
    """Follow one self-play game at a time through its rollouts and publish its per-ply GAE numbers
    when it ends (`gae_trace`, the /gae page; also `gae/` in the run directory)."""
    timelapse: bool = True
    """Analyse the shipped positions (trainer/timelapse.py) with each checkpoint saved every
    `checkpoint.every_updates`, and at update 0 of a fresh run, and publish the frame
    (`attention_frame`, the /timelapse page; also `timelapse/` in the run directory)."""


class KnobsSection(Section):
    """Bounds of what may change while the run goes on (parameter challenges and the control room,
    trainer/knobs.py): a change outside them is refused with the reason. The run's own starting
    values must lie inside them."""

    ent_coef: tuple[float, float] = (0.0, 0.05)
    learning_rate: tuple[float, float] = (1e-5, 3e-3)
    temperature: tuple[float, float] = (0.0, 2.0)
    greedy_share: tuple[float, float] = (0.0, 1.0)  # the opponent mix (curriculum.greedy_share)

    @field_validator("ent_coef", "learning_rate", "temperature", "greedy_share")
    @classmethod
    def _ordered(cls, bounds: tuple[float, float]) -> tuple[float, float]:
        low, high = bounds
        if not (0 <= low <= high) or high == float("inf"):
            raise ValueError(f"bounds must be [low, high] with 0 <= low <= high < inf, got {list(bounds)}")
        return bounds


class TrainConfig(Section):
    model: ModelSection = ModelSection()
    env: EnvSection = EnvSection()
    ppo: PPOSection = PPOSection()
    reward: RewardSection = RewardSection()
    curriculum: CurriculumSection = CurriculumSection()
    compile: CompileSection = CompileSection()
    checkpoint: CheckpointSection = CheckpointSection()
    eval: EvalSection = EvalSection()
    engines: EnginesSection = EnginesSection()
    run: RunSection = RunSection()
    live: LiveSection = LiveSection()
    knobs: KnobsSection = KnobsSection()

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        for name, value in (
            ("ent_coef", self.ppo.ent_coef),
            ("learning_rate", self.ppo.learning_rate),
            ("temperature", self.live.temperature),
            ("greedy_share", self.curriculum.greedy_share),
        ):
            low, high = getattr(self.knobs, name)
            if not low <= value <= high:
                raise ValueError(
                    f"knobs.{name}: the run starts at {value:g}, outside its bounds [{low:g}, {high:g}]"
                )
        batch = self.batch_size
        if batch % self.ppo.minibatch_size:
            raise ValueError(
                f"ppo.minibatch_size: must divide the batch (num_envs + curriculum envs) * num_steps"
                f" = {batch}, got {self.ppo.minibatch_size}"
            )
        if self.compile.mode not in COMPILE_MODES:
            raise ValueError(f"compile.mode: expected one of {COMPILE_MODES}, got {self.compile.mode!r}")
        return self

    @property
    def total_envs(self) -> int:
        """Self-play, random-opponent, greedy-opponent and pool envs together."""
        c = self.curriculum
        return self.env.num_envs + c.random_opponent_envs + c.greedy_opponent_envs + c.pool_envs

    @property
    def batch_size(self) -> int:
        return self.total_envs * self.ppo.num_steps


class ConfigError(ValueError):
    """A config that cannot be used; the message names the field."""


def _set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
    node[parts[-1]] = value


def _parse_value(text: str) -> Any:
    """Command-line values are read as TOML scalars when they parse (numbers, booleans), else text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, **fields) -> TrainConfig:
    """Build the config from an optional TOML file, `section.field=value` overrides and keyword fields
    given as `section__field=value` (the CLI's own flags)."""
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            tree = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like section.field=value")
        key, _, value = item.partition("=")
        _set_path(tree, key.strip(), _parse_value(value.strip()))
    for key, value in fields.items():
        if value is not None:
            _set_path(tree, key.replace("__", "."), value)
    try:
        return TrainConfig.model_validate(tree)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "config"
            lines.append(f"{where}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("invalid config:\n  " + "\n  ".join(lines)) from None
