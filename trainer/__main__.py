"""`python -m trainer ...`: the trainer's command line (train, eval, bench, demo)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="self-play PPO; progress on stderr, checkpoints under the run dir")
    p.add_argument("--preset", choices=["cpu-small", "production"], help="model preset (default: by machine)")
    p.add_argument("--config", help="TOML config file (see docs/config.md)")
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--updates", type=int, help="stop after this many PPO updates")
    p.add_argument(
        "--run-dir", help="where checkpoints, metrics.jsonl and run.json go (default runs/default)"
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch threads (default: cores - 1)")
    p.add_argument("--compile", dest="compile_mode", help="off, default, reduce-overhead or max-autotune")
    p.add_argument("--resume", action="store_true", help="continue from <run-dir>/checkpoints/latest.pt")
    p.add_argument(
        "--server", help="publish to this ws://.../ws/trainer (token from $SHOWCASE_TRAINER_TOKEN)"
    )
    p.add_argument("--token", help="trainer token (prefer the environment variable: argv is visible to ps)")
    p.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="any config field"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="a checkpoint against random, greedy and earlier checkpoints")
    p.add_argument("checkpoint")
    p.add_argument("--games", type=int, default=200)
    p.add_argument("--max-plies", type=int, default=512, help="game cap (the rules default is 512)")
    p.add_argument("--against", action="append", default=[], help="an earlier checkpoint (repeatable)")
    p.add_argument(
        "--opponents",
        default="random,greedy",
        help="scripted opponents or ladder rungs (e.g. fsf-n1), comma-separated",
    )
    p.add_argument(
        "--ladder", action="store_true", help="also every installed engine rung; report the ladder Elo"
    )
    p.add_argument("--probe", type=int, default=0, help="engine-judged accuracy on this many probe positions")
    p.add_argument("--engine-games", type=int, help="games per engine rung (default: --games)")
    p.add_argument("--temperature", type=float, default=0.0, help="agent sampling temperature; 0 = argmax")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--records", help="write every game (USI moves, result) to this JSON-lines file")
    p.add_argument("--json", action="store_true")


def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="benchmarks that print their figures")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    env = bench_sub.add_parser("env", help="VecEnv steps/s against raw cshogi random playouts, same process")
    env.add_argument("--seconds", type=float, default=10.0, help="time for each of the two phases")
    env.add_argument("--envs", type=int, default=64, help="number of games the VecEnv steps together")
    env.add_argument("--max-plies", type=int, default=512, help="ply cap for both phases")
    env.add_argument(
        "--baseline", help="a worktree of an earlier commit: its VecEnv against this one, in turn, 3 rounds"
    )
    env.add_argument("--json", action="store_true", help="print one JSON object")
    learn = bench_sub.add_parser(
        "learn", help="train for N minutes, then score 200 games (the learning benchmark)"
    )
    learn.add_argument("--config", default="configs/cpu-small-30min.toml")
    learn.add_argument("--minutes", type=float, help="override the config's run.minutes")
    learn.add_argument("--games", type=int, default=200)
    learn.add_argument("--run-dir", help="override the config's run.run_dir")
    learn.add_argument("--fresh", action="store_true", help="delete the run dir first")
    learn.add_argument(
        "--snapshot-every",
        type=float,
        default=0.0,
        help="also keep minute_<M>.pt every M minutes (the curve)",
    )
    learn.add_argument(
        "--score-at",
        type=float,
        action="append",
        default=[],
        help="also score the minute_<M>.pt snapshot like the final one (repeatable), e.g. 30 in a 2-hour run",
    )
    learn.add_argument(
        "--engine-games", type=int, default=40, help="games per engine rung in the final scoring"
    )
    learn.add_argument("--json", action="store_true")
    ins = bench_sub.add_parser("insight", help="per-move insight cost as a ratio to a plain forward pass")
    ins.add_argument("--presets", default="cpu-small,production")
    ins.add_argument("--positions", type=int, default=16)
    ins.add_argument("--threads", type=int)
    ins.add_argument("--json", action="store_true")
    arc = bench_sub.add_parser("archive", help="archive bytes per showcase move with every insight map")
    arc.add_argument("--preset", default="production", help="network preset (untrained weights)")
    arc.add_argument("--checkpoint", help="a checkpoint instead of the preset (trained maps)")
    arc.add_argument("--moves", type=int, default=120)
    arc.add_argument("--threads", type=int)
    arc.add_argument("--json", action="store_true")
    tel = bench_sub.add_parser("telemetry", help="training samples/s with publishing on and off")
    tel.add_argument("--updates", type=int, default=12)
    tel.add_argument("--threads", type=int)
    tel.add_argument("--json", action="store_true")
    use = bench_sub.add_parser("usage", help="one PPO update with the buffer-usage breakdown and without")
    use.add_argument("--repeats", type=int, default=4)
    use.add_argument("--threads", type=int)
    use.add_argument("--json", action="store_true")
    col = bench_sub.add_parser("collect", help="collection samples/s with 0, 1, 2, ... env worker processes")
    col.add_argument("--workers", default="0,1,2", help="comma-separated worker counts, e.g. 0,2")
    col.add_argument("--rollouts", type=int, default=4, help="rollouts per count after a warm-up one")
    col.add_argument("--preset", default="cpu-small")
    col.add_argument("--threads", type=int)
    col.add_argument("--json", action="store_true")
    ddp = bench_sub.add_parser("ddp", help="data-parallel training samples/s for 1, 2, ... ranks (torchrun)")
    ddp.add_argument("--ranks", default="1,2", help="comma-separated rank counts, e.g. 1,2")
    ddp.add_argument("--updates", type=int, default=6)
    ddp.add_argument("--preset", default="cpu-small")
    ddp.add_argument("--json", action="store_true")
    bench_sub.add_parser("book", help="regenerate the shipped opening book and probe positions (needs FSF)")
    lad = bench_sub.add_parser("ladder", help="calibrate the engine ladder: round robin, Elo with random = 0")
    lad.add_argument(
        "--lines", type=int, default=10, help="book lines per pair (each played with both colours)"
    )
    lad.add_argument("--write", action="store_true", help="write showcase_core/engines/ladder.json")
    lad.add_argument(
        "--fit-only", action="store_true", help="refit only the winning-chance model of the table"
    )
    lad.add_argument("--drop", action="append", default=[], help="drop a rung, refit the rest from the table")
    lad.add_argument("--json", action="store_true")
    tr = bench_sub.add_parser("train", help="collection and update samples/s per preset, eager and compiled")
    tr.add_argument("--presets", default="cpu-small,production")
    tr.add_argument("--envs", type=int, default=64)
    tr.add_argument("--steps", type=int, default=8, help="rollout steps per measurement")
    tr.add_argument("--minibatch", type=int, default=256)
    tr.add_argument("--repeats", type=int, default=2, help="timed repeats after one warm-up")
    tr.add_argument("--no-compile", action="store_true", help="eager only")
    tr.add_argument("--threads", type=int)
    tr.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="Shogi Showcase trainer")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_eval(sub)
    _add_bench(sub)
    proto = sub.add_parser("protocol", help="the wire protocol")
    proto.add_argument("--schema", action="store_true", help="print the JSON Schema of every message")
    demo = sub.add_parser("demo", help="play one game between random movers and print it with notation")
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument("--max-plies", type=int, default=512)
    demo.add_argument("--format", choices=["text", "kif", "csa"], default="text")
    demo.add_argument("--checkpoint", help="let this checkpoint's network play both sides")
    tl = sub.add_parser(
        "timelapse", help="analyse the shipped positions with every kept checkpoint of a run (its timelapse/)"
    )
    tl.add_argument("run_dir")
    args = parser.parse_args(argv)

    if args.command == "bench" and args.target == "env":
        from trainer.bench import bench_env, print_result

        if args.seconds <= 0 or args.envs < 1:
            parser.error("--seconds must be positive and --envs at least 1")
        if args.baseline:
            from trainer.bench import bench_env_against

            print_result(bench_env_against(args.baseline, seconds=args.seconds, envs=args.envs), args.json)
            return 0
        print_result(bench_env(args.seconds, args.envs, args.max_plies), args.json)
        return 0
    if args.command == "bench" and args.target == "learn":
        from trainer.bench import bench_learn, print_result

        result = bench_learn(
            args.config,
            minutes=args.minutes,
            games=args.games,
            run_dir=args.run_dir,
            fresh=args.fresh,
            snapshot_every=args.snapshot_every,
            score_at=args.score_at,
            engine_games=args.engine_games,
        )
        print_result(result, args.json)
        return 0
    if args.command == "bench" and args.target == "insight":
        from trainer.bench import bench_insight, print_result

        presets = [p for p in args.presets.split(",") if p]
        print_result(bench_insight(presets, positions=args.positions, threads=args.threads), args.json)
        return 0
    if args.command == "bench" and args.target == "archive":
        from trainer.bench import bench_archive, print_result

        result = bench_archive(
            preset=args.preset, checkpoint=args.checkpoint, moves=args.moves, threads=args.threads
        )
        print_result(result, args.json)
        return 0
    if args.command == "bench" and args.target == "telemetry":
        from trainer.bench import bench_telemetry, print_result

        print_result(bench_telemetry(updates=args.updates, threads=args.threads), args.json)
        return 0
    if args.command == "bench" and args.target == "usage":
        from trainer.bench import bench_usage, print_result

        print_result(bench_usage(repeats=args.repeats, threads=args.threads), args.json)
        return 0
    if args.command == "bench" and args.target == "collect":
        from trainer.bench import bench_collect, print_result

        try:
            counts = [int(x) for x in args.workers.split(",")]
        except ValueError:
            parser.error("--workers takes comma-separated numbers, e.g. 0,2")
        result = bench_collect(
            workers=counts, rollouts=args.rollouts, preset=args.preset, threads=args.threads
        )
        print_result(result, args.json)
        return 0
    if args.command == "bench" and args.target == "ddp":
        from trainer.bench import bench_ddp, print_result

        try:
            ranks = [int(x) for x in args.ranks.split(",")]
        except ValueError:
            parser.error("--ranks takes comma-separated numbers, e.g. 1,2")
        if min(ranks) < 1 or args.updates < 2:
            parser.error("--ranks must be positive and --updates at least 2 (the first is a warm-up)")
        print_result(bench_ddp(ranks=ranks, updates=args.updates, preset=args.preset), args.json)
        return 0
    if args.command == "bench" and args.target in ("book", "ladder"):
        from trainer.bench_ladder import run_book, run_calibration

        def say(text: str) -> None:
            print(text, file=sys.stderr, flush=True)

        if args.target == "book":
            print(json.dumps(run_book(say)))
            return 0
        table = run_calibration(
            lines_per_pair=args.lines, write=args.write, progress=say, fit_only=args.fit_only, drop=args.drop
        )
        if args.json:
            print(json.dumps(table, indent=1))
        else:
            for r in table["rungs"]:
                print(f"{r['name']:>18}  Elo {r['elo']:7.1f} +- {r['error']:5.1f}  ({r['games']} games)")
            wm = table["win_model"]
            if wm:
                print(f"win model: k = {wm['k']:.6f} +- {wm['k_error']:.6f} from {wm['positions']} positions")
        return 0
    if args.command == "bench" and args.target == "train":
        from trainer.bench import bench_train, print_result

        presets = [p for p in args.presets.split(",") if p]
        result = bench_train(
            presets,
            envs=args.envs,
            steps=args.steps,
            minibatch=args.minibatch,
            repeats=args.repeats,
            compile_too=not args.no_compile,
            threads=args.threads,
        )
        print_result(result, args.json)
        return 0
    if args.command == "train":
        return _train(parser, args)
    if args.command == "eval":
        from trainer.evaluate import evaluate_checkpoint

        if args.games < 1:
            parser.error("--games must be at least 1")
        result = evaluate_checkpoint(
            args.checkpoint,
            games=args.games,
            max_plies=args.max_plies,
            opponents=[o for o in args.opponents.split(",") if o],
            against=args.against,
            seed=args.seed,
            threads=args.threads,
            records_path=args.records,
            temperature=args.temperature,
            ladder=args.ladder,
            probe_positions=args.probe,
            engine_games=args.engine_games,
        )
        if args.json:
            print(json.dumps(result))
        else:
            for name, match in result["matches"].items():
                print(
                    f"vs {name:24s} score {match['score']:.3f}  W/D/L {match['wins']}/{match['draws']}/"
                    f"{match['losses']}  Elo {match['elo_diff']:+.0f}  mean plies {match['mean_length']:.0f}"
                )
            lad = result["ladder"]
            if lad["elo"] is not None:
                print(f"ladder Elo {lad['elo']:.0f} +- {lad['error']:.0f} (random = 0)")
            if lad.get("accuracy") is not None:
                n = lad["probe_positions"]
                print(f"accuracy {lad['accuracy']:.1f}  mean loss {lad['move_loss']:.1f}  ({n} positions)")
            if lad["status"]:
                print(lad["status"])
        return 0
    if args.command == "protocol":
        from showcase_core.protocol import PAYLOADS, PROTOCOL_VERSION, json_schema

        if args.schema:
            print(json.dumps(json_schema(), indent=2, ensure_ascii=False))
        else:
            print(f"protocol v{PROTOCOL_VERSION}: " + ", ".join(PAYLOADS))
        return 0
    if args.command == "timelapse":
        from trainer.timelapse import from_run_dir

        run_dir = Path(args.run_dir)
        if not (run_dir / "checkpoints").is_dir():
            parser.error(f"{run_dir} has no checkpoints/ (a run directory of `python -m trainer train`)")
        for path in from_run_dir(run_dir):
            print(path)
        return 0
    if args.command == "demo":
        from trainer.demo import run_demo

        return run_demo(seed=args.seed, max_plies=args.max_plies, fmt=args.format, checkpoint=args.checkpoint)
    parser.error("unknown command")
    return 2


def _train(parser, args) -> int:
    from trainer.checkpoint import CheckpointError
    from trainer.config import ConfigError, load_config
    from trainer.loop import train

    try:
        cfg = load_config(
            args.config,
            args.set,
            model__preset=args.preset,
            run__minutes=args.minutes,
            run__updates=args.updates,
            run__run_dir=args.run_dir,
            run__seed=args.seed,
            run__threads=args.threads,
            compile__mode=args.compile_mode,
            live__server_url=args.server,
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = train(cfg, resume=args.resume, progress=not args.json, token=args.token)
    except CheckpointError as exc:
        print(f"error: cannot resume: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:  # e.g. run.device asks for CUDA on a machine without it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun rank 0 speaks for the run
    summary = {
        "run_dir": result.run_dir,
        "updates": result.updates,
        "samples": result.samples,
        "seconds": round(result.seconds, 1),
        "stopped_by": result.stopped_by,
        "checkpoint": result.checkpoint,
        "compile": result.compile_status,
        "last_metrics": {k: v for k, v in result.last_metrics.items() if not k.startswith("adv/hist")},
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"stopped ({result.stopped_by}) after {result.updates} updates, {result.samples} samples; "
            f"checkpoint {result.checkpoint}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
