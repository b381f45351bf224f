"""The trainer's live side: the publisher link, the showcase game and milestone detection, fed by the
training loop after every update. Nothing here can stall training: publishing never blocks and the
showcase runs in its own thread on its own copy of the weights.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path

from showcase_core.protocol import (
    PROTOCOL_VERSION,
    Eval,
    GameEnd,
    GameStart,
    GpuLoad,
    Hello,
    Histogram,
    Metrics,
    Move,
    MoveNames,
    ProcessLoad,
    Status,
)
from showcase_core.publisher import Publisher
from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.records import to_kif
from showcase_core.sysstats import ProcessStats
from trainer.config import ConfigError, TrainConfig
from trainer.matches import Opponents, elo_history
from trainer.milestones import MilestoneDetector
from trainer.ppo import ADV_HIST_EDGES
from trainer.showcase import Showcase

log = logging.getLogger("trainer.live")


class Live:
    """Publisher + showcase + milestones for one training run."""

    def __init__(
        self,
        cfg: TrainConfig,
        model,
        record: dict,
        *,
        token: str | None = None,
        start_update: int = 0,
        checkpoints: Path | None = None,
        knobs=None,
    ):
        live = cfg.live
        token = token or os.environ.get(live.token_env, "")
        if not token:
            raise ConfigError(
                f"live.server_url is set but no trainer token: set ${live.token_env} or --token"
            )
        self.run_id = record.get("run_id") or uuid.uuid4().hex[:12]
        self.record = record
        self.update = start_update
        self.samples = 0
        self.state = "starting"
        self.activity: str | None = None
        self.thumbnails = None  # trainer.thumbnails.Thumbnails, set by the loop when they are on
        self.samples_per_s: float | None = None
        self.load = ProcessStats()
        self.device = record.get("device", "cpu")
        from trainer.compile import CompileStatus

        self.network = CompileStatus(**record["compile"]).describe() if record.get("compile") else None
        self.detector = MilestoneDetector()
        # Showcase matches: this run's kept checkpoints and the installed ladder rungs; the ladder Elo
        # of each evaluation so far (from metrics.jsonl on a resume, then from each update).
        self.elo_at = elo_history(checkpoints.parent / "metrics.jsonl") if checkpoints else (lambda u: None)
        self.elo_points: list[tuple[int, float]] = []
        self.opponents = Opponents(checkpoints, elo_at=self._elo_at) if checkpoints else None
        self.showcase = (
            Showcase(
                model,
                self._emit,
                interval_s=live.move_interval_s,
                temperature=live.temperature,
                max_plies=cfg.env.max_plies * 2,
                seed=cfg.run.seed,
                potential=shown_potential(cfg),
                material_cap=cfg.reward.material_cap,
                opponents=self.opponents,
                elo_now=lambda: self._elo_at(self.update),
            )
            if live.showcase
            else None
        )
        self.knobs = knobs  # trainer.knobs.Knobs: parameter challenges, applied by the loop
        self.publisher = Publisher(
            live.server_url,
            token,
            self._hello,
            on_control=self._on_control,
            on_connect=self.showcase.current_game_messages if self.showcase else None,
            max_events=live.max_queued_events,
        )

    def _on_control(self, control) -> None:
        """The server's controls (on the publisher's thread): knob changes to the loop's queue,
        everything else to the showcase."""
        if control.action == "knob":
            if self.knobs is None:
                log.warning("knob change %s ignored: this trainer takes none", control.change_id)
            else:
                self.knobs.request(control)
        elif self.showcase is not None:
            self.showcase.handle(control)

    def _elo_at(self, update: int) -> float | None:
        """The ladder Elo of the latest evaluation at or before `update` (this process's, else the
        run's earlier ones from metrics.jsonl)."""
        mine = [elo for u, elo in self.elo_points if u <= update]
        return mine[-1] if mine else self.elo_at(update)

    def _emit(self, t, payload) -> None:
        self.publisher.publish(t, payload)

    def _hello(self) -> Hello:
        r = self.record
        return Hello(
            protocol=PROTOCOL_VERSION,
            run_id=self.run_id,
            config=r["config"],
            model={**r["model_args"], "parameters": r["parameters"]},
            compile=r["compile"],
            device=r["device"],
            update=self.update,
            reward={**r["reward"], **r["curriculum"]},
            weights_version=self.showcase.weights_version if self.showcase else 0,
        )

    def start(self) -> Live:
        self.publisher.start()
        if self.showcase:
            self.showcase.start()
        self.state = "training"
        return self

    def stop(self) -> None:
        self.state = "stopping"
        self._status()
        if self.showcase:
            self.showcase.stop()
        self.publisher.stop()

    def after_update(self, update: int, samples: int, metrics: dict, model, eval_games=()) -> None:
        """Called by the loop once per update: new weights to the showcase, metrics and events out.
        Of an evaluation's games, the first win by checkmate against random and the first game against
        greedy are published as replays (without insight); milestones link to them."""
        self.update, self.samples = update, samples
        if self.thumbnails is not None:
            self.thumbnails.update = update
        elo = metrics.get("eval/ladder_elo")
        if isinstance(elo, int | float) and math.isfinite(elo):
            self.elo_points.append((update, float(elo)))
        sps = metrics.get("perf/sps")
        self.samples_per_s = float(sps) if isinstance(sps, int | float) and math.isfinite(sps) else None
        if self.showcase:
            self.showcase.update_weights(model.state_dict(), version=update)  # the version is the update
        values = {
            k: (float(v) if isinstance(v, int | float) and math.isfinite(v) else None)
            for k, v in metrics.items()
            if not isinstance(v, list)
        }
        edges = [float(e) for e in ADV_HIST_EDGES]
        histograms = {
            k: Histogram(edges=edges, counts=v) for k, v in metrics.items() if k.startswith("adv/hist")
        }
        self.publisher.publish(
            "metrics", Metrics(update=update, samples=samples, values=values, histograms=histograms)
        )
        if "eval/vs_random" in metrics:
            self.publisher.publish(
                "eval",
                Eval(
                    update=update,
                    games=int(self.record["config"]["eval"]["games"]),
                    vs_random=metrics["eval/vs_random"],
                    vs_greedy=metrics.get("eval/vs_greedy"),
                    vs_previous=metrics.get("eval/vs_previous"),
                    elo=metrics.get("eval/elo"),
                    ladder_elo=metrics.get("eval/ladder_elo"),
                    ladder_elo_error=metrics.get("eval/ladder_elo_error"),
                    ladder={
                        k.removeprefix("ladder/"): v
                        for k, v in metrics.items()
                        if k.startswith("ladder/") and not k.endswith(("_voided", "_stopped"))
                    },
                    accuracy=metrics.get("eval/accuracy"),
                    move_loss=metrics.get("eval/move_loss"),
                    engine_status=self.record.get("engines", {}).get("status"),
                    undecided_vs_random=_finite(metrics.get("eval/vs_random_undecided")),
                    undecided_vs_greedy=_finite(metrics.get("eval/vs_greedy_undecided")),
                    mate_conversion=_finite(metrics.get("eval/mate_conversion")),
                    mate_chances=metrics.get("eval/mate_chances"),
                ),
            )
        published = self._publish_eval_games(eval_games)
        for milestone in self.detector.observe(update, metrics):
            if milestone.kind in ("first_mate_vs_random", "eval_jump") and "mate_vs_random" in published:
                milestone.game_id = published["mate_vs_random"]
            self.publisher.publish("milestone", milestone)
        self._status()

    def _publish_eval_games(self, games) -> dict[str, str]:
        picks = {
            "mate_vs_random": next(
                (
                    g
                    for g in games
                    if g["opponent"] == "random" and g["outcome"] == "win" and g["reason"] == "checkmate"
                ),
                None,
            ),
            "vs_greedy": next((g for g in games if g["opponent"] == "greedy"), None),
        }
        ids = {}
        for label, record in picks.items():
            if record is not None:
                ids[label] = self._publish_record(record)
        return ids

    def _publish_record(self, record: dict) -> str:
        """Replay a recorded evaluation game through the rules and publish it as game messages."""
        game = Game(max_plies=max(record["plies"], 1))
        game_id = uuid.uuid4().hex[:16]
        agent = "network (update {})".format(record["update"])
        opponent = f"{record['opponent']} mover"
        black, white = (agent, opponent) if record["agent_colour"] == "black" else (opponent, agent)
        version = self.showcase.weights_version if self.showcase else 0
        self.publisher.publish(
            "game_start",
            GameStart(
                game_id=game_id, kind="evaluation", start_sfen=game.sfen(), black=black, white=white,
                weights_version=version,
            ),
        )  # fmt: skip
        for usi in record["moves"]:
            before = game.sfen()
            prev = game.moves[-1] if game.moves else None
            move = game.board.move_from_usi(usi)
            named = MoveNames(**names(game, move, prev))
            game.push(move)
            self.publisher.publish(
                "move",
                Move(
                    game_id=game_id, ply=game.ply, sfen_before=before, move=named, sfen_after=game.sfen(),
                    chosen_prob=None, weights_version=version,
                ),
            )  # fmt: skip
        outcome = game.outcome
        self.publisher.publish(
            "game_end",
            GameEnd(
                game_id=game_id,
                result=outcome.result if outcome else "truncated",
                reason=outcome.reason if outcome else record["reason"],
                plies=game.ply,
                final_sfen=game.sfen(),
                kif=to_kif(game, black=black, white=white),
            ),
        )
        return game_id

    def _offered(self) -> list:
        if self.opponents is None:
            return []
        try:
            return self.opponents.offered()[:64]
        except OSError as exc:  # a checkpoint directory being rewritten: none this time
            log.warning("match opponents: %r", exc)
            return []

    def set_activity(self, activity: str) -> None:
        """What the loop does now (collecting, updating, evaluating, checkpointing): a status on change."""
        if activity != self.activity:
            self.activity = activity
            self._status()

    def _status(self) -> None:
        show = self.showcase
        self.publisher.publish(
            "status",
            Status(
                state=self.state,
                activity=self.activity,
                samples_per_s=self.samples_per_s,
                load=ProcessLoad(**self.load.sample()),
                gpu=gpu_stats(self.device),
                opponents=self._offered(),
                update=self.update,
                samples=self.samples,
                weights_version=show.weights_version if show else 0,
                showcase=show.state if show else "stopped",
                move_interval_s=show.interval_s if show else self.record["config"]["live"]["move_interval_s"],
                network=self.network,
                knobs=self.knobs.status() if self.knobs is not None else [],
            ),
        )

    def set_compile(self, status) -> None:
        """The background compile finished: the next hello and every status say what runs now."""
        self.record["compile"] = status.as_dict()
        self.network = status.describe()
        self._status()


def gpu_stats(device: str) -> GpuLoad | None:
    """The training GPU's memory (torch's own counters) and utilisation (NVML through torch, None
    where it is not installed); None on the CPU."""
    if not str(device).startswith("cuda"):
        return None
    import torch

    try:
        index = torch.device(device).index or 0
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
    except Exception:  # a GPU that went away mid-run: the strip says "no GPU figures"
        return None
    try:
        util = float(torch.cuda.utilization(index))
    except Exception:  # torch reads utilisation through pynvml, an optional package
        util = None
    return GpuLoad(
        name=name[:200], util_percent=util, mem_used_mb=(total - free) / 2**20, mem_total_mb=total / 2**20
    )


def _finite(x) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def shown_potential(cfg: TrainConfig) -> float:
    """The potential coefficient the shown value adds to the head's output (0 when the head learned
    the result itself, or without shaping)."""
    return cfg.reward.material_shaping / 100.0 if cfg.reward.value_target == "shaped" else 0.0
