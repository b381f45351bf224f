"""`python -m trainer ...`: the trainer's command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description="Shogi Showcase trainer")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="benchmarks that print their figures")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    env = bench_sub.add_parser("env", help="VecEnv steps/s against raw cshogi random playouts, same process")
    env.add_argument("--seconds", type=float, default=10.0, help="time for each of the two phases")
    env.add_argument("--envs", type=int, default=64, help="number of games the VecEnv steps together")
    env.add_argument("--max-plies", type=int, default=512, help="ply cap for both phases")
    env.add_argument("--json", action="store_true", help="print one JSON object")

    demo = sub.add_parser("demo", help="play one game between random movers and print it with notation")
    demo.add_argument("--seed", type=int, default=None)
    demo.add_argument("--max-plies", type=int, default=512)
    demo.add_argument("--format", choices=["text", "kif", "csa"], default="text")

    args = parser.parse_args(argv)
    if args.command == "bench" and args.target == "env":
        from trainer.bench import bench_env, print_result

        if args.seconds <= 0 or args.envs < 1:
            parser.error("--seconds must be positive and --envs at least 1")
        print_result(bench_env(args.seconds, args.envs, args.max_plies), args.json)
        return 0
    if args.command == "demo":
        from trainer.demo import run_demo

        return run_demo(seed=args.seed, max_plies=args.max_plies, fmt=args.format)
    parser.error("unknown command")
    return 2


if __name__ == "__main__":
    sys.exit(main())
