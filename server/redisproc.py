"""A private `redis-server` (Debian's `redis-server` package) for `python -m server up --workers N`,
the scale-out tests and the fan-out benchmark: a unix socket in the data directory, nothing on disk
(the stream is live data; the archive is SQLite's)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

INSTALL = "apt-get install redis-server"


def redis_binary() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if Path(p).exists()), None
    )


class RedisProcess:
    """`with RedisProcess(folder) as r: r.url`: started, answering PING, stopped (and reaped) at exit."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.socket = self.folder / "redis.sock"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 10.0) -> RedisProcess:
        binary = redis_binary()
        if binary is None:
            raise FileNotFoundError(f"redis-server is not installed ({INSTALL})")
        self.folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # left by a killed run
        cmd = [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
               "--save", "", "--appendonly", "no", "--dir", str(self.folder),
               "--client-output-buffer-limit", "pubsub 256mb 64mb 60"]  # fmt: skip
        log = (self.folder / "redis.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        import redis

        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"redis-server exited with {code}; see {self.folder}/redis.log")
            try:
                if self.socket.exists() and redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except redis.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"redis-server did not answer within {timeout:.0f} s")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> RedisProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
