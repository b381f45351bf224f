"""Environment workers: the rules of the self-play and scripted-opponent envs in processes of their
own (`env.workers`), so collection uses the cores it is given while the network acts in the trainer.

Each worker holds a slice of every such group of envs (self-play, against the random mover, against
the greedy mover), so the groups keep their order and their meaning: the Collector sees one group of
each kind, as without workers. A step is one round trip: the trainer sends every worker its slice of
the actions, each worker plays them (and, in the opponent groups, the opponent's replies) and writes
the new observations and legal-move masks straight into one shared-memory block laid out in the
Collector's observation order; what else a step returns (rewards, ends, finished games, the terminal
observation of the envs that ended) is small and comes back through the pipe. Envs against a past
self (the pool) need the network, so they stay in the trainer and step while the workers do.

This module does not import torch: a worker is a fresh (spawned) interpreter that imports only the
rules. A worker that dies or fails is an error naming it and its exit code, never a hang.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import threading
from dataclasses import dataclass, field, replace
from multiprocessing import shared_memory

import numpy as np

from showcase_core.shogi.actions import N_ACTIONS
from showcase_core.shogi.features import N_PLANES
from showcase_core.shogi.opponents import OpponentEnv, greedy_mover_for, random_mover
from showcase_core.shogi.vecenv import VecEnv

KINDS = ("self", "random", "greedy")
OBS_SHAPE = (N_PLANES, 9, 9)
START_TIMEOUT_S = 120.0


@dataclass
class GroupStep:
    """One group's step, as the Collector reads it from a VecEnv (self-play) or an OpponentEnv."""

    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    next_sign: np.ndarray
    episodes: list = field(default_factory=list)  # Episode (self-play) or (Episode, agent colour)
    alt: list[bool] = field(default_factory=list)


@dataclass
class GameView:
    """What the thumbnails and the GAE trace read of a game in a worker."""

    _sfen: str
    ply: int
    moves: list[int]  # the last move only (or none)
    is_over: bool
    initial_sfen: str

    def sfen(self) -> str:
        return self._sfen


def split(n: int, k: int) -> list[int]:
    """`n` envs over `k` workers, as even as can be, the first ones taking the remainder."""
    return [n // k + (i < n % k) for i in range(k)]


def _layout(sizes: dict[str, int], workers: int) -> dict[tuple[str, int], tuple[int, int]]:
    """(kind, worker) -> (first row, rows) in the shared block: the groups in order, each group's rows
    worker by worker."""
    out, row = {}, 0
    for kind in KINDS:
        for w, n in enumerate(split(sizes.get(kind, 0), workers)):
            out[kind, w] = (row, n)
            row += n
    return out


def _serve(conn, worker: int, workers: int, sizes: dict, options: dict, seed: int, names: tuple) -> None:
    """A worker's loop (in its own process)."""
    obs_shm, mask_shm = (shared_memory.SharedMemory(name=n) for n in names)
    total = sum(sizes.values())
    block = {  # views of the shared block; dropped before the memory is closed
        "obs": np.ndarray((total, *OBS_SHAPE), np.float32, buffer=obs_shm.buf),
        "mask": np.ndarray((total, N_ACTIONS), np.bool_, buffer=mask_shm.buf),
    }
    rng = np.random.default_rng(seed)
    layout = _layout(sizes, workers)
    greedy = greedy_mover_for(options.get("greedy_plies", 1))
    groups: list[tuple[str, object, slice]] = []
    for kind in KINDS:
        first, n = layout[kind, worker]
        if not n:
            continue
        if kind == "self":
            group = VecEnv(n, max_plies=options["max_plies"], start_sfen=options["start_sfens"])
        elif kind == "random":
            group = OpponentEnv(n, random_mover, rng, max_plies=options["max_plies"], alt=greedy,
                                alt_share=options["greedy_share"])  # fmt: skip
        else:
            group = OpponentEnv(n, greedy, rng, max_plies=options["max_plies"])
        groups.append((kind, group, slice(first, first + n)))

    def publish() -> None:
        for _kind, group, rows in groups:
            block["obs"][rows] = group.obs
            block["mask"][rows] = group.mask

    try:
        publish()
        conn.send(("ready", None))
        while True:
            op, arg = conn.recv()
            if op == "step":
                out = {}
                for kind, group, _rows in groups:
                    res = group.step(arg[kind])
                    done = np.flatnonzero(res.terminated | res.truncated)
                    if kind == "self":
                        sign, episodes, alt = None, res.episodes, []
                    else:
                        sign, episodes, alt = res.next_sign, res.episodes, res.alt
                    out[kind] = (res.reward, res.terminated, res.truncated, done, res.final_obs[done],
                                 sign, episodes, alt)  # fmt: skip
                publish()
                conn.send(("ok", out))
            elif op == "peek":
                views = {}
                for kind, group, _rows in groups:
                    env = group.env if kind != "self" else group
                    views[kind] = (
                        [
                            GameView(g.sfen(), g.ply, g.moves[-1:], g.is_over, g.initial_sfen)
                            for g in env.games
                        ],
                        group.agent_colour.copy() if kind != "self" else None,
                        group.uses_alt.copy() if kind != "self" else None,
                    )
                conn.send(("ok", views))
            elif op == "greedy_share":
                for kind, group, _rows in groups:
                    if kind == "random":
                        group.alt_share = float(arg)
                conn.send(("ok", None))
            elif op == "close":
                conn.send(("ok", None))
                return
    except (EOFError, KeyboardInterrupt):
        return
    except BaseException as exc:  # the trainer reports it, naming this worker
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        block.clear()
        obs_shm.close()
        mask_shm.close()


class EnvWorkerError(RuntimeError):
    pass


class EnvWorkers:
    """`workers` processes holding the self-play, random-opponent and greedy-opponent envs (`sizes`:
    kind -> env count). `obs` and `mask` are the shared block (every env, in group order) after the
    last step; `step(actions)` plays one step everywhere and returns a GroupStep per kind."""

    def __init__(
        self,
        workers: int,
        sizes: dict[str, int],
        *,
        max_plies: int,
        seed: int,
        start_sfens: list[str] | None = None,
        greedy_share: float = 0.0,
        greedy_plies: int = 1,
    ):
        if workers < 1:
            raise ValueError(f"env workers must be at least 1, got {workers}")
        self.workers = workers
        self.sizes = {k: int(sizes.get(k, 0)) for k in KINDS}
        self.total = sum(self.sizes.values())
        self.layout = _layout(self.sizes, workers)
        self.offsets = {}
        row = 0
        for kind in KINDS:
            self.offsets[kind] = row
            row += self.sizes[kind]
        self._lock = threading.Lock()  # one conversation at a time on the pipes
        self.generation = 0  # steps (and mix changes) so far: what a cached peek belongs to
        self._peeked: tuple[int, dict] | None = None
        self._obs_shm = shared_memory.SharedMemory(
            create=True, size=max(1, self.total * int(np.prod(OBS_SHAPE)) * 4)
        )
        self._mask_shm = shared_memory.SharedMemory(create=True, size=max(1, self.total * N_ACTIONS))
        self.obs = np.ndarray((self.total, *OBS_SHAPE), np.float32, buffer=self._obs_shm.buf)
        self.mask = np.ndarray((self.total, N_ACTIONS), np.bool_, buffer=self._mask_shm.buf)
        options = {"max_plies": max_plies, "start_sfens": start_sfens or None, "greedy_share": greedy_share,
                   "greedy_plies": greedy_plies}  # fmt: skip
        ctx = mp.get_context("spawn")  # a fresh interpreter: no torch, no copied threads or locks
        seeds = np.random.SeedSequence(seed).spawn(workers)
        names = (self._obs_shm.name, self._mask_shm.name)
        self._conns, self._procs = [], []
        try:
            for w in range(workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_serve,
                    args=(child, w, workers, self.sizes, options, int(seeds[w].generate_state(1)[0]), names),
                    name=f"env-worker-{w}",
                    daemon=True,
                )
                proc.start()
                child.close()  # the worker holds the only other end: its death is EOF here
                self._conns.append(parent)
                self._procs.append(proc)
            for w in range(workers):
                self._answer(w, timeout=START_TIMEOUT_S)
        except BaseException:
            self.close()
            raise
        self.closed = False

    def _died(self, w: int) -> EnvWorkerError:
        """The error for worker `w`'s pipe breaking: it names the worker and its exit code."""
        self._procs[w].join(5)
        return EnvWorkerError(f"env worker {w} died (exit code {self._procs[w].exitcode})")

    def _answer(self, w: int, timeout: float | None = None):
        conn = self._conns[w]
        try:
            if timeout is not None and not conn.poll(timeout):
                raise EnvWorkerError(f"env worker {w} did not answer within {timeout:.0f} s")
            status, payload = conn.recv()
        except (EOFError, OSError):
            raise self._died(w) from None
        if status == "error":
            raise EnvWorkerError(f"env worker {w} failed: {payload}")
        return payload

    def _ask_all(self, op: str, args: list) -> list:
        with self._lock:
            for w, conn in enumerate(self._conns):
                try:
                    conn.send((op, args[w]))
                except (BrokenPipeError, OSError):
                    raise self._died(w) from None
            return [self._answer(w) for w in range(self.workers)]

    def send_step(self, actions: np.ndarray) -> None:
        """Start a step (`actions` for every env here, in group order); `finish_step` collects it, so
        the caller can do other work (the pool's envs) meanwhile."""
        self._lock.acquire()
        try:
            for w, conn in enumerate(self._conns):
                part = {}
                for kind in KINDS:
                    first, n = self.layout[kind, w]
                    if n:
                        part[kind] = actions[first : first + n]
                conn.send(("step", part))
        except (BrokenPipeError, OSError):
            self._lock.release()
            raise self._died(next((w for w, p in enumerate(self._procs) if not p.is_alive()), 0)) from None
        except BaseException:
            self._lock.release()
            raise

    def finish_step(self) -> dict[str, GroupStep]:
        try:
            parts = [self._answer(w) for w in range(self.workers)]
        finally:
            self.generation += 1
            self._lock.release()
        out: dict[str, GroupStep] = {}
        for kind in KINDS:
            n = self.sizes[kind]
            if not n:
                continue
            reward = np.empty(n, np.float32)
            terminated = np.empty(n, bool)
            truncated = np.empty(n, bool)
            next_sign = np.full(n, -1.0, np.float32)
            final = np.zeros((n, *OBS_SHAPE), np.float32)
            episodes, alt = [], []
            at = 0
            for w in range(self.workers):
                if kind not in parts[w]:
                    continue
                r, te, tr, done, final_rows, sign, eps, alts = parts[w][kind]
                k = len(r)
                reward[at : at + k], terminated[at : at + k], truncated[at : at + k] = r, te, tr
                if sign is not None:
                    next_sign[at : at + k] = sign
                final[at + done] = final_rows
                if kind == "self":
                    episodes += [replace(ep, env=ep.env + at) for ep in eps]
                else:
                    episodes += [(replace(ep, env=ep.env + at), colour) for ep, colour in eps]
                alt += alts
                at += k
            out[kind] = GroupStep(reward, terminated, truncated, final, next_sign, episodes, alt)
        return out

    def step(self, actions: np.ndarray) -> dict[str, GroupStep]:
        self.send_step(actions)
        return self.finish_step()

    def peek(self) -> dict[str, tuple[list[GameView], np.ndarray | None, np.ndarray | None]]:
        """kind -> (games, agent colours, opponent-mix draws), every env of the kind in order; asked
        of the workers once per step (the thumbnails read several games between two steps)."""
        if self._peeked is not None and self._peeked[0] == self.generation:
            return self._peeked[1]
        parts = self._ask_all("peek", [None] * self.workers)
        out = {}
        for kind in KINDS:
            if not self.sizes[kind]:
                continue
            games, colours, alts = [], [], []
            for part in parts:
                if kind in part:
                    g, c, a = part[kind]
                    games += g
                    colours.append(c)
                    alts.append(a)
            if kind == "self":
                out[kind] = (games, None, None)
            else:
                out[kind] = (games, np.concatenate(colours), np.concatenate(alts))
        self._peeked = (self.generation, out)
        return out

    def set_greedy_share(self, share: float) -> None:
        self._ask_all("greedy_share", [share] * self.workers)
        self.generation += 1

    def close(self) -> None:
        if getattr(self, "closed", False):
            return
        self.closed = True
        for w, conn in enumerate(getattr(self, "_conns", [])):
            try:
                if self._procs[w].is_alive():
                    conn.send(("close", None))
                    if conn.poll(5):
                        conn.recv()
            except (OSError, EOFError):
                pass
            conn.close()
        for proc in getattr(self, "_procs", []):
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        for name in ("obs", "mask"):
            if hasattr(self, name):
                delattr(self, name)
        for shm in (getattr(self, "_obs_shm", None), getattr(self, "_mask_shm", None)):
            if shm is not None:
                with contextlib.suppress(BufferError):  # a caller still holds a view: freed with it
                    shm.close()
                shm.unlink()


class RemoteGroup:
    """One kind of envs held by the workers, with what the thumbnails and the GAE trace read of a
    group in the trainer's process (`games`, `agent_colour`, `uses_alt`, `num_envs`), fetched on
    demand."""

    def __init__(self, workers: EnvWorkers, kind: str):
        self.workers, self.kind = workers, kind
        self.num_envs = workers.sizes[kind]

    def _peek(self):
        return self.workers.peek()[self.kind]

    @property
    def games(self) -> list[GameView]:
        return self._peek()[0]

    @property
    def agent_colour(self):
        return self._peek()[1]

    @property
    def uses_alt(self):
        return self._peek()[2]

    @property
    def obs(self) -> np.ndarray:
        first = self.workers.offsets[self.kind]
        return self.workers.obs[first : first + self.num_envs]

    @property
    def mask(self) -> np.ndarray:
        first = self.workers.offsets[self.kind]
        return self.workers.mask[first : first + self.num_envs]
