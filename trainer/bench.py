"""Benchmarks that print their figures (never timed tests). `python -m trainer bench env`."""

from __future__ import annotations

import json
import platform
import random
import time
from pathlib import Path

import cshogi
import numpy as np

from showcase_core.shogi.game import DEFAULT_MAX_PLIES
from showcase_core.shogi.vecenv import VecEnv


def raw_cshogi_playouts(seconds: float, max_plies: int = DEFAULT_MAX_PLIES, seed: int = 0) -> dict:
    """Random playouts on a bare cshogi board: legal moves, pick, push, game-over check. No features."""
    rng = random.Random(seed)
    board = cshogi.Board()
    plies = games = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        moves = list(board.legal_moves)
        board.push(rng.choice(moves))
        plies += 1
        if board.is_game_over() or board.move_number > max_plies:
            board.reset()
            games += 1
            if time.perf_counter() > deadline:
                break
        elif plies % 1024 == 0 and time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - start
    return {"plies": plies, "games": games, "elapsed_s": elapsed, "plies_per_s": plies / elapsed}


def vecenv_random(
    seconds: float, envs: int, max_plies: int = DEFAULT_MAX_PLIES, seed: int = 0, dense: bool = False
) -> dict:
    """The project's VecEnv with uniformly random legal actions: rules, compact observation, legal
    lists, auto-reset; with `dense` also the 94 planes and the mask read every step, as training does."""
    rng = np.random.default_rng(seed)
    env = VecEnv(envs, max_plies=max_plies)
    env.reset()
    steps = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        res = env.step(env.sample_random_actions(rng))
        if dense:
            res.obs, res.mask  # noqa: B018 - reading them builds them
        steps += envs
    elapsed = time.perf_counter() - start
    return {"steps": steps, "elapsed_s": elapsed, "steps_per_s": steps / elapsed, "episodes": env.stats()}


def bench_env(seconds: float = 10.0, envs: int = 64, max_plies: int = DEFAULT_MAX_PLIES) -> dict:
    raw = raw_cshogi_playouts(seconds, max_plies)
    vec = vecenv_random(seconds, envs, max_plies)
    return {
        "benchmark": "env",
        "raw_cshogi_plies_per_s": round(raw["plies_per_s"]),
        "vecenv_steps_per_s": round(vec["steps_per_s"]),
        "ratio": round(vec["steps_per_s"] / raw["plies_per_s"], 3),
        "envs": envs,
        "seconds": seconds,
        "max_plies": max_plies,
        "raw_games": raw["games"],
        "vecenv_episodes": vec["episodes"]["episodes"],
        "vecenv_mean_episode_length": round(vec["episodes"]["mean_length"], 1),
        "vecenv_reasons": vec["episodes"]["reasons"],
        "python": platform.python_version(),
        "cshogi": getattr(cshogi, "__version__", "unknown"),
        "machine": platform.machine(),
    }


_MEASURE = """
import json, sys
from trainer.bench import raw_cshogi_playouts, vecenv_random
kind, seconds, envs = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
if kind == "raw":
    print(json.dumps(raw_cshogi_playouts(seconds)["plies_per_s"]))
else:
    kw = {"dense": True} if kind == "dense" else {}
    print(json.dumps(vecenv_random(seconds, envs, **kw)["steps_per_s"]))
"""


def bench_env_against(baseline: str, *, seconds: float, envs: int, rounds: int = 3) -> dict:
    """VecEnv steps/s of this tree against `baseline` (a worktree of an earlier commit), same envs and
    seeds, measured in turn in fresh processes each round, with raw cshogi for the ratio."""
    import subprocess
    import sys
    from pathlib import Path

    here = str(Path(__file__).resolve().parents[1])

    def measure(cwd: str, kind: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, kind, str(seconds), str(envs)],
            cwd=cwd, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return float(out.stdout.strip().splitlines()[-1])

    rows = []
    for _ in range(rounds):
        row = {
            "raw_plies_per_s": measure(here, "raw"),
            "baseline_steps_per_s": measure(baseline, "compact"),
            "steps_per_s": measure(here, "compact"),
            "steps_per_s_dense": measure(here, "dense"),
        }
        row["speedup"] = row["steps_per_s"] / row["baseline_steps_per_s"]
        row["speedup_dense"] = row["steps_per_s_dense"] / row["baseline_steps_per_s"]
        row["ratio"] = row["steps_per_s"] / row["raw_plies_per_s"]
        row["ratio_dense"] = row["steps_per_s_dense"] / row["raw_plies_per_s"]
        row["baseline_ratio"] = row["baseline_steps_per_s"] / row["raw_plies_per_s"]
        rows.append(
            {
                k: round(v, 3) if k in ("speedup", "speedup_dense") or "ratio" in k else round(v)
                for k, v in row.items()
            }
        )
    return {"benchmark": "env", "baseline": baseline, "envs": envs, "seconds": seconds, "rounds": rows}


def print_result(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:28s} {value}")


def bench_train(
    presets: list[str],
    *,
    envs: int = 64,
    steps: int = 8,
    minibatch: int = 256,
    repeats: int = 2,
    compile_too: bool = True,
    threads: int | None = None,
) -> dict:
    """Samples/s of collection (self-play, acting forward) and of the PPO update (one epoch of
    forward + backward + step), per preset, eager and compiled, measured after one warm-up."""
    import torch

    from showcase_core.shogi.actions import N_ACTIONS
    from showcase_core.shogi.features import N_PLANES
    from trainer.compile import compile_model
    from trainer.loop import default_threads, sampling_actor
    from trainer.model import PRESETS, build_model
    from trainer.ppo import PPOSettings, Rollout, ppo_update
    from trainer.selfplay import Collector

    torch.set_num_threads(threads or default_threads())
    out: dict = {
        "benchmark": "train",
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "threads": torch.get_num_threads(),
        "envs": envs,
        "steps": steps,
        "minibatch": minibatch,
        "torch": torch.__version__,
        "presets": {},
    }
    batch = envs * steps
    assert batch % minibatch == 0, f"envs * steps ({batch}) must be a multiple of --minibatch ({minibatch})"
    for name in presets:
        torch.manual_seed(0)
        model = build_model(PRESETS[name])
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        collector = Collector(
            envs, max_plies=256, gamma=0.99, material_shaping=0, random_opponent_envs=0, seed=0
        )
        rollout = Rollout.empty(steps, envs, N_PLANES, N_ACTIONS)
        obs, mask = collector.observation()
        infer_sample = (torch.from_numpy(obs.copy()), torch.from_numpy(mask.copy()))
        train_sample = (
            infer_sample[0][:minibatch].repeat(max(1, minibatch // envs), 1, 1, 1)[:minibatch],
            infer_sample[1][:minibatch].repeat(max(1, minibatch // envs), 1)[:minibatch],
        )
        settings = PPOSettings(update_epochs=1, minibatch_size=minibatch)
        rows = {}
        for mode in ["off", "default"] if compile_too else ["off"]:
            compiled = compile_model(model, mode, infer_sample, train_sample)

            act = sampling_actor(compiled.infer_forward, torch.device("cpu"))

            def value_of(o, model=model):
                model.eval()
                return model.get_value(o)

            collect_s, update_s = [], []
            for rep in range(repeats + 1):
                model.eval()
                t0 = time.perf_counter()
                collector.collect(rollout, act, value_of)
                t1 = time.perf_counter()
                adv, ret = rollout.advantages(0.99, 0.95)
                model.train()
                t2 = time.perf_counter()
                ppo_update(
                    compiled.train_forward,
                    optimizer,
                    list(model.parameters()),
                    rollout,
                    adv,
                    ret,
                    settings,
                    torch.Generator().manual_seed(rep),
                )
                t3 = time.perf_counter()
                if rep:  # the first round is warm-up
                    collect_s.append(t1 - t0)
                    update_s.append(t3 - t2)
            rows["compiled" if mode != "off" else "eager"] = {
                "collect_samples_per_s": round(batch / (sum(collect_s) / repeats), 1),
                "update_samples_per_s": round(batch / (sum(update_s) / repeats), 1),
                "compile": compiled.status.as_dict(),
            }
        if "compiled" in rows and rows["compiled"]["compile"]["compiled"]:
            rows["compiled_over_eager"] = {
                key: round(rows["compiled"][key] / rows["eager"][key], 3)
                for key in ("collect_samples_per_s", "update_samples_per_s")
            }
        out["presets"][name] = rows
    return out


def bench_learn(
    config_path: str,
    *,
    minutes: float | None,
    games: int,
    run_dir: str | None,
    fresh: bool,
    snapshot_every: float = 0.0,
    score_at: list[float] | None = None,
    engine_games: int = 40,
) -> dict:
    """Train from `config_path` for its minutes, then score the final checkpoint over `games` games
    against the random mover, the greedy mover, every engine rung and the 5-minute snapshot; report
    the curve. `snapshot_every` keeps a snapshot every so many minutes; `score_at` scores some of them
    the same way (e.g. the 30-minute point of a 2-hour run)."""
    import shutil
    from pathlib import Path

    from trainer.config import load_config
    from trainer.evaluate import evaluate_checkpoint
    from trainer.loop import train

    cfg = load_config(config_path, run__minutes=minutes, run__run_dir=run_dir)
    marks = {5.0, *cfg.checkpoint.at_minutes, *(score_at or [])}
    if snapshot_every and cfg.run.minutes:
        marks |= {snapshot_every * k for k in range(1, int(cfg.run.minutes / snapshot_every) + 1)}
    cfg.checkpoint.at_minutes = sorted(m for m in marks if not cfg.run.minutes or m <= cfg.run.minutes)
    if fresh and Path(cfg.run.run_dir).exists():
        shutil.rmtree(cfg.run.run_dir)
    result = train(cfg, progress=True)
    ckpts = Path(cfg.run.run_dir) / "checkpoints"
    five = ckpts / "minute_5.pt"

    def score(path: str, name: str) -> dict:
        final = evaluate_checkpoint(
            path,
            games=games,
            max_plies=cfg.eval.max_plies,
            against=[str(five)] if five.exists() and path != str(five) else [],
            seed=12345,
            threads=cfg.run.threads,
            records_path=str(Path(cfg.run.run_dir) / "games" / f"{name}_eval.jsonl"),
            ladder=True,
            probe_positions=120,
            engine_games=engine_games,
        )
        matches = final["matches"]
        both = [matches[k] for k in ("random", "greedy")]
        chances = sum(m["mate_chances"] for m in both)
        return {
            "checkpoint": path,
            "update": final["update"],
            "samples": final["samples"],
            "score_vs_random": matches["random"]["score"],
            "undecided_vs_random": matches["random"]["undecided"],
            "score_vs_greedy": matches["greedy"]["score"],
            "score_vs_5min": matches[str(five)]["score"] if str(five) in matches else None,
            "mate_conversion": sum(m["mates_played"] for m in both) / chances if chances else None,
            "mate_chances": chances,
            "matches": matches,
            "ladder": final["ladder"],
        }

    scored = {f"minute_{m:g}": score(str(ckpts / f"minute_{m:g}.pt"), f"minute_{m:g}") for m in score_at or []
              if (ckpts / f"minute_{m:g}.pt").exists()}  # fmt: skip
    final = score(result.checkpoint, "final")
    curve = []
    start = None
    with open(Path(cfg.run.run_dir) / "metrics.jsonl") as f:
        for line in f:
            m = json.loads(line)
            start = start if start is not None else m["time"]
            if "eval/vs_random" in m:
                curve.append(
                    {
                        "update": m["update"],
                        "samples": m["perf/samples"],
                        "minutes": round((m["time"] - start) / 60, 1),  # wall clock from the first update
                        "vs_random": m["eval/vs_random"],
                        "vs_greedy": m["eval/vs_greedy"],
                        "undecided_vs_random": m.get("eval/vs_random_undecided"),
                        "mate_conversion": m.get("eval/mate_conversion"),
                        "elo": round(m["eval/elo"], 1),
                        "ladder_elo": m.get("eval/ladder_elo"),
                        "ladder_elo_error": m.get("eval/ladder_elo_error"),
                        "accuracy": m.get("eval/accuracy"),
                        "entropy": m.get("losses/entropy"),
                        "value_loss": m.get("losses/value"),
                        "approx_kl": m.get("ppo/approx_kl"),
                        "pool_score": m.get("pool/score"),
                    }
                )
    return {
        "benchmark": "learn",
        "config": config_path,
        "minutes": round(result.seconds / 60, 2),
        "updates": result.updates,
        "samples": result.samples,
        "final_games": games,
        "compile": result.compile_status.get("state"),
        **{k: v for k, v in final.items() if k != "checkpoint"},
        "scored_snapshots": scored,
        "curve": curve,
    }


def bench_insight(
    presets: list[str], *, positions: int = 16, repeats: int = 3, threads: int | None = None
) -> dict:
    """Per-move insight (`analyse`: forward with the block outputs, value backward for saliency, top
    moves named, maps) against a plain batch-1 forward of the same network, on the same positions."""
    import statistics

    import torch

    from showcase_core.shogi.actions import legal_mask
    from showcase_core.shogi.features import observe
    from showcase_core.shogi.game import Game
    from trainer.insight import analyse
    from trainer.loop import default_threads
    from trainer.model import PRESETS, build_model

    torch.set_num_threads(threads or default_threads())
    rng = random.Random(0)
    games = []
    while len(games) < positions:
        game = Game()
        for _ in range(rng.randrange(10, 120)):
            if game.is_over:
                break
            game.push(rng.choice(game.legal_moves()))
        if not game.is_over:
            games.append(game)
    out: dict = {
        "benchmark": "insight",
        "threads": torch.get_num_threads(),
        "positions": positions,
        "presets": {},
    }
    for name in presets:
        torch.manual_seed(0)
        model = build_model(PRESETS[name]).eval()
        model.requires_grad_(False)  # as in the showcase: only the input needs a gradient (saliency)
        inputs = [(torch.from_numpy(observe(g))[None], torch.from_numpy(legal_mask(g))[None]) for g in games]
        with torch.no_grad():
            model(*inputs[0])  # warm-up
        analyse(model, games[0])
        plain, insight = [], []
        for _ in range(repeats):
            for (obs, mask), game in zip(inputs, games, strict=True):
                t0 = time.perf_counter()
                with torch.no_grad():
                    model(obs, mask)
                t1 = time.perf_counter()
                analyse(model, game)
                t2 = time.perf_counter()
                plain.append(t1 - t0)
                insight.append(t2 - t1)
        p, i = statistics.median(plain), statistics.median(insight)
        out["presets"][name] = {
            "plain_forward_ms": round(p * 1000, 2),
            "insight_ms": round(i * 1000, 2),
            "ratio": round(i / p, 2),
        }
    return out


def bench_archive(
    *, preset: str = "production", checkpoint: str | None = None, moves: int = 120, threads: int | None = None
) -> dict:
    """Archive bytes per showcase move: moves played by the network with their real insight (every
    map of every block), stored through the server's own Store into a fresh SQLite file, against the
    JSON the trainer sends for the same moves; plus the largest map error after decoding."""
    import tempfile

    import torch

    from server import store as st
    from showcase_core.protocol import Move, MoveNames
    from showcase_core.shogi.actions import action_to_move
    from showcase_core.shogi.game import Game
    from showcase_core.shogi.notation import names
    from trainer.evaluate import load_policy
    from trainer.insight import analyse
    from trainer.loop import default_threads
    from trainer.model import PRESETS, build_model

    torch.set_num_threads(threads or default_threads())
    if checkpoint:
        model, data = load_policy(checkpoint)
        label = f"{checkpoint} (update {data['update']})"
    else:
        torch.manual_seed(0)
        model, label = build_model(PRESETS[preset]).eval(), f"{preset} preset, untrained weights"
    model.requires_grad_(False)
    sent: list[dict] = []
    game, game_no = Game(), 0
    while len(sent) < moves:
        if game.is_over:
            game, game_no = Game(), game_no + 1
        analysis = analyse(model, game)
        action = int(analysis.probs.argmax())
        move = action_to_move(action, game)
        before, prev = game.sfen(), (game.moves[-1] if game.moves else None)
        named = MoveNames(**names(game, move, prev))
        game.push(move)
        sent.append(
            Move(game_id=f"bench-{game_no}", ply=game.ply, sfen_before=before, move=named,
                 sfen_after=game.sfen(), chosen_prob=float(analysis.probs[action]), weights_version=1,
                 insight=analysis.insight).model_dump(mode="json")
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        empty, path = Path(tmp) / "empty.sqlite3", Path(tmp) / "archive.sqlite3"
        sizes = {}
        for target, rows in ((empty, []), (path, sent)):
            store = st.Store(target).open()

            def write(conn, rows=rows):
                for i in sorted({m["game_id"] for m in rows}):
                    st.start_game(conn, run_id="bench", game={"game_id": i, "kind": "showcase",
                                  "start_sfen": Game().sfen(), "black": "ai", "white": "ai",
                                  "weights_version": 1})  # fmt: skip
                for m in rows:
                    st.add_move(conn, move=m)

            store.submit(write).result()
            store.close()
            conn = st.connect(target)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            stored = conn.execute("SELECT COALESCE(SUM(LENGTH(insight)), 0) FROM moves").fetchone()[0]
            got = [st.get_game(conn, game_id=g)["moves"] for g in sorted({m["game_id"] for m in rows})]
            conn.close()
            sizes[target.name] = (target.stat().st_size, stored, [m for ms in got for m in ms])
    file_bytes = sizes["archive.sqlite3"][0] - sizes["empty.sqlite3"][0]
    decoded = sizes["archive.sqlite3"][2]
    error = 0.0
    for a, b in zip(sent, decoded, strict=True):
        for name in ("se_attention", "activation"):
            for x, y in zip(a["insight"]["maps"][name], b["insight"]["maps"][name], strict=True):
                error = max(error, max(abs(u - v) for u, v in zip(x, y, strict=True)))
    blocks = len(sent[0]["insight"]["maps"]["se_attention"])
    return {
        "benchmark": "archive",
        "network": label,
        "blocks": blocks,
        "maps_per_move": 2 * blocks + 3,
        "moves": len(sent),
        "json_insight_bytes_per_move": round(sum(len(json.dumps(m["insight"])) for m in sent) / len(sent)),
        "stored_insight_bytes_per_move": round(sizes["archive.sqlite3"][1] / len(sent)),
        "archive_bytes_per_move": round(file_bytes / len(sent)),
        "max_map_error": round(error, 5),
    }


def bench_telemetry(*, updates: int = 12, threads: int | None = None) -> dict:
    """Training samples/s with the live side on (publisher to a loopback sink, showcase game playing)
    and off, alternating runs in one process so machine noise hits both alike."""
    import asyncio
    import socket
    import tempfile
    import threading

    from websockets.asyncio.server import serve

    from trainer.config import load_config
    from trainer.loop import train

    received = {"messages": 0}
    stop = threading.Event()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def sink(ws):
        async for _ in ws:
            received["messages"] += 1

    async def serve_until_stopped():
        async with serve(sink, "127.0.0.1", port):
            while not stop.is_set():
                await asyncio.sleep(0.05)

    server = threading.Thread(target=lambda: asyncio.run(serve_until_stopped()), daemon=True)
    server.start()
    time.sleep(0.3)
    sps: dict[str, list[float]] = {"on": [], "off": []}
    base = [
        f"run.updates={updates}",
        "eval.every_updates=0",
        "checkpoint.every_updates=1000",
        "live.move_interval_s=2.0",
    ]
    if threads:
        base.append(f"run.threads={threads}")
    try:
        for mode in ("off", "on", "off", "on"):
            with tempfile.TemporaryDirectory() as tmp:
                overrides = [*base, f"run.run_dir='{tmp}'"]
                if mode == "on":
                    overrides.append(f"live.server_url='ws://127.0.0.1:{port}/ws/trainer'")
                cfg = load_config(None, overrides)
                start = time.perf_counter()
                result = train(cfg, token="bench")
                sps[mode].append(result.samples / (time.perf_counter() - start))
    finally:
        stop.set()
        server.join(5)
    on, off = sum(sps["on"]) / 2, sum(sps["off"]) / 2
    return {
        "benchmark": "telemetry",
        "updates_per_run": updates,
        "samples_per_s_on": round(on, 1),
        "samples_per_s_off": round(off, 1),
        "ratio": round(on / off, 3),
        "messages_received": received["messages"],
        "runs": {k: [round(v, 1) for v in vs] for k, vs in sps.items()},
    }


def bench_usage(*, repeats: int = 4, threads: int | None = None) -> dict:
    """The buffer-usage breakdown's cost (trainer/usage.py): one PPO update of the default config's
    rollout with the breakdown and without, alternating on the same collected rollout, same process."""
    import torch

    from showcase_core.shogi.actions import N_ACTIONS
    from showcase_core.shogi.features import N_PLANES
    from trainer.compile import ModeCall
    from trainer.config import load_config
    from trainer.loop import default_threads, sampling_actor
    from trainer.model import build_model, model_args_from_config
    from trainer.ppo import PPOSettings, Rollout, ppo_update
    from trainer.selfplay import Collector
    from trainer.usage import BufferUsage

    cfg = load_config(None, [])
    torch.set_num_threads(threads or default_threads())
    torch.manual_seed(0)
    model = build_model(model_args_from_config(cfg.model))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    collector = Collector(
        cfg.env.num_envs,
        max_plies=cfg.env.max_plies,
        gamma=cfg.ppo.gamma,
        material_shaping=cfg.reward.material_shaping,
        random_opponent_envs=cfg.curriculum.random_opponent_envs,
        seed=0,
    )
    steps = cfg.ppo.num_steps
    rollout = Rollout.empty(steps, collector.num_envs, N_PLANES, N_ACTIONS)
    infer, train_fwd = ModeCall(model, model, False), ModeCall(model, model, True)
    with torch.no_grad():
        model.eval()
        collector.collect(rollout, sampling_actor(infer, torch.device("cpu")), lambda o: model.get_value(o))
    adv, ret = rollout.advantages(cfg.ppo.gamma, cfg.ppo.gae_lambda)
    batch = steps * collector.num_envs
    minibatch = min(cfg.ppo.minibatch_size, batch)
    settings = PPOSettings(update_epochs=cfg.ppo.update_epochs, minibatch_size=minibatch)
    model.train()
    times: dict[str, list[float]] = {"with": [], "without": []}
    build_s = []
    for rep in range(repeats + 1):
        for kind in ("without", "with") if rep % 2 == 0 else ("with", "without"):
            t0 = time.perf_counter()
            usage = None
            if kind == "with":
                usage = BufferUsage(rollout, adv, max_plies=cfg.env.max_plies, selfplay_envs=cfg.env.num_envs)
                build_s.append(time.perf_counter() - t0)
            ppo_update(train_fwd, optimizer, list(model.parameters()), rollout, adv, ret, settings,
                       torch.Generator().manual_seed(rep), usage)  # fmt: skip
            if usage is not None:
                usage.metrics()
            if rep:  # the first round is warm-up
                times[kind].append(time.perf_counter() - t0)
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    return {
        "benchmark": "usage",
        "batch": batch,
        "minibatch": minibatch,
        "epochs": cfg.ppo.update_epochs,
        "threads": torch.get_num_threads(),
        "update_ms_without": round(mean["without"] * 1000, 1),
        "update_ms_with": round(mean["with"] * 1000, 1),
        "breakdown_build_ms": round(1000 * sum(build_s[1:]) / max(1, len(build_s) - 1), 2),
        "ratio": round(mean["without"] / mean["with"], 3),
        "runs_ms": {k: [round(x * 1000, 1) for x in v] for k, v in times.items()},
    }


def bench_collect(
    *, workers: list[int], rollouts: int = 4, preset: str = "cpu-small", threads: int | None = None
) -> dict:
    """Collection samples/s of the default config's envs (self-play plus the random-opponent
    curriculum, 16 steps) for each env-worker count (0 = the rules in this process), the network
    acting here; rounds alternate between the counts so a busy moment hurts each alike."""
    import os

    import torch

    from showcase_core.shogi.actions import N_ACTIONS
    from showcase_core.shogi.features import N_PLANES
    from trainer.compile import ModeCall
    from trainer.config import load_config
    from trainer.loop import default_threads, sampling_actor
    from trainer.model import PRESETS, build_model
    from trainer.ppo import Rollout
    from trainer.selfplay import Collector

    cfg = load_config(None, [])
    torch.set_num_threads(threads or default_threads())
    torch.manual_seed(0)
    model = build_model(PRESETS[preset]).eval()
    infer = ModeCall(model, model, False)
    act = sampling_actor(infer, torch.device("cpu"))
    collectors = {
        n: Collector(cfg.env.num_envs, max_plies=cfg.env.max_plies, gamma=cfg.ppo.gamma,
                     material_shaping=cfg.reward.material_shaping, material_cap=cfg.reward.material_cap,
                     cap_is_draw=cfg.reward.cap_is_draw,
                     random_opponent_envs=cfg.curriculum.random_opponent_envs, seed=0, workers=n)
        for n in workers
    }  # fmt: skip
    seconds: dict[int, list[float]] = {n: [] for n in workers}
    try:
        for rep in range(rollouts + 1):
            for n in workers if rep % 2 == 0 else list(reversed(workers)):
                c = collectors[n]
                rollout = Rollout.empty(cfg.ppo.num_steps, c.num_envs, N_PLANES, N_ACTIONS)
                with torch.no_grad():
                    stats = c.collect(rollout, act, lambda o: model.get_value(o))
                if rep:  # the first round is warm-up
                    seconds[n].append(stats.seconds)
    finally:
        for c in collectors.values():
            c.close()
    samples = cfg.ppo.num_steps * collectors[workers[0]].num_envs
    rows = []
    for n in workers:
        sps = [samples / s for s in seconds[n]]
        rows.append(
            {"workers": n, "samples_per_s": round(sum(sps) / len(sps), 1), "runs": [round(x, 1) for x in sps]}
        )
    base = rows[0]["samples_per_s"]
    for row in rows:
        row["vs_first"] = round(row["samples_per_s"] / base, 3)
    return {
        "benchmark": "collect",
        "preset": preset,
        "envs": collectors[workers[0]].num_envs,
        "steps": cfg.ppo.num_steps,
        "threads": torch.get_num_threads(),
        "cpu_cores": os.cpu_count(),
        "rollouts_per_count": rollouts,
        "counts": rows,
    }


def bench_ddp(*, ranks: list[int], updates: int = 6, preset: str = "cpu-small") -> dict:
    """Data-parallel training samples/s for each rank count, each a real `torchrun` of the default
    config (compile off, `run.threads` = cores / ranks, same seed), read from its `metrics.jsonl`:
    the mean of `perf/sps` (global samples per second of collection plus update) after the first update."""
    import os
    import subprocess
    import sys
    import tempfile

    cores = os.cpu_count() or 1
    out: dict = {"benchmark": "ddp", "preset": preset, "updates": updates, "cpu_cores": cores, "runs": []}
    for n in ranks:
        with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
            run_dir = Path(tmp) / "run"
            threads = max(1, cores // n)
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n),
                   "--master-port", str(_free_port()), "-m", "trainer", "train", "--json",
                   "--updates", str(updates), "--run-dir", str(run_dir), "--preset", preset,
                   "--set", "compile.mode='off'", "--set", "eval.every_updates=0",
                   "--set", f"run.threads={threads}", "--set", "checkpoint.every_minutes=0"]  # fmt: skip
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            started = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"torchrun with {n} ranks failed:\n{done.stderr[-2000:]}")
            lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
            sps = [line["perf/sps"] for line in lines[1:]]
            out["runs"].append({
                "ranks": n,
                "threads_per_rank": threads,
                "samples": lines[-1]["perf/samples"],
                "samples_per_update": lines[-1]["perf/samples"] // len(lines),
                "sps_mean": round(sum(sps) / len(sps), 1),
                "sps_each": [round(x, 1) for x in sps],
                "collect_sps_mean": round(sum(x["perf/collect_sps"] for x in lines[1:]) / len(sps), 1),
                "wall_s": round(wall, 1),
            })  # fmt: skip
    base = out["runs"][0]["sps_mean"]
    for run in out["runs"]:
        run["speedup_vs_first"] = round(run["sps_mean"] / base, 3)
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
