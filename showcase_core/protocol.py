"""The wire protocol, defined once (torch-free): every message as a typed model in one envelope.

Envelope: `{"t": type, "v": seq, "ts": unix_ms, "d": payload}`. `v` counts messages per sender and
connection, so a receiver that sees a gap knows it missed something (viewers then ask for a `resync`).
`PROTOCOL_VERSION` travels in `hello` (trainer -> server) and `snapshot` (server -> viewers).

Directions:
- trainer -> server: hello, status, metrics, eval, milestone, game_start, move, game_end, pending_move
- server -> trainer: control
- server -> viewers: snapshot, then the trainer's public messages as deltas (never pending_move),
  plus trainer_status, poll_open, poll_tally, poll_reveal, poll_closed, chat_highlight, leaderboard
- viewer -> server: resync

`parse(text)` validates a message and raises `ProtocolError` with the reason on anything else;
`python -m trainer protocol --schema` prints the JSON Schema of every message.
"""

from __future__ import annotations

import json
import math
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

PROTOCOL_VERSION = 1
MAP_SIZE = 81  # one float per square, board coordinates: index = (file - 1) * 9 + (rank - 1)


class ProtocolError(ValueError):
    """A message that is not valid protocol; the message says what was wrong."""


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


Map81 = Annotated[list[float], Field(min_length=MAP_SIZE, max_length=MAP_SIZE)]
Prob = Annotated[float, Field(ge=0.0, le=1.0)]


def _finite(values: dict[str, float | None]) -> dict[str, float | None]:
    for key, value in values.items():
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{key}: {value} is not finite (send null for a missing value)")
    return values


# --- shared parts --------------------------------------------------------------------------------------


class MoveNames(Payload):
    usi: str
    western: str
    japanese: str


class TopMove(MoveNames):
    prob: Prob  # untempered policy probability over the legal moves


class Maps(Payload):
    """Insight maps in board coordinates (un-rotated for White), each normalised to [0, 1]."""

    se_attention: list[Map81]  # per block: SE-weighted activation, sum_c g_c * relu(h_c)
    se_attention_mean: Map81  # mean of the per-block maps, renormalised
    activation: list[Map81]  # per block: mean |activation| over channels
    saliency: Map81  # |d value / d input| summed over channels
    policy_mass: Map81  # policy probability summed by destination square


class BlockStats(Payload):
    """One residual block for the current move: how strongly it fired and what its SE gates did."""

    act_mean: float = Field(ge=0)  # mean |activation| after the gate, over channels and squares
    act_max: float = Field(ge=0)
    gate_mean: float | None = Field(None, ge=0, le=1)  # SE gates (sigmoid, one per channel); None without SE
    gate_min: float | None = Field(None, ge=0, le=1)
    gate_max: float | None = Field(None, ge=0, le=1)
    gates_open: float | None = Field(None, ge=0, le=1)  # share of channels with a gate above 0.5
    top_channels: list[int] = Field([], max_length=3)  # the channels with the widest-open gates


class Network(Payload):
    """The network as a live diagram for one move: its shape, the stem, each block, the heads' outputs."""

    kind: str = Field(max_length=40)
    planes: int = Field(ge=1)  # input planes
    width: int = Field(ge=1)  # channels in the tower
    stem_act_mean: float | None = Field(None, ge=0)
    blocks: list[BlockStats] = Field(max_length=64)
    legal_moves: int = Field(ge=0)
    policy_entropy: float = Field(ge=0)  # nats, over the legal moves
    top_prob: Prob


class Insight(Payload):
    top: list[TopMove] = Field(max_length=5)
    # The expected game result from the side to move's view: the value head plus the material
    # potential where the head learned the shaped value (see trainer.insight.analyse).
    value: float = Field(ge=-1.0, le=1.0)
    black_win: Prob  # (value from Black's view + 1) / 2
    value_head: float | None = Field(None, ge=-2.0, le=2.0)  # the head's own output, before that
    maps: Maps
    phase: Literal["opening", "middlegame", "endgame"]
    think_ms: float = Field(ge=0.0)
    network: Network | None = None  # what each part of the network did for this move


class InsightSummary(Payload):
    """A move's insight without its maps: what a snapshot carries for all but its latest moves (the
    maps are 80-95% of a move's bytes and only the latest position shows them; /api/games has all)."""

    top: list[TopMove] = Field(max_length=5)
    value: float = Field(ge=-1.0, le=1.0)
    black_win: Prob
    value_head: float | None = Field(None, ge=-2.0, le=2.0)
    phase: Literal["opening", "middlegame", "endgame"]
    think_ms: float = Field(ge=0.0)
    network: Network | None = None


# --- trainer -> server -----------------------------------------------------------------------------------


class Hello(Payload):
    protocol: int
    run_id: str
    role: Literal["trainer"] = "trainer"
    config: dict[str, Any]
    model: dict[str, Any]  # model arguments and parameter count
    compile: dict[str, Any]  # CompileStatus: compiled, mode, fallback_reason, validation_max_error
    device: str
    update: int = Field(ge=0)
    reward: dict[str, Any]  # what shaping and curriculum are on, so the pages can say so
    weights_version: int = Field(ge=0)


class ProcessLoad(Payload):
    """One process's load (showcase_core/sysstats.py): CPU in percent of one core (200 = two busy
    cores; None on the first sample), resident memory, the machine's logical cores."""

    cpu_percent: float | None = Field(None, ge=0)
    rss_mb: float | None = Field(None, ge=0)
    cores: int = Field(1, ge=1)


class GpuLoad(Payload):
    """The trainer's GPU, from torch's CUDA counters (utilisation needs NVML: None without it)."""

    name: str = Field(max_length=200)
    util_percent: float | None = Field(None, ge=0, le=100)
    mem_used_mb: float = Field(ge=0)
    mem_total_mb: float = Field(ge=0)


OPPONENT_ID = r"^(past:[A-Za-z0-9_.-]{1,60}|rung:[A-Za-z0-9_.-]{1,60})$"


class Opponent(Payload):
    """Someone the showcase can play a match against (listed in each status)."""

    id: str = Field(pattern=OPPONENT_ID)
    name: str = Field(max_length=120)
    elo: float | None = None


KNOB_NAMES: tuple[str, ...] = ("ent_coef", "learning_rate", "temperature", "greedy_share")
KnobName = Literal["ent_coef", "learning_rate", "temperature", "greedy_share"]
CHANGE_ID = r"^[A-Za-z0-9_-]{1,40}$"


class Knob(Payload):
    """A learning knob that can change while the run goes on, and the config's bounds for it."""

    name: KnobName
    label: str = Field(max_length=60)
    value: float
    low: float
    high: float


class KnobChange(Payload):
    """A knob change the trainer applied (from update `update` on) or refused (with the reason)."""

    change_id: str = Field(pattern=CHANGE_ID)
    knob: str | None = Field(None, max_length=40)  # as asked for: a refused one may name no real knob
    old: float | None = None
    new: float | None = None
    status: Literal["applied", "refused"]
    reason: str | None = Field(None, max_length=300)
    update: int | None = Field(None, ge=0)
    source: str = Field("control room", max_length=120)  # who asked: the control room, a chat challenge
    revert_of: str | None = Field(None, pattern=CHANGE_ID)


class GaeRow(Payload):
    """One ply of a traced training game, as PPO's update saw it (trainer/gae_trace.py)."""

    ply: int = Field(ge=1)
    usi: str = Field(max_length=8)
    mover: Literal["black", "white"]
    sfen: str = Field(max_length=200)  # the position before the move
    update: int = Field(ge=1)  # the update whose rollout held this ply
    step: int = Field(ge=0)  # its step in that rollout
    reward: float  # the game's result at the last ply plus the shaping, from the mover's view
    potential: float  # phi(s_t), the mover's material potential (0 without shaping)
    next_potential: float  # phi(s_t+1) from whoever moves there
    value: float  # V(s_t), the value head's (shaped) estimate the rollout stored
    next_value: float  # V(s_t+1) from whoever moves there (0 at the end of the game)
    next_sign: float  # -1: the opponent moves next, so V(s_t+1) enters negated
    terminated: bool
    truncated: bool
    segment_end: bool  # the rollout ended here: GAE restarts from the bootstrapped value
    delta: float  # r_t + gamma * sign * V(s_t+1) * (1 - terminated) - V(s_t)
    advantage: float  # GAE, before the minibatch normalisation
    #: the value target, advantage + V(s_t)
    return_: float = Field(alias="return")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


class FramePosition(Payload):
    """One of the shipped positions (trainer/timelapse.py) as one checkpoint's network saw it."""

    key: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    title: str = Field(max_length=120)
    sfen: str = Field(max_length=200)
    insight: Insight


class AttentionFrame(Payload):
    """SE attention over time: the shipped positions analysed by the checkpoint saved at `update`
    (`attention_frame`; stored in the archive, served by /api/timelapse, never pushed to viewers)."""

    update: int = Field(ge=0)
    samples: int = Field(ge=0)
    positions: list[FramePosition] = Field(max_length=16)


class GaeTrace(Payload):
    """A finished self-play training game with every ply's GAE numbers (`gae_trace`)."""

    trace_id: str = Field(pattern=CHANGE_ID)
    env: int = Field(ge=0)  # the self-play env (the rollout's column) it was played in
    start_sfen: str = Field(max_length=200)
    final_sfen: str = Field(max_length=200)
    result: Literal["black", "white", "draw"]
    reason: str = Field(max_length=40)
    plies: int = Field(ge=1)
    first_update: int = Field(ge=1)
    last_update: int = Field(ge=1)
    gamma: float = Field(gt=0, le=1)
    gae_lambda: float = Field(ge=0, le=1)
    rows: list[GaeRow] = Field(max_length=10_000)


class Status(Payload):
    state: Literal["starting", "training", "evaluating", "stopping"]
    # What the training loop is doing right now (None before the first update starts).
    activity: Literal["collecting", "updating", "evaluating", "checkpointing"] | None = None
    samples_per_s: float | None = Field(None, ge=0)  # the last update's, collection and update together
    load: ProcessLoad | None = None  # the trainer process
    gpu: GpuLoad | None = None  # None on the CPU
    opponents: list[Opponent] = Field([], max_length=64)  # match opponents available now
    update: int = Field(ge=0)
    samples: int = Field(ge=0)
    weights_version: int = Field(ge=0)
    showcase: Literal["playing", "paused", "held", "stopped"]
    move_interval_s: float = Field(gt=0)
    dropped: dict[str, int] = {}  # publisher: messages dropped while the server was away, by type
    network: str | None = Field(None, max_length=400)  # e.g. "compiled (default)", "eager, compiling ..."
    knobs: list[Knob] = Field([], max_length=8)  # what a parameter challenge may change, within bounds


class TrainingGame(Payload):
    """One watched training game: its position now, or its final position once with the result."""

    slot: int = Field(ge=0, le=63)
    opponent: Literal["self", "random", "greedy", "pool"]  # whom the agent plays in this env
    opponent_name: str = Field(max_length=80)  # "itself", "the random mover", "a past self (update 150)"
    agent: Literal["black", "white", "both"]  # the agent's colour; both in self-play
    sfen: str = Field(max_length=200)
    ply: int = Field(ge=0)
    last_usi: str | None = Field(None, max_length=8)
    result: Literal["black", "white", "draw"] | None = None  # set once, when the game just ended
    reason: str | None = Field(None, max_length=40)


class TrainingGames(Payload):
    """A sampled handful of the trainer's parallel games (`live.thumbnails`), every
    `live.thumbnails_every_s` at most."""

    update: int = Field(ge=0)
    games: list[TrainingGame] = Field(max_length=64)


class Histogram(Payload):
    edges: list[float]
    counts: list[int]

    @field_validator("counts")
    @classmethod
    def _fits_edges(cls, counts: list[int], info) -> list[int]:
        edges = info.data.get("edges")
        if edges is not None and len(counts) != len(edges) - 1:
            raise ValueError(f"{len(counts)} counts need {len(counts) + 1} edges, got {len(edges)}")
        return counts


class Metrics(Payload):
    update: int = Field(ge=0)
    samples: int = Field(ge=0)
    values: dict[str, float | None]  # keys of docs/metrics.md; None = no value this update
    histograms: dict[str, Histogram] = {}

    @field_validator("values")
    @classmethod
    def _check_finite(cls, values: dict[str, float | None]) -> dict[str, float | None]:
        return _finite(values)


class Eval(Payload):
    update: int = Field(ge=0)
    games: int = Field(ge=1)
    vs_random: Prob
    vs_greedy: Prob | None = None
    vs_previous: Prob | None = None
    elo: float | None = None
    # The engine ladder (None without an engine): Elo fitted against the calibrated rungs (random =
    # 0) with its standard error, the score against each engine rung played, and the analysis
    # engine's judgement of the agent's top move on the shipped probe positions.
    ladder_elo: float | None = None
    ladder_elo_error: float | None = None
    ladder: dict[str, Prob] = {}
    accuracy: float | None = Field(None, ge=0, le=100)
    move_loss: float | None = Field(None, ge=0, le=100)
    engine_status: str | None = Field(None, max_length=200)  # e.g. "no engine installed: ..."
    # Finishing games: the share of games with no winner (ply cap or sennichite), and the agent's
    # mate-in-one conversion (mates played / its turns with a mate in one) over both matches.
    undecided_vs_random: Prob | None = None
    undecided_vs_greedy: Prob | None = None
    mate_conversion: Prob | None = None
    mate_chances: int | None = Field(None, ge=0)


class Milestone(Payload):
    kind: Literal[
        "kl_spike",
        "entropy_drop",
        "eval_jump",
        "first_mate_vs_random",
        "new_best_elo",
        "rung_passed",
        "knob_change",
    ]
    update: int = Field(ge=0)
    title: str = Field(max_length=200)
    detail: str = Field(max_length=1000)
    value: float | None = None
    game_id: str | None = None  # the game that shows it, where one exists


class Match(Payload):
    """A showcase game against someone else: one of the AI's own earlier checkpoints
    (`past:<checkpoint>`) or a rung of the engine ladder (`rung:<name>`)."""

    opponent: str = Field(pattern=OPPONENT_ID)
    opponent_name: str = Field(max_length=120)
    agent: Literal["black", "white"]  # the AI's colour
    agent_elo: float | None = None  # the AI's ladder Elo at its latest evaluation
    opponent_elo: float | None = None  # the rung's fixed rating, or the past self's ladder Elo then


class GameStart(Payload):
    game_id: str = Field(min_length=1, max_length=64)
    kind: Literal["showcase", "evaluation", "selfplay"]
    start_sfen: str
    black: str
    white: str
    weights_version: int = Field(ge=0)
    plan: str | None = Field(None, max_length=160)  # a strategy poll's choice this game plays, if any
    match: Match | None = None  # None: the AI plays both sides


class SideStyle(Payload):
    """One side's castle and rook placement (showcase_core/shogi/castles.py); None where none."""

    castle: str | None = Field(None, max_length=60)
    castle_japanese: str | None = Field(None, max_length=20)
    squares: list[str] = Field([], max_length=8)  # the castle's squares, to outline it
    rook: str | None = Field(None, max_length=40)
    rook_family: Literal["static", "ranging"] | None = None


class Style(Payload):
    black: SideStyle
    white: SideStyle


class Move(Payload):
    game_id: str
    ply: int = Field(ge=1)  # 1 = the first move of the game
    sfen_before: str
    move: MoveNames
    sfen_after: str
    chosen_prob: Prob | None  # the policy's probability for the move; None where it is not known
    weights_version: int = Field(ge=0)
    insight: Insight | None = None  # absent for evaluation and sampled self-play games
    style: Style | None = None  # castles and rook style after the move (showcase games)


class SnapshotMove(Move):
    insight: Insight | InsightSummary | None = None


class GameEnd(Payload):
    game_id: str
    result: Literal["black", "white", "draw", "truncated"]
    reason: str
    plies: int = Field(ge=0)
    final_sfen: str
    kif: str


class PendingMove(Payload):
    """The showcase's next move, held for a prediction poll; the server keeps it secret until reveal."""

    game_id: str
    ply: int = Field(ge=1)
    sfen_before: str
    move: MoveNames
    chosen_prob: Prob
    weights_version: int = Field(ge=0)
    insight: Insight
    poll_id: str | None = None  # the poll that asked for the hold


# --- server -> trainer -----------------------------------------------------------------------------------


class Plan(Payload):
    """What a strategy poll chose for the next showcase game: forced opening moves and/or a temperature."""

    label: str = Field(min_length=1, max_length=120)
    opening: list[str] = Field([], max_length=16)  # USI moves both sides play first, in order
    temperature: float | None = Field(None, ge=0, le=5)
    opponent: str | None = Field(None, pattern=OPPONENT_ID)  # a match: see `Match`


class Control(Payload):
    action: Literal["pause", "resume", "step", "speed", "predict_hold", "release", "plan", "knob"]
    seconds: float | None = Field(None, gt=0, le=600)  # for "speed": seconds per move
    poll_id: str | None = None  # for predict_hold / release / plan: which poll asked
    plan: Plan | None = None  # for "plan": applied to the next showcase game
    # for "knob": set `knob` to `value` from the next update on, or undo the change `revert_of`
    knob: str | None = Field(None, max_length=40)
    value: float | None = Field(None, allow_inf_nan=False)
    change_id: str | None = Field(None, pattern=CHANGE_ID)
    source: str | None = Field(None, max_length=120)
    revert_of: str | None = Field(None, pattern=CHANGE_ID)


# --- server -> viewers -----------------------------------------------------------------------------------


class TrainerStatus(Payload):
    connected: bool
    last_message_ms: int | None = None
    weights_version: int | None = None
    run_id: str | None = None
    update: int | None = None


class ServerLoad(ProcessLoad):
    """The server's own load, sent every few seconds, and the viewers it serves."""

    viewers: int = Field(0, ge=0)


class PollChoice(Payload):
    key: str  # a USI move for predict polls, "1".."5" for strategy polls
    label: str
    votes: int = Field(ge=0)


class PollOpen(Payload):
    poll_id: str
    kind: Literal["predict", "strategy"]
    question: str
    closes_at_ms: int
    choices: list[PollChoice] = []  # strategy polls list them; predict polls accept any legal move
    sfen: str | None = None  # the held position of a predict poll


class PollTally(Payload):
    poll_id: str
    total_votes: int = Field(ge=0)
    choices: list[PollChoice]


class PollReveal(Payload):
    poll_id: str
    answer: MoveNames | None = None  # the AI's move (predict) or None (strategy)
    ai_top: list[TopMove] = []
    choices: list[PollChoice]
    winners: list[str] = []  # display names of exact predictors (escaped by the page, never HTML)
    engine_move: MoveNames | None = None  # the analysis engine's choice for the held position, if ready
    engine: str | None = Field(None, max_length=300)  # its name, or why there is none


class PollClosed(Payload):
    poll_id: str
    outcome: Literal["revealed", "applied", "cancelled", "awaiting_approval"]  # the last: a challenge
    reason: str | None = None


class ChatHighlight(Payload):
    user: str = Field(max_length=64)  # display name; pages render it as text
    text: str = Field(max_length=500)
    source: Literal["twitch", "local"]


class LeaderboardEntry(Payload):
    user: str
    points: int
    correct: int = Field(ge=0)
    total: int = Field(ge=0)
    streak: int = Field(ge=0)


class Leaderboard(Payload):
    entries: list[LeaderboardEntry]


class EngineScore(Payload):
    """An engine's score in its own units, from the side to move's view (see showcase_core/engines/usi.py)."""

    kind: Literal["cp", "mate"]
    value: int | None  # cp, or plies to mate (None: the engine gave only the sign)
    sign: int = Field(ge=-1, le=1)
    bound: Literal["lower", "upper"] | None = None


class Analysis(Payload):
    """The analysis engine's judgement of one showcase move (server -> viewers, when ready). Every
    figure is the engine's, labelled with its name; the value head's stay in `move.insight`."""

    game_id: str
    ply: int = Field(ge=1)
    engine: str = Field(max_length=120)  # e.g. "Fairy-Stockfish 11.1 LB 64, nodes 20000"
    played: MoveNames
    best: MoveNames
    pv: list[str] = Field(default=[], max_length=16)  # the engine's best line, USI
    best_score: EngineScore | None
    played_score: EngineScore | None
    black_chance_before: Prob | None  # Black's winning chance at the root with the engine's best play
    black_chance_after: Prob | None  # ... after the move that was played
    loss: float = Field(ge=0, le=100)  # the mover's winning-chance points lost against the best line
    label: Literal["best", "good", "inaccuracy", "mistake", "blunder"]
    accuracy: float | None = Field(None, ge=0, le=100)
    nodes: int | None = None
    elapsed_ms: int = Field(ge=0)


class EngineState(Payload):
    """Whether live analysis runs, and what it has done (server -> viewers, in the snapshot too)."""

    available: bool
    engine: str | None = None
    message: str | None = Field(None, max_length=300)  # what is missing and how to add it, or the failure
    analysed: int = Field(0, ge=0)
    skipped: int = Field(0, ge=0)  # live positions dropped because the engine fell behind
    failed: int = Field(0, ge=0)
    queued_archive: int = Field(0, ge=0)


class Snapshot(Payload):
    protocol: int
    trainer: TrainerStatus
    game: GameStart | None
    moves: list[SnapshotMove]  # the latest with full insight, older ones with its summary
    metrics: dict[str, list[tuple[int, float | None]]]  # key -> recent (update, value) points
    milestones: list[Milestone]
    poll: PollOpen | None = None
    tally: PollTally | None = None
    reveal: PollReveal | None = None  # the round's result while it is on screen
    leaderboard: list[LeaderboardEntry] = []
    analyses: list[Analysis] = []  # the engine's judgements of the current game's moves
    engine: EngineState | None = None
    status: Status | None = None  # the trainer's latest, while it is connected
    training: TrainingGames | None = None  # the latest thumbnails, while the trainer is connected
    server: ServerLoad | None = None
    knob_changes: list[KnobChange] = []  # this run's recent parameter changes, oldest first


# --- viewer -> server ------------------------------------------------------------------------------------


class Resync(Payload):
    """Ask for a fresh snapshot (sent after a sequence gap)."""


PAYLOADS: dict[str, type[Payload]] = {
    "hello": Hello,
    "status": Status,
    "metrics": Metrics,
    "training_games": TrainingGames,
    "eval": Eval,
    "milestone": Milestone,
    "knob_change": KnobChange,
    "gae_trace": GaeTrace,
    "attention_frame": AttentionFrame,
    "game_start": GameStart,
    "move": Move,
    "game_end": GameEnd,
    "pending_move": PendingMove,
    "control": Control,
    "trainer_status": TrainerStatus,
    "server_load": ServerLoad,
    "poll_open": PollOpen,
    "poll_tally": PollTally,
    "poll_reveal": PollReveal,
    "poll_closed": PollClosed,
    "chat_highlight": ChatHighlight,
    "leaderboard": Leaderboard,
    "analysis": Analysis,
    "engine_state": EngineState,
    "snapshot": Snapshot,
    "resync": Resync,
}
FROM_TRAINER = frozenset(
    {
        "hello",
        "status",
        "metrics",
        "eval",
        "milestone",
        "game_start",
        "move",
        "game_end",
        "pending_move",
        "training_games",
        "knob_change",
        "gae_trace",
        "attention_frame",
    }
)
TO_TRAINER = frozenset({"control"})
FROM_VIEWER = frozenset({"resync"})
SECRET = frozenset({"pending_move"})  # never forwarded to viewers
MAX_MESSAGE_BYTES = 1 << 20


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t: str
    v: int = Field(ge=0)
    ts: int = Field(ge=0)  # unix milliseconds
    d: dict[str, Any]


def now_ms() -> int:
    return int(time.time() * 1000)


def validate_payload(t: str, payload: Payload | dict[str, Any]) -> Payload:
    """The payload as its typed model (validated), or ProtocolError naming the field."""
    model = PAYLOADS.get(t)
    if model is None:
        raise ProtocolError(f"unknown message type {t!r}")
    if isinstance(payload, model):
        return payload
    if isinstance(payload, Payload):
        raise ProtocolError(f"{t} needs a {model.__name__} payload, got {type(payload).__name__}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ProtocolError(f"{t}: {_first_error(exc)}") from None


def make(t: str, payload: Payload | dict[str, Any], *, seq: int, ts: int | None = None) -> dict[str, Any]:
    """Build a validated message dict ready for `json.dumps`."""
    payload = validate_payload(t, payload)
    return {"t": t, "v": seq, "ts": now_ms() if ts is None else ts, "d": payload.model_dump(mode="json")}


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def parse(text: str | bytes, *, allowed: frozenset[str] | None = None) -> tuple[Envelope, Payload]:
    """Validate one message; `allowed` restricts the types a given endpoint accepts."""
    if len(text) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError(f"bad envelope: {_first_error(exc)}") from None
    model = PAYLOADS.get(envelope.t)
    if model is None:
        raise ProtocolError(f"unknown message type {envelope.t!r}")
    if allowed is not None and envelope.t not in allowed:
        raise ProtocolError(f"message type {envelope.t!r} is not accepted here (expected {sorted(allowed)})")
    try:
        payload = model.model_validate(envelope.d)
    except ValidationError as exc:
        raise ProtocolError(f"{envelope.t}: {_first_error(exc)}") from None
    return envelope, payload


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "message"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def json_schema() -> dict[str, Any]:
    """One JSON Schema document: the envelope, and a payload schema per message type."""
    defs: dict[str, Any] = {}
    one_of = []
    for t, model in PAYLOADS.items():
        schema = TypeAdapter(model).json_schema(ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[model.__name__] = schema
        one_of.append(
            {
                "type": "object",
                "properties": {
                    "t": {"const": t},
                    "v": {"type": "integer", "minimum": 0},
                    "ts": {"type": "integer", "minimum": 0},
                    "d": {"$ref": f"#/$defs/{model.__name__}"},
                },
                "required": ["t", "v", "ts", "d"],
                "additionalProperties": False,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Shogi Showcase protocol v{PROTOCOL_VERSION}",
        "oneOf": one_of,
        "$defs": defs,
    }
