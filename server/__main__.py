"""`python -m server serve`: run the web server (uvicorn) alone. `up` (server + supervised trainer)
arrives with the rest of issue 5."""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="Shogi Showcase server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the feed and replays (a trainer connects with its token)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    args = parser.parse_args(argv)

    import uvicorn
    from pydantic import ValidationError

    from server.app import create_app
    from server.config import Settings

    flags = {"host": args.host, "port": args.port, "data_dir": args.data_dir}
    overrides = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
