"""CPU and memory of this process, for the status strip (torch-free: the server and the trainer both
use it; the trainer adds its GPU's counters, see `trainer.live.gpu_stats`).

CPU is the process's own time (user + system, all threads) over the wall time since the previous
measured sample (at least `min_interval_s` before; a sooner one repeats the last figure), in percent
of one core: a trainer busy on two cores reads about 200. Memory is the resident
set. Both come from psutil, which reads them from the operating system (Linux, macOS, Windows).
"""

from __future__ import annotations

import os
import time

import psutil


class ProcessStats:
    """Samples one process (this one by default); the first `sample()` has no CPU figure yet."""

    def __init__(self, pid: int | None = None, *, min_interval_s: float = 1.0):
        self._proc = psutil.Process(pid or os.getpid())
        self._last: tuple[float, float] | None = None
        self._percent: float | None = None
        # CPU times tick in 10 ms steps: a figure over a few ms would read 0% or 1000%, so a sample
        # sooner than this after the last measured one repeats that figure.
        self.min_interval_s = min_interval_s

    def sample(self) -> dict[str, float | int | None]:
        try:
            times = self._proc.cpu_times()
            rss = self._proc.memory_info().rss
        except (psutil.Error, OSError):
            return {"cpu_percent": None, "rss_mb": None, "cores": psutil.cpu_count() or 1}
        now, cpu = time.monotonic(), times.user + times.system
        if self._last is None:
            self._last = (now, cpu)
        elif now - self._last[0] >= self.min_interval_s:
            self._percent = round(100.0 * (cpu - self._last[1]) / (now - self._last[0]), 1)
            self._last = (now, cpu)
        return {
            "cpu_percent": self._percent,
            "rss_mb": round(rss / 2**20, 1),
            "cores": psutil.cpu_count() or 1,
        }
