"""The training loop: collect, compute advantages, update, report; checkpoints and evaluation on a
schedule. It reads like the algorithm (cleanrl's order); everything around it is a plain function.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES
from showcase_core.shogi.game import BLACK, REASONS, WHITE
from trainer.checkpoint import (
    CheckpointError,
    ObservationMismatch,
    load_checkpoint,
    prune,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from trainer.compile import BackgroundCompile, compile_model
from trainer.config import ConfigError, TrainConfig
from trainer.distributed import Dist, from_env, share
from trainer.evaluate import LadderEval, elo_from_score, network_mover, play_match
from trainer.knobs import Knobs
from trainer.model import ModelArgs, build_model, count_parameters, model_args_from_config, sample_logits
from trainer.ppo import PPOSettings, Rollout, lr_at, ppo_update
from trainer.selfplay import AutoMix, Collector, greedy_mover, random_mover
from trainer.usage import BufferUsage


def sampling_actor(forward, device: torch.device):
    """Acting for collection: sample the masked policy; (actions, log-probs, values) on the CPU."""

    def act(obs: torch.Tensor, mask: torch.Tensor):
        logits, value = forward(obs.to(device, non_blocking=True), mask.to(device, non_blocking=True))
        action, logp = sample_logits(logits)
        return action.cpu(), logp.cpu(), value.cpu()

    return act


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; asking for CUDA without one is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device: 'cuda' was asked for but no CUDA device is available")
    return torch.device(name)


def default_threads() -> int:
    """Leave one core for the server and the showcase game on a small machine."""
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass
class TrainResult:
    run_dir: str
    updates: int
    samples: int
    seconds: float
    stopped_by: str
    last_metrics: dict
    compile_status: dict
    checkpoint: str | None


class StopFlag:
    """Set by SIGINT/SIGTERM (or a caller); the loop finishes the current update, saves and returns."""

    def __init__(self):
        self.event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.event.set()

    def __bool__(self) -> bool:
        return self.event.is_set()


def _install_signal_handlers(stop: StopFlag) -> list:
    if threading.current_thread() is not threading.main_thread():
        return []
    previous = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous.append((sig, signal.getsignal(sig)))
        signal.signal(sig, lambda signum, _frame: stop.set(signal.Signals(signum).name))
    return previous


def _selfplay_metrics(episodes, vs_opponent, vs_greedy=()) -> dict:
    out: dict[str, float] = {}
    if episodes:
        out["selfplay/games"] = len(episodes)
        out["selfplay/game_length"] = float(np.mean([e.length for e in episodes]))
        for reason in REASONS:
            out[f"selfplay/result_{reason}"] = sum(e.reason == reason for e in episodes)
        out["selfplay/black_win_rate"] = sum(e.winner == BLACK for e in episodes) / len(episodes)
        out["selfplay/white_win_rate"] = sum(e.winner == WHITE for e in episodes) / len(episodes)
    if vs_opponent:
        out["curriculum/games"] = len(vs_opponent)
        out["curriculum/score_vs_random"] = _agent_score(vs_opponent)
    if vs_greedy:
        out["curriculum/greedy_games"] = len(vs_greedy)
        out["curriculum/score_vs_greedy"] = _agent_score(vs_greedy)
    return out


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    stop: StopFlag | None = None,
    progress: bool = False,
    token: str | None = None,
) -> TrainResult:
    """Train until `cfg.run.updates` or `cfg.run.minutes` (or a stop signal); returns a summary.
    With `cfg.live.server_url`, metrics, evaluations, milestones and the showcase game are published."""
    stop = stop if stop is not None else StopFlag()  # an unset flag is falsy: `or` would drop it
    previous_handlers = _install_signal_handlers(stop)
    try:
        return _train(cfg, resume=resume, stop=stop, progress=progress, token=token)
    finally:
        for sig, handler in previous_handlers:
            signal.signal(sig, handler)


def _train(cfg: TrainConfig, *, resume: bool, stop: StopFlag, progress: bool, token) -> TrainResult:
    device = resolve_device(cfg.run.device)
    dist = from_env(device)  # torchrun: this rank of WORLD_SIZE; else the one process
    try:
        result = _train_rank(cfg, dist, device, resume=resume, stop=stop, progress=progress, token=token)
        dist.barrier()  # every rank done (rank 0 saved and flushed) before the group is torn down
        return result
    finally:
        dist.close()


def _light(games: list) -> list:
    """Finished games without their moves: what the update's metrics need, cheap to gather."""
    out = []
    for game in games:
        ep, colour = game if isinstance(game, tuple) else (game, None)
        light = replace(ep, final_sfen="", moves=[])
        out.append(light if colour is None else (light, colour))
    return out


def _train_rank(
    cfg: TrainConfig, dist: Dist, device, *, resume: bool, stop: StopFlag, progress: bool, token
) -> TrainResult:
    main = dist.is_main
    threads = cfg.run.threads or max(1, default_threads() // dist.world)
    torch.set_num_threads(threads)
    run_dir = Path(cfg.run.run_dir)
    ckpt_dir = run_dir / "checkpoints"
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        for stale in ckpt_dir.glob(".*.tmp"):  # left by a kill during a save; the real files are intact
            stale.unlink(missing_ok=True)
    margs: ModelArgs = model_args_from_config(cfg.model)
    # This rank's share of every env group and of the minibatch (all of it on one process).
    cur = cfg.curriculum
    local_envs = {
        "num_envs": share(cfg.env.num_envs, dist, "env.num_envs"),
        "pool_envs": share(cur.pool_envs, dist, "curriculum.pool_envs"),
        "random_opponent_envs": share(cur.random_opponent_envs, dist, "curriculum.random_opponent_envs"),
        "greedy_opponent_envs": share(cur.greedy_opponent_envs, dist, "curriculum.greedy_opponent_envs"),
    }
    local_mb = share(cfg.ppo.minibatch_size, dist, "ppo.minibatch_size")

    torch.manual_seed(cfg.run.seed)  # the same initial weights on every rank (and broadcast below)
    np_rng = np.random.default_rng(cfg.run.seed + 1_000_003 * dist.rank)
    model = build_model(margs).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.ppo.learning_rate, eps=1e-5)
    start_update, samples_done, elapsed_before = 0, 0, 0.0
    elo_state = {"elo": None, "snapshot": None}
    resumed_from = resumed_run_id = None
    latest = ckpt_dir / "latest.pt"
    data = None
    if main and resume and latest.exists():
        try:
            data = load_checkpoint(latest, model_args=asdict(margs))  # tensors land on the CPU
        except ObservationMismatch as exc:
            # A run from before an observation change (e.g. `make run` after an upgrade): its network
            # cannot read today's positions. Keep it, set aside, and start afresh, saying so.
            aside = ckpt_dir.with_name(f"{ckpt_dir.name}-set-aside-{int(time.time())}")
            ckpt_dir.rename(aside)
            ckpt_dir.mkdir(parents=True)
            if (run_dir / "metrics.jsonl").exists():  # its curve goes with it: the new one starts at 1
                (run_dir / "metrics.jsonl").rename(aside / "metrics.jsonl")
            print(
                f"resume: {exc}. Its checkpoints and curve are kept in {aside}; starting afresh",
                file=sys.stderr,
            )
    if dist.from_main(data is not None) and not main:  # rank 0 resumed (after any set-aside): so do we
        data = load_checkpoint(latest, model_args=asdict(margs))
    if data is not None:
        model.load_state_dict(data["model"])
        optimizer.load_state_dict(data["optimizer"])
        start_update, samples_done = data["update"], data["samples"]
        elapsed_before = data.get("elapsed_s", 0.0)
        elo_state = data.get("elo_state", elo_state)
        restore_rng(data["rng"], np_rng)
        resumed_from = str(latest)
        resumed_run_id = data.get("run_id")
        if main:
            _drop_metrics_after(run_dir / "metrics.jsonl", start_update)
    if dist.active:
        dist.broadcast_module(model)
        # Each rank samples its own games: its own streams from here on (rank 0 keeps the saved ones).
        if not main:
            torch.manual_seed(cfg.run.seed + 7919 * dist.rank + start_update)
            np_rng = np.random.default_rng(cfg.run.seed + 1_000_003 * dist.rank + start_update)

    n_envs = sum(local_envs.values())
    pool = None
    if cfg.curriculum.pool_envs:
        from trainer.league import OpponentPool

        pool = OpponentPool(
            ckpt_dir, model, model_args=asdict(margs), size=cfg.curriculum.pool_size, device=device,
            seed=cfg.run.seed + start_update + 7919 * dist.rank,
        )  # fmt: skip
        pool.refresh(model)
    collector = Collector(
        local_envs["num_envs"],
        max_plies=cfg.env.max_plies,
        gamma=cfg.ppo.gamma,
        material_shaping=cfg.reward.material_shaping,
        cap_is_draw=cfg.reward.cap_is_draw,
        material_cap=cfg.reward.material_cap,
        pool_envs=local_envs["pool_envs"],
        pool_opponent=pool.opponent if pool else None,
        random_opponent_envs=local_envs["random_opponent_envs"],
        greedy_opponent_envs=local_envs["greedy_opponent_envs"],
        greedy_share=cfg.curriculum.greedy_share,
        greedy_plies=cfg.curriculum.greedy_plies,
        seed=int(np_rng.integers(2**31)),
        start_sfens=cfg.env.start_sfens or None,
        workers=cfg.env.workers,
    )
    sample_obs, sample_mask = collector.observation()
    mb = local_mb
    train_obs = torch.from_numpy(np.resize(sample_obs, (mb, *sample_obs.shape[1:])))
    train_mask = torch.from_numpy(np.resize(sample_mask, (mb, *sample_mask.shape[1:])))
    samples = (
        (torch.from_numpy(sample_obs.copy()).to(device), torch.from_numpy(sample_mask.copy()).to(device)),
        (train_obs.to(device), train_mask.to(device)),
    )
    weights_lock = threading.Lock()  # held while the optimizer changes the weights
    background = None
    if cfg.compile.background and cfg.compile.mode != "off":
        compiled = compile_model(model, "off", *samples)  # eager until the compiled copy is ready
        background = BackgroundCompile(
            model, cfg.compile.mode, *samples, tolerance=cfg.compile.tolerance, lock=weights_lock
        )
        compiled.status = background.status
    else:
        compiled = compile_model(model, cfg.compile.mode, *samples, tolerance=cfg.compile.tolerance)

    started_at = time.time()
    ladder = LadderEval(cfg.engines) if cfg.eval.every_updates and main else None
    if ladder is not None and ladder.status:
        print(f"engines: {ladder.status} (the ladder Elo and the accuracy curve are off)", file=sys.stderr)
    record = {
        # A resumed run keeps its id, so the server's curves (keyed by run and update) continue.
        "run_id": resumed_run_id or f"{run_dir.name}-{int(started_at)}",
        "config": cfg.model_dump(),
        "model_args": asdict(margs),
        "parameters": count_parameters(model),
        "compile": compiled.status.as_dict(),
        "reward": {
            "plain_result": True,
            "material_shaping": cfg.reward.material_shaping,
            "cap_is_draw": cfg.reward.cap_is_draw,
            "material_cap": cfg.reward.material_cap,
            "value_target": cfg.reward.value_target,
            "shown_value": "value head + material potential"
            if cfg.reward.value_target == "shaped" and cfg.reward.material_shaping
            else "value head",
        },
        "curriculum": {
            "random_opponent_envs": cfg.curriculum.random_opponent_envs,
            "greedy_opponent_envs": cfg.curriculum.greedy_opponent_envs,
            "pool_envs": cfg.curriculum.pool_envs,
            "pool_size": cfg.curriculum.pool_size,
            "greedy_share": cfg.curriculum.greedy_share,  # at the start; knob_changes has the rest
            "greedy_share_auto": cfg.curriculum.greedy_share_auto,
            "greedy_plies": cfg.curriculum.greedy_plies,  # the training greedy mover's look-ahead
        },
        # Who the training games are against, as shares of the envs.
        "opponent_mix": {
            "self": cfg.env.num_envs / cfg.total_envs,
            "random": cur.random_opponent_envs * (1 - cur.greedy_share) / cfg.total_envs,
            "greedy": (
                cfg.curriculum.greedy_opponent_envs
                + cfg.curriculum.random_opponent_envs * cfg.curriculum.greedy_share
            )
            / cfg.total_envs,
            "past_self": cfg.curriculum.pool_envs / cfg.total_envs,
        },
        "distributed": {**dist.describe(), "envs_per_rank": n_envs, "minibatch_per_rank": local_mb},
        "threads": torch.get_num_threads(),
        "device": str(device),
        "torch": torch.__version__,
        "resumed_from": resumed_from,
        "engines": {
            "rungs": [r.name for r in ladder.rungs] if ladder else [],
            "status": ladder.status if ladder else "evaluation off",
        },
        "start_update": start_update,
        "started_at": started_at,
    }
    # Parameter challenges and the control room's changes: the values a resumed run had, its history.
    knobs = Knobs(cfg, saved=data.get("knobs") if data is not None else None)
    collector.set_greedy_share(knobs.values["greedy_share"])  # a resumed run keeps its opponent mix
    automix = None
    if cfg.curriculum.greedy_share_auto and cfg.curriculum.random_opponent_envs:
        low, high = knobs.bounds["greedy_share"]
        automix = AutoMix(low, min(high, cfg.curriculum.greedy_share_max))
    record["knobs"] = {"bounds": {k: list(v) for k, v in knobs.bounds.items()}, "start": dict(knobs.values)}
    record["knob_changes"] = [c.as_dict() for c in knobs.changes]
    if main:
        (run_dir / "run.json").write_text(json.dumps(record, indent=2))
    live = None
    if cfg.live.server_url and main:  # rank 0 alone publishes
        from trainer.live import Live

        live = Live(
            cfg, model, record, token=token, start_update=start_update, checkpoints=ckpt_dir, knobs=knobs
        ).start()
        knobs.emit = live.publisher.publish
        if cfg.live.thumbnails:
            from trainer.thumbnails import Thumbnails

            live.thumbnails = Thumbnails(
                collector,
                live.publisher.publish,
                slots=cfg.live.thumbnails,
                every_s=cfg.live.thumbnails_every_s,
            )
            collector.watch = live.thumbnails.on_step

    gae_trace = None
    if live is not None and cfg.live.gae_trace:
        from trainer.gae_trace import GaeTrace

        gae_trace = GaeTrace(
            collector,
            gamma=cfg.ppo.gamma,
            gae_lambda=cfg.ppo.gae_lambda,
            emit=live.publisher.publish,
            out_dir=run_dir / "gae",
        )
    infer, train_fwd = compiled.infer_forward, compiled.train_forward
    settings = PPOSettings(
        update_epochs=cfg.ppo.update_epochs,
        minibatch_size=mb,
        clip_coef=cfg.ppo.clip_coef,
        clip_vloss=cfg.ppo.clip_vloss,
        ent_coef=knobs.values["ent_coef"],
        vf_coef=cfg.ppo.vf_coef,
        max_grad_norm=cfg.ppo.max_grad_norm,
        norm_adv=cfg.ppo.norm_adv,
        target_kl=cfg.ppo.target_kl,
        amp=cfg.ppo.amp if cfg.ppo.amp is not None else device.type == "cuda",
        device=str(device),
    )
    generator = torch.Generator().manual_seed(cfg.run.seed + start_update)

    act = sampling_actor(infer, device)

    @torch.no_grad()
    def value_of(obs: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            return model.get_value(obs.to(device)).cpu()
        finally:
            model.train(was_training)

    rollout = Rollout.empty(cfg.ppo.num_steps, n_envs, N_PLANES, N_ACTIONS)
    planned = cfg.run.updates
    deadline = time.monotonic() + cfg.run.minutes * 60 if cfg.run.minutes else None
    metrics_path = run_dir / "metrics.jsonl"
    update = start_update
    metrics: dict = {}
    started = time.perf_counter()
    checkpoint_path = None
    stopped_by = "updates"

    def snapshot(path: Path) -> Path:
        return save_checkpoint(
            path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "update": update,
                "samples": samples_done,
                "elapsed_s": elapsed_before + time.perf_counter() - started,
                "config": cfg.model_dump(),
                "model_args": asdict(margs),
                "rng": rng_state(np_rng),
                "elo_state": elo_state,
                "run_id": record["run_id"],
                "knobs": knobs.state(),
            },
        )

    every_s = cfg.checkpoint.every_minutes * 60
    last_save = time.monotonic()

    def timelapse_frame() -> None:  # SE attention over time: the shipped positions, this network
        if live is None or not cfg.live.timelapse or not main:
            return
        from trainer.live import shown_potential
        from trainer.timelapse import frame, write_frame

        try:
            f = frame(
                model,
                update=update,
                samples=samples_done,
                potential=shown_potential(cfg),
                material_cap=cfg.reward.material_cap,
            )
            write_frame(run_dir / "timelapse", f)
        except Exception as exc:  # a frame is for the show: training goes on without it, and says so
            print(f"timelapse: no frame at update {update}: {exc!r}", file=sys.stderr)
            return
        live.publisher.publish("attention_frame", f)

    def doing(activity: str) -> None:  # the status strip's "what the trainer is doing"
        if live is not None:
            live.set_activity(activity)

    if update == 0:
        timelapse_frame()  # the untrained network: the time-lapse's first frame
    try:
        with metrics_path.open("a") if main else contextlib.nullcontext() as metrics_file:
            while True:
                reason = None
                if planned is not None and update >= start_update + planned:
                    reason = "updates"
                elif deadline is not None and time.monotonic() >= deadline:
                    reason = "minutes"
                elif stop:
                    reason = stop.reason or "stop"
                if dist.active:  # rank 0's clock and plan, or a signal any rank got: all stop together
                    reasons = dist.gather(reason)
                    reason = reasons[0] or next((r for r in reasons if r), None)
                if reason is not None:
                    stopped_by = reason
                    break
                if (
                    knobs.apply_pending(
                        update + 1,
                        settings=settings,
                        showcase=live.showcase if live else None,
                        collector=collector,
                        record=record,
                    )
                    and main
                ):
                    (run_dir / "run.json").write_text(json.dumps(record, indent=2))
                if dist.active:  # parameter changes reach rank 0 (the live link): everyone follows
                    knobs.values.update(dist.from_main(dict(knobs.values)))
                    settings.ent_coef = knobs.values["ent_coef"]
                    collector.set_greedy_share(knobs.values["greedy_share"])
                if planned:
                    progress_frac = (update - start_update) / planned
                elif deadline is not None and cfg.ppo.lr_schedule != "constant":
                    # a run by minutes: the schedule follows rank 0's clock (no broadcast when constant)
                    progress_frac = dist.from_main(
                        1.0 - (deadline - time.monotonic()) / (cfg.run.minutes * 60)
                    )
                else:
                    progress_frac = 0.0
                lr = lr_at(cfg.ppo.lr_schedule, knobs.values["learning_rate"], progress_frac)
                for group in optimizer.param_groups:
                    group["lr"] = lr

                if background is not None and (done := background.poll()) is not None:
                    background = None
                    compiled = _switch_compiled(compiled, done, record, run_dir, live)
                    infer, train_fwd = compiled.infer_forward, compiled.train_forward
                    act = sampling_actor(infer, device)
                doing("collecting")
                model.eval()
                stats = collector.collect(rollout, act, value_of)
                advantages, returns = rollout.advantages(
                    cfg.ppo.gamma, cfg.ppo.gae_lambda, exact_potential=cfg.reward.value_target == "result"
                )
                if gae_trace is not None:
                    gae_trace.after_gae(update + 1, rollout, advantages, returns, stats.episodes)
                model.train()
                doing("updating")
                t_update = time.perf_counter()
                usage = BufferUsage(
                    rollout,
                    advantages,
                    max_plies=cfg.env.max_plies,
                    selfplay_envs=collector.selfplay.num_envs,
                )
                with weights_lock:
                    metrics = ppo_update(
                        train_fwd,
                        optimizer,
                        list(model.parameters()),
                        rollout,
                        advantages,
                        returns,
                        settings,
                        generator,
                        usage,
                        dist,
                    )
                update_s = time.perf_counter() - t_update
                update += 1
                steps = stats.steps
                episodes, vs_opponent, vs_greedy, vs_pool = (
                    stats.episodes, stats.vs_opponent, stats.vs_greedy, stats.vs_pool
                )  # fmt: skip
                if dist.active:  # every rank's games and samples count
                    parts = dist.gather(
                        (steps, *(_light(g) for g in (episodes, vs_opponent, vs_greedy, vs_pool)))
                    )
                    steps = sum(p[0] for p in parts)
                    episodes, vs_opponent, vs_greedy, vs_pool = (
                        [g for p in parts for g in p[i]] for i in range(1, 5)
                    )
                samples_done += steps
                metrics.update(_selfplay_metrics(episodes, vs_opponent, vs_greedy))
                if automix is not None:  # every rank sees the same gathered games: the same share
                    mix = automix.after(knobs.values["greedy_share"], _scores(vs_opponent))
                    knobs.values["greedy_share"] = mix
                    collector.set_greedy_share(mix)
                if collector.curriculum is not None:
                    metrics["curriculum/greedy_share"] = knobs.values["greedy_share"]
                if collector.curriculum is not None or collector.greedy is not None:
                    metrics["curriculum/greedy_plies"] = cfg.curriculum.greedy_plies
                if pool is not None:
                    metrics.update(_pool_metrics(vs_pool, pool))
                    if update % cfg.curriculum.pool_every_updates == 0:
                        if main:
                            pool.add(snapshot, update)
                        dist.barrier()  # the new snapshot exists before any rank draws from the pool
                    if update % cfg.curriculum.pool_refresh_updates == 0:
                        pool.refresh(model)
                metrics["ppo/lr"] = lr
                metrics["ppo/ent_coef"] = settings.ent_coef
                metrics["perf/sps"] = steps / (stats.seconds + update_s)
                metrics["perf/collect_sps"] = steps / stats.seconds
                metrics["perf/update_sps"] = steps * settings.update_epochs / update_s
                metrics["perf/samples"] = samples_done
                metrics["perf/compiled"] = float(compiled.status.compiled)  # which network ran this update
                if dist.active:
                    metrics["perf/ranks"] = dist.world
                if not main:
                    continue  # rank 0 alone evaluates, writes metrics and checkpoints

                eval_games: list[dict] = []
                if cfg.eval.every_updates and update % cfg.eval.every_updates == 0:
                    doing("evaluating")
                    eval_metrics, eval_games = _evaluate(
                        cfg, model, update, run_dir, ckpt_dir, elo_state, snapshot, ladder
                    )
                    metrics.update(eval_metrics)

                line = {"update": update, "time": time.time(), **metrics}
                metrics_file.write(json.dumps(line) + "\n")
                metrics_file.flush()
                if live is not None:
                    live.after_update(update, samples_done, metrics, model, eval_games)
                if progress:
                    _progress(update, planned and start_update + planned, metrics)
                trained_min = (elapsed_before + time.perf_counter() - started) / 60
                for mark in cfg.checkpoint.at_minutes:
                    path = ckpt_dir / f"minute_{mark:g}.pt"
                    if trained_min >= mark and not path.exists():
                        snapshot(path)
                if update % cfg.checkpoint.every_updates == 0:
                    doing("checkpointing")
                    checkpoint_path = snapshot(latest)
                    snapshot(ckpt_dir / f"update_{update:06d}.pt")
                    prune(ckpt_dir, cfg.checkpoint.keep)
                    timelapse_frame()
                    last_save = time.monotonic()
                elif every_s and time.monotonic() - last_save >= every_s:
                    doing("checkpointing")
                    checkpoint_path = snapshot(latest)
                    last_save = time.monotonic()
    finally:
        if live is not None:
            live.stop()
        if ladder is not None:
            ladder.close()
        collector.close()
    if progress and main:
        print(file=sys.stderr)
    if update > start_update and main:
        checkpoint_path = snapshot(latest)
    return TrainResult(
        run_dir=str(run_dir),
        updates=update,
        samples=samples_done,
        seconds=elapsed_before + time.perf_counter() - started,
        stopped_by=stopped_by,
        last_metrics=metrics,
        compile_status=compiled.status.as_dict(),
        checkpoint=str(checkpoint_path) if checkpoint_path else None,
    )


def _evaluate(
    cfg, model, update, run_dir, ckpt_dir, elo_state, snapshot, ladder: LadderEval | None = None
) -> tuple[dict, list[dict]]:
    """Scheduled evaluation: vs random, vs greedy, vs the previous evaluation snapshot (the relative
    Elo chain), then the engine ladder (anchored Elo, accuracy) when an engine is installed.
    Returns the metrics and every game played (USI moves, colours, result), also kept in games/."""
    model.eval()
    # Eager here: match batches vary in size, and a static compiled graph would retrace for each.
    agent = network_mover(model)
    games, plies, seed = cfg.eval.games, cfg.eval.max_plies, cfg.run.seed + update
    vs_random = play_match(agent, random_mover, games, max_plies=plies, seed=seed)
    vs_greedy = play_match(agent, greedy_mover, games, max_plies=plies, seed=seed)
    out = {
        "eval/vs_random": vs_random.score,
        "eval/vs_greedy": vs_greedy.score,
        "eval/vs_random_wins": vs_random.wins,
        "eval/vs_random_undecided": vs_random.undecided,
        "eval/vs_greedy_undecided": vs_greedy.undecided,
        "eval/mate_chances": vs_random.mate_chances + vs_greedy.mate_chances,
        "eval/mate_conversion": _ratio(
            vs_random.mates_played + vs_greedy.mates_played, vs_random.mate_chances + vs_greedy.mate_chances
        ),
        "eval/vs_random_mate_rate": vs_random.reasons.get("checkmate", 0) / vs_random.games,
        "eval/vs_random_mate_wins": sum(
            r["outcome"] == "win" and r["reason"] == "checkmate" for r in vs_random.records
        ),
    }
    if elo_state["snapshot"] is None or not Path(elo_state["snapshot"]).exists():
        elo_state["elo"] = vs_random.elo_diff  # the random mover anchors the ladder at 0
    else:
        previous = build_model(model.args)
        previous.load_state_dict(load_checkpoint(elo_state["snapshot"])["model"])
        previous.eval()
        vs_prev = play_match(
            network_mover(model, temperature=1.0, seed=seed),
            network_mover(previous, temperature=1.0, seed=seed + 1),
            games,
            max_plies=plies,
            seed=seed,
        )
        out["eval/vs_previous"] = vs_prev.score
        elo_state["elo"] = elo_state["elo"] + elo_from_score(vs_prev.score, vs_prev.games)
    out["eval/elo"] = elo_state["elo"]
    ladder_games: list[dict] = []
    if ladder is not None:
        ladder_metrics, ladder_games = ladder.run(
            model,
            elo=elo_state.get("ladder_elo"),
            scripted={"random": vs_random, "greedy": vs_greedy},
            seed=seed,
            max_plies=plies,
        )
        out.update(ladder_metrics)
        if "eval/ladder_elo" in ladder_metrics:
            elo_state["ladder_elo"] = ladder_metrics["eval/ladder_elo"]
    path = snapshot(ckpt_dir / f"eval_{update:06d}.pt")
    elo_state["snapshot"] = str(path)
    games_dir = run_dir / "games"
    games_dir.mkdir(exist_ok=True)
    games = [
        {"update": update, "opponent": opponent, **rec}
        for opponent, match in (("random", vs_random), ("greedy", vs_greedy))
        for rec in match.records
    ] + [{"update": update, **rec} for rec in ladder_games]
    with (games_dir / f"eval_{update:06d}.jsonl").open("w") as f:
        for game in games:
            f.write(json.dumps(game) + "\n")
    return out, games


def _switch_compiled(eager, done, record, run_dir, live):
    """The background compile finished: use its copies if they validated, else stay eager with its
    reason. Either way the run record and the server hear which network is running."""
    status = done.status
    chosen = done if status.compiled else eager
    chosen.status = status
    record["compile"] = status.as_dict()
    (run_dir / "run.json").write_text(json.dumps(record, indent=2))
    print(f"compile: {status.describe()}", file=sys.stderr)
    if live is not None:
        live.set_compile(status)
    return chosen


def _scores(games) -> list[float]:
    """The agent's score in each (episode, agent colour) pair: win 1, draw 0.5, loss 0."""
    return [1.0 if e.winner == c else 0.5 if e.winner is None else 0.0 for e, c in games]


def _agent_score(games) -> float:
    """The agent's mean score (win 1, draw 0.5, loss 0) over (episode, agent colour) pairs."""
    return float(np.mean(_scores(games)))


def _pool_metrics(vs_pool, pool) -> dict:
    """Games against the past self this update, the agent's score in them, and who it was."""
    out: dict[str, float] = {
        "pool/opponent_update": float(pool.opponent.update) if pool.opponent.update is not None else -1.0,
        "pool/snapshots": len(pool.snapshots()),
        "pool/skipped": len(pool.skipped),
    }
    if vs_pool:
        out["pool/games"] = len(vs_pool)
        out["pool/score"] = _agent_score(vs_pool)
    return out


def _drop_metrics_after(path: Path, update: int) -> None:
    """A resumed run repeats the updates after its checkpoint: drop their old lines (rewritten
    atomically), so `metrics.jsonl` holds each update number once."""
    if not path.exists():
        return
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            number = json.loads(line)["update"]
        except (ValueError, KeyError, TypeError):
            dropped += 1  # a line cut short by the kill
            continue
        if number <= update:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)
        print(f"resume: dropped {dropped} metrics lines after update {update}", file=sys.stderr)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


def _progress(update: int, total: int | None, m: dict) -> None:
    def fmt(key, spec):
        v = m.get(key)
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    head = f"update {update}" + (f"/{total}" if total else "")
    if total:
        done = int(30 * min(update / total, 1.0))
        head = f"[{'#' * done}{'.' * (30 - done)}] " + head
    text = (
        f"\r{head}  sps {fmt('perf/sps', '.0f')}  kl {fmt('ppo/approx_kl', '.4f')}"
        f"  entropy {fmt('losses/entropy', '.2f')}  black win {fmt('selfplay/black_win_rate', '.2f')}"
        f"  vs random {fmt('eval/vs_random', '.2f')}"
    )
    print(text, end="", file=sys.stderr, flush=True)


__all__ = ["CheckpointError", "StopFlag", "TrainResult", "default_threads", "train"]
