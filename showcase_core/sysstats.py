"""CPU and memory of this process, for the status strip (torch-free: the server and the trainer both
use it; the trainer adds its GPU's counters, see `trainer.live.gpu_stats`).

CPU is the process's own time (user + system, all threads) over the wall time since the previous
sample, in percent of one core: a trainer busy on two cores reads about 200. Memory is the resident
set. Both come from psutil, which reads them from the operating system (Linux, macOS, Windows).
"""

from __future__ import annotations

import os
import time

import psutil


class ProcessStats:
    """Samples one process (this one by default); the first `sample()` has no CPU figure yet."""

    def __init__(self, pid: int | None = None):
        self._proc = psutil.Process(pid or os.getpid())
        self._last: tuple[float, float] | None = None

    def sample(self) -> dict[str, float | int | None]:
        try:
            times = self._proc.cpu_times()
            rss = self._proc.memory_info().rss
        except (psutil.Error, OSError):
            return {"cpu_percent": None, "rss_mb": None, "cores": psutil.cpu_count() or 1}
        now, cpu = time.monotonic(), times.user + times.system
        percent = None
        if self._last is not None and now > self._last[0]:
            percent = round(100.0 * (cpu - self._last[1]) / (now - self._last[0]), 1)
        self._last = (now, cpu)
        return {"cpu_percent": percent, "rss_mb": round(rss / 2**20, 1), "cores": psutil.cpu_count() or 1}
