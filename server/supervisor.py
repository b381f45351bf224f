"""`python -m server up`: uvicorn plus the trainer as a supervised child process.

With `--workers N` (N > 1) this process is the primary worker and N - 1 viewer workers run as
supervised children on the next ports, all sharing the primary's stream through Redis (a private
`redis-server` on a unix socket in the data directory unless `SHOWCASE_REDIS_URL` names one).

The trainer gets a fresh token per start (through its environment, not its command line), publishes
to this server over loopback, resumes from its last checkpoint whenever it is (re)started, and is
restarted with exponential backoff if it dies. Ctrl-C (or SIGTERM) stops the server and asks the
trainer to stop, which makes it finish its update and save a checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

import uvicorn

from server.app import create_app
from server.config import Settings

log = logging.getLogger("server.supervisor")


def trainer_command(settings: Settings, *, config: str | None, sets: list[str], procs: int = 1) -> list[str]:
    """The trainer's command line; with `procs` > 1 a `torchrun` of that many data-parallel ranks on
    this machine (each collects its share of the envs: the cores do the collecting together)."""
    launcher = [sys.executable]
    if procs > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(procs)]
    cmd = [
        *launcher,
        "-m",
        "trainer",
        "train",
        "--server",
        f"ws://127.0.0.1:{settings.port}/ws/trainer",
        "--run-dir",
        str(settings.data_dir / "run"),
        "--resume",
        "--json",  # no progress bar in the log file; a summary line when it stops
    ]
    if config:
        cmd += ["--config", config]
    for item in sets:
        cmd += ["--set", item]
    return cmd


def viewer_worker_command(settings: Settings, port: int) -> list[str]:
    data = str(settings.data_dir)
    return [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", data]


class ChildProcess:
    """Start, watch and restart a child (the trainer, a viewer worker); `stop()` asks it to finish."""

    def __init__(
        self, cmd: list[str], env: dict[str, str], log_path: Path, *, name: str, backoff_max: float = 60.0
    ):
        self.cmd = cmd
        self.env = env
        self.name = name
        self.log_path = log_path
        self.backoff_max = backoff_max
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._stopping = False

    async def run(self) -> None:
        delay = 1.0
        while not self._stopping:
            started = time.monotonic()
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("ab") as logfile:
                self.proc = await asyncio.create_subprocess_exec(
                    *self.cmd, stdout=logfile, stderr=logfile, env={**os.environ, **self.env},
                    start_new_session=True,
                )  # fmt: skip
            self.starts += 1
            log.info(
                "%s started (pid %d, start %d); log: %s", self.name, self.proc.pid, self.starts, self.log_path
            )
            code = await self.proc.wait()
            if self._stopping:
                return
            if time.monotonic() - started > 60:
                delay = 1.0  # it ran for a while: this is a fresh failure, not a crash loop
            log.warning("%s exited with code %s; restarting in %.0f s", self.name, code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def stop(self, timeout: float = 60.0) -> None:
        self._stopping = True
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            log.error("%s did not stop within %.0f s; killing it", self.name, timeout)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def up(
    settings: Settings,
    *,
    with_trainer: bool,
    config: str | None,
    sets: list[str],
    workers: int = 1,
    trainer_procs: int = 1,
) -> None:
    """Serve until interrupted, supervising the trainer unless `with_trainer` is False, and `workers - 1`
    viewer workers sharing this process's stream through Redis."""
    if with_trainer and not settings.trainer_token:
        settings = settings.model_copy(update={"trainer_token": secrets.token_urlsafe(24)})
    redis = None
    if workers > 1 and not settings.redis_url:
        from server.redisproc import RedisProcess

        redis = await asyncio.to_thread(RedisProcess(settings.data_dir / "redis").start)
        log.info("redis-server started for %d workers: %s", workers, redis.url)
        settings = settings.model_copy(update={"redis_url": redis.url})
    children: list[ChildProcess] = []
    primary_url = f"http://{settings.host}:{settings.port}"
    for i in range(1, workers):
        port = settings.port + i
        name = f"viewer-{i}"
        env = {"SHOWCASE_ROLE": "viewer", "SHOWCASE_REDIS_URL": settings.redis_url,
               "SHOWCASE_PRIMARY_URL": primary_url, "SHOWCASE_HOST": settings.host,
               "SHOWCASE_REDIS_PREFIX": settings.redis_prefix, "SHOWCASE_WORKER_NAME": name}  # fmt: skip
        cmd = viewer_worker_command(settings, port)
        children.append(ChildProcess(cmd, env, settings.data_dir / f"{name}.log", name=name))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="info",
            ws_ping_interval=1.0,  # a dead link is noticed within about two seconds
            ws_ping_timeout=2.0,
            # Compressing every frame for every viewer cost more CPU than the whole fan-out; moves
            # are a few kB and travel mostly over loopback or a LAN to OBS.
            ws_per_message_deflate=False,
        )
    )
    if with_trainer:
        cmd = trainer_command(settings, config=config, sets=sets, procs=trainer_procs)
        env = {"SHOWCASE_TRAINER_TOKEN": settings.trainer_token}  # not on its command line
        children.append(ChildProcess(cmd, env, settings.data_dir / "trainer.log", name="trainer"))

    async def start_when_listening():
        while not server.started:
            await asyncio.sleep(0.05)
        if workers > 1:
            log.info("viewer workers on ports %d-%d (this one, %d, is the primary)",
                     settings.port + 1, settings.port + workers - 1, settings.port)  # fmt: skip
        await asyncio.gather(*(child.run() for child in children))

    task = asyncio.create_task(start_when_listening()) if children else None
    # uvicorn catches SIGINT/SIGTERM while serving, then restores the handlers it found and re-raises
    # the signal. With quiet handlers in place that re-raise does nothing, so the trainer is still
    # stopped cleanly below instead of the process dying mid-shutdown.
    quiet = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        await server.serve()
    finally:
        await asyncio.gather(*(child.stop() for child in children))
        if redis is not None:
            await asyncio.to_thread(redis.stop)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sig, handler in quiet.items():
            signal.signal(sig, handler)
