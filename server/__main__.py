"""`python -m server up|serve|backup|bench`: the whole showcase (server + supervised trainer), the server
alone, an online copy of the archive, or a benchmark."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sqlite3
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="Shogi Showcase server")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser(
        "up", help="serve and run the trainer as a supervised child (the README's run command)"
    )
    serve = sub.add_parser("serve", help="serve only; a trainer elsewhere connects with the configured token")
    for p in (up, serve):
        p.add_argument("--host", help="bind address (default 127.0.0.1; env SHOWCASE_HOST)")
        p.add_argument("--port", type=int, help="port (default 8000; env SHOWCASE_PORT)")
        p.add_argument(
            "--data-dir", help="SQLite, tokens, trainer run (default ./data; env SHOWCASE_DATA_DIR)"
        )
        p.add_argument(
            "--redis-url", help="share the stream through this Redis (env SHOWCASE_REDIS_URL; see --workers)"
        )
    up.add_argument("--no-trainer", action="store_true", help="serve pages and replays only")
    up.add_argument(
        "--workers",
        type=int,
        default=1,
        help="web workers: this one (the primary) plus N-1 viewer workers on the next ports, sharing one"
        " stream through Redis (a private redis-server unless --redis-url is given)",
    )
    up.add_argument(
        "--trainer-procs",
        type=int,
        default=1,
        help="train with N data-parallel processes (torchrun on this machine): collection on N cores",
    )
    serve.add_argument(
        "--role",
        choices=("primary", "viewer"),
        help="primary (default): trainer link, polls, control, archive writes; viewer: relays the"
        " primary's stream from --redis-url to its viewers (env SHOWCASE_ROLE)",
    )
    back = sub.add_parser(
        "backup", help="copy the archive to a file while the server runs (SQLite's backup API)"
    )
    back.add_argument("target", help="the copy to write, e.g. backups/showcase-2026-12-02.sqlite3")
    back.add_argument(
        "--data-dir", help="the server's data directory (default ./data; env SHOWCASE_DATA_DIR)"
    )
    login = sub.add_parser(
        "twitch-login",
        help="log the bot account in to Twitch (device code) for SHOWCASE_TWITCH_CHAT=eventsub",
    )
    login.add_argument("--data-dir", help="where the token is stored (default ./data; env SHOWCASE_DATA_DIR)")
    bench = sub.add_parser("bench", help="benchmarks that print their figures")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    fan = bench_sub.add_parser(
        "fanout", help="viewers' delivery latency under a move stream, with a slow viewer"
    )
    fan.add_argument("--clients", type=int, default=500)
    fan.add_argument("--rate", type=float, default=20.0, help="move messages per second")
    fan.add_argument(
        "--seconds", type=float, default=10.0, help="per phase (without, then with the slow viewer)"
    )
    fan.add_argument("--json", action="store_true")
    ovl = bench_sub.add_parser(
        "overlay",
        help="/overlay in headless Chromium under a move and metrics stream: main-thread time, heap",
    )
    ovl.add_argument("--moves", type=int, default=5000, help="move messages (legal moves of random games)")
    ovl.add_argument("--metrics", type=int, default=5000, help="metrics messages, interleaved with the moves")
    ovl.add_argument("--rate", type=float, default=200.0, help="move and metrics messages per second")
    ovl.add_argument(
        "--blocks",
        type=int,
        default=9,
        help="residual blocks, one insight map each (9 production, 3 cpu-small)",
    )
    ovl.add_argument(
        "--profile", action="store_true", help="add the page's top functions by self time (slows the page)"
    )
    ovl.add_argument("--json", action="store_true")
    soak = bench_sub.add_parser(
        "soak", help="a whole stream compressed: trainer kills, server restarts, chat flood, viewers churning"
    )
    soak.add_argument("--hours", type=float, default=8.0, help="stream hours to simulate")
    soak.add_argument("--compression", type=float, default=24.0, help="stream seconds per wall second")
    soak.add_argument(
        "--kill-every-min", type=float, default=60.0, help="SIGKILL the trainer this often (stream)"
    )
    soak.add_argument("--viewers", type=int, default=20, help="viewers joining and leaving at once")
    soak.add_argument("--json", action="store_true")
    ana = bench_sub.add_parser(
        "analysis", help="live engine analysis lag behind the showcase while the trainer trains (make run)"
    )
    ana.add_argument("--interval", type=float, default=2.0, help="showcase seconds per move")
    ana.add_argument("--moves", type=int, default=80, help="showcase moves to time")
    ana.add_argument("--json", action="store_true")
    sco = bench_sub.add_parser(
        "scaleout", help="fan-out to many viewers: one web worker against N workers on Redis, same run"
    )
    sco.add_argument("--viewers", type=int, default=2000)
    sco.add_argument("--workers", type=int, default=4, help="web workers in the second configuration")
    sco.add_argument("--client-procs", type=int, default=4, help="processes the viewers are spread over")
    sco.add_argument("--rate", type=float, default=20.0, help="move messages per second")
    sco.add_argument("--seconds", type=float, default=10.0)
    sco.add_argument("--json", action="store_true")
    cht = bench_sub.add_parser(
        "chat",
        help="chat at a big channel's rate through the loopback Twitch IRC: votes counted, tally latency",
    )
    cht.add_argument("--rates", default="100,300,1000", help="chat lines per second, one round each")
    cht.add_argument("--seconds", type=float, default=10.0, help="per round")
    cht.add_argument("--users", type=int, default=5000, help="accounts chatting in each round")
    cht.add_argument("--json", action="store_true")
    up.add_argument("--trainer-config", help="TOML config for the trainer")
    up.add_argument("--trainer-set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = parser.parse_args(argv)

    if args.command == "bench" and args.target == "overlay":
        from server.bench_overlay import bench_overlay

        if args.moves < 1 or args.metrics < 0 or args.rate <= 0 or args.blocks < 0:
            parser.error("--moves and --rate must be positive, --metrics and --blocks not negative")
        result = bench_overlay(args.moves, args.metrics, args.rate, blocks=args.blocks, profile=args.profile)
        print(json.dumps(result) if args.json else "\n".join(f"{k:32s} {v}" for k, v in result.items()))
        return 0
    if args.command == "bench" and args.target == "soak":
        from server.bench_soak import bench_soak

        result = bench_soak(args.hours, args.compression, args.kill_every_min, args.viewers)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    if args.command == "bench" and args.target == "scaleout":
        from server.bench_scaleout import bench_scaleout

        if min(args.viewers, args.workers - 1, args.client_procs) < 1 or args.rate <= 0 or args.seconds <= 0:
            parser.error("--viewers, --client-procs and --rate must be positive, --workers at least 2")
        result = bench_scaleout(args.viewers, args.workers, args.client_procs, args.rate, args.seconds)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    if args.command == "bench" and args.target == "chat":
        from server.bench_chat import bench_chat

        try:
            rates = [float(x) for x in args.rates.split(",")]
        except ValueError:
            parser.error("--rates takes comma-separated numbers, e.g. 100,300,1000")
        if min(rates) <= 0 or args.seconds <= 0 or args.users < 1:
            parser.error("--rates, --seconds and --users must be positive")
        result = bench_chat(rates, args.seconds, args.users)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
        return 0
    if args.command == "bench" and args.target == "analysis":
        from server.bench_analysis import bench_analysis

        if args.interval <= 0 or args.moves < 1:
            parser.error("--interval and --moves must be positive")
        result = bench_analysis(args.interval, args.moves)
        print(json.dumps(result) if args.json else "\n".join(f"{k:32s} {v}" for k, v in result.items()))
        return 0
    if args.command == "backup":
        from server.config import Settings
        from server.retention import backup

        settings = Settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
        try:
            result = backup(settings.db_path, args.target)
        except (OSError, sqlite3.Error) as exc:
            print(f"error: backup failed: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(result))
        return 0
    if args.command == "twitch-login":
        return asyncio.run(_twitch_login(args.data_dir))
    if args.command == "bench":
        from server.bench import bench_fanout

        if args.clients < 1 or args.rate <= 0 or args.seconds <= 0:
            parser.error("--clients, --rate and --seconds must be positive")
        result = bench_fanout(args.clients, args.rate, args.seconds)
        print(json.dumps(result) if args.json else "\n".join(f"{k:32s} {v}" for k, v in result.items()))
        return 0

    from pydantic import ValidationError

    from server.config import Settings

    flags = {"host": args.host, "port": args.port, "data_dir": args.data_dir, "redis_url": args.redis_url,
             "role": getattr(args, "role", None)}  # fmt: skip
    workers = getattr(args, "workers", 1)
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    if not 1 <= getattr(args, "trainer_procs", 1) <= 64:
        print("error: --trainer-procs must be 1-64", file=sys.stderr)
        return 2
    if not 1 <= workers <= 64 or settings.port + workers - 1 > 65535:
        print("error: --workers must be 1-64, and the ports after --port must exist", file=sys.stderr)
        return 2
    if settings.role == "viewer" and not settings.redis_url:
        print("error: a viewer worker needs --redis-url (the primary's Redis)", file=sys.stderr)
        return 2
    if workers > 1 and not settings.redis_url:
        from server.redisproc import INSTALL, redis_binary

        if redis_binary() is None:
            print(f"error: --workers {workers} needs redis-server ({INSTALL}) or --redis-url",
                  file=sys.stderr)  # fmt: skip
            return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from server.supervisor import up as run_up

    with_trainer = args.command == "up" and not args.no_trainer
    if args.command == "serve" and settings.role == "primary" and not settings.trainer_token:
        logging.getLogger("server").warning("no SHOWCASE_TRAINER_TOKEN set: no trainer can connect")
    asyncio.run(
        run_up(
            settings,
            with_trainer=with_trainer,
            config=getattr(args, "trainer_config", None),
            sets=getattr(args, "trainer_set", []),
            workers=workers,
            trainer_procs=getattr(args, "trainer_procs", 1),
        )
    )
    return 0


async def _twitch_login(data_dir: str | None) -> int:
    import httpx

    from server.chat.eventsub import TwitchAuth, TwitchAuthError
    from server.config import Settings

    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    if not settings.twitch_client_id:
        print("error: set SHOWCASE_TWITCH_CLIENT_ID to your application's public client id", file=sys.stderr)
        return 2

    def show(code: str, uri: str, expires_in: float) -> None:
        print(
            f"Open {uri} as the bot account and enter the code {code} (valid {expires_in / 60:.0f} minutes)."
        )
        print("Waiting for Twitch ...", flush=True)

    async with httpx.AsyncClient(timeout=15) as http:
        auth = TwitchAuth(
            settings.twitch_client_id, settings.twitch_token_path, id_url=settings.twitch_id_url, http=http
        )
        try:
            token = await auth.device_flow(show)
        except (TwitchAuthError, httpx.HTTPError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"Logged in as {token.login}; the token is in {settings.twitch_token_path} (mode 0600).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
