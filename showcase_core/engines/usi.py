"""A USI engine client with a deadline on every wait (torch-free; the trainer and the server use it).

Every engine is a child process. A reader thread turns its stdout into a queue of lines and another
keeps the last lines of its stderr, so a chatty engine never blocks on a full pipe and every failure
can be reported with what the engine said last. Any wait that runs past its deadline, an engine that
exits, or one that answers with something the protocol does not allow raises `EngineError`; the
process is killed then, and the next request starts a fresh one (`restarts` counts them). Nothing
here trusts the engine: callers referee its moves with our own `Game`.

Why not `cshogi.usi.Engine`: it has no timeouts, spins forever when the engine dies, never drains
stderr, cannot pass arguments and mis-reads bound lines and `mate -`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from showcase_core.shogi.game import STARTING_SFEN

GO_LIMITS = ("nodes", "depth", "movetime", "byoyomi", "btime", "wtime", "binc", "winc")
# Where Debian puts its engines; not on root's PATH.
DEFAULT_SEARCH_DIRS = ("/usr/games", "/usr/local/games")
GPSSHOGI_DATA = "/usr/share/gpsshogi-data/data"


class EngineError(RuntimeError):
    """The engine failed: it is not installed, exited, hung past a deadline or broke the protocol.
    `last_lines` holds what it printed last (stdout and stderr, marked), for the report."""

    def __init__(self, message: str, last_lines: list[str] | None = None):
        self.last_lines = list(last_lines or [])
        tail = "; last lines: " + " | ".join(self.last_lines[-6:]) if self.last_lines else ""
        super().__init__(message + tail)
        self.reason = message


class EngineSpec(BaseModel):
    """How to run one engine at one strength: the command, its options and the `go` limits."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    """Label on screen and in tables, e.g. 'fsf-n64'."""
    command: str = "fairy-stockfish"
    """Program name (looked up on PATH, then in the search directories) or a path."""
    args: list[str] = []
    env: dict[str, str] = {}
    options: dict[str, str | int | bool] = {}
    """`setoption` values; names may contain spaces (Fairy-Stockfish 11.1: 'Skill Level')."""
    go: dict[str, int] = {"nodes": 1000}
    """`go` limits sent with every search, e.g. {"nodes": 64} or {"depth": 1}."""
    accepts: list[str] = ["nodes", "depth", "movetime", "byoyomi"]
    """The `go` limits this engine survives (gpsusi crashes on nodes/depth/movetime)."""
    swap_clocks: bool = False
    """Fairy-Stockfish 11.1 reads USI btime/wtime the wrong way round: send them swapped."""
    gpsshogi_home: bool = False
    """Give the process its own GPSSHOGI_HOME (gpsusi rewrites its config file at every setoption)."""
    mate_cp: int = Field(100_000, gt=0)
    """A cp score at least this large is a mate report (gpsusi says ~1,148,897 instead of `mate`)."""
    handshake_s: float = Field(15.0, gt=0)
    """Deadline for `usiok` and for each `readyok`."""
    search_s: float = Field(30.0, gt=0)
    """Deadline for `bestmove` beyond any time the limits give the engine."""

    @field_validator("go")
    @classmethod
    def _known_limits(cls, go: dict[str, int]) -> dict[str, int]:
        for key, value in go.items():
            if key not in GO_LIMITS:
                raise ValueError(f"unknown go limit {key!r}; expected some of {GO_LIMITS}")
            if value < 0:
                raise ValueError(f"go {key} must be non-negative, got {value}")
        return go


def resolve_command(
    command: str, search_dirs: tuple[str, ...] | list[str] = DEFAULT_SEARCH_DIRS
) -> str | None:
    """The engine's executable: a path as given, else PATH, else the search directories."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    found = shutil.which(command)
    if found:
        return found
    return shutil.which(command, path=os.pathsep.join(search_dirs))


# --- what engines say -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """An engine's score from the side to move's view. `kind` 'cp' has `value` in the engine's own
    units; 'mate' has `value` = plies to mate (positive: the side to move mates) or None when the
    engine only said `mate +` / `mate -` or reported mate as a huge cp; then `sign` says who."""

    kind: Literal["cp", "mate"]
    value: int | None
    sign: int  # +1 the side to move is better (or mates), -1 worse, 0 level
    bound: Literal["lower", "upper"] | None = None

    @property
    def is_mate(self) -> bool:
        return self.kind == "mate"

    def negated(self) -> Score:
        bound = {"lower": "upper", "upper": "lower", None: None}[self.bound]
        value = None if self.value is None else -self.value
        return Score(self.kind, value, -self.sign, bound)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "sign": self.sign, "bound": self.bound}


@dataclass
class Info:
    depth: int | None = None
    seldepth: int | None = None
    multipv: int = 1
    nodes: int | None = None
    time_ms: int | None = None
    score: Score | None = None
    pv: list[str] = field(default_factory=list)


@dataclass
class SearchResult:
    """`bestmove` with the search's last main-line info (the deepest exact score when there is one)."""

    bestmove: str  # a USI move, 'resign' or 'win'
    ponder: str | None
    info: Info | None
    elapsed_s: float
    lines: dict[int, Info] = field(default_factory=dict)  # multipv index -> its latest scored info
    stopped: bool = False  # the engine overran its deadline and answered only when told to stop

    @property
    def score(self) -> Score | None:
        return self.info.score if self.info else None


def _parse_int(tokens: list[str], i: int) -> int | None:
    try:
        return int(tokens[i])
    except (IndexError, ValueError):
        return None


def parse_info(line: str, *, mate_cp: int = 100_000) -> Info | None:
    """One `info ...` line, or None when it is not one. Unknown tokens are skipped; `string` ends it;
    `pv` runs to the end of the line."""
    tokens = line.split()
    if not tokens or tokens[0] != "info":
        return None
    info = Info()
    i = 1
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("depth", "seldepth", "multipv", "nodes", "time"):
            value = _parse_int(tokens, i + 1)
            if value is not None:
                attr = {"time": "time_ms"}.get(tok, tok)
                setattr(info, attr, value)
            i += 2
        elif tok == "score":
            i = _parse_score(tokens, i + 1, info, mate_cp)
        elif tok == "pv":
            info.pv = tokens[i + 1 :]
            break
        elif tok == "string":
            break
        else:
            i += 1
    return info


def _parse_score(tokens: list[str], i: int, info: Info, mate_cp: int) -> int:
    kind = tokens[i] if i < len(tokens) else None
    raw = tokens[i + 1] if i + 1 < len(tokens) else ""
    i += 2
    if kind == "cp":
        try:
            cp = int(raw)
        except ValueError:
            return i
        if abs(cp) >= mate_cp:
            score = Score("mate", None, 1 if cp > 0 else -1)
        else:
            score = Score("cp", cp, (cp > 0) - (cp < 0))
    elif kind == "mate":
        if raw in ("+", "-"):
            score = Score("mate", None, 1 if raw == "+" else -1)
        else:
            try:
                plies = int(raw)
            except ValueError:
                return i
            # 'mate 0' / 'mate -0': the side to move is already mated.
            negative = plies < 0 or raw.startswith("-")
            score = Score("mate", plies, -1 if negative else 1)
    else:
        return i
    bound = None
    if i < len(tokens) and tokens[i] in ("lowerbound", "upperbound"):
        bound = "lower" if tokens[i] == "lowerbound" else "upper"
        i += 1
    info.score = Score(score.kind, score.value, score.sign, bound)
    return i


def position_command(sfen: str | None, moves: list[str]) -> str:
    """`position startpos|sfen ... [moves ...]`; the moves must already be checked legal (Fairy-
    Stockfish 11.1 silently stops reading the list at an illegal one)."""
    text = sfen.strip() if sfen else STARTING_SFEN
    if text.startswith("sfen "):
        text = text[5:]
    head = "position startpos" if text == STARTING_SFEN else f"position sfen {text}"
    return head + (" moves " + " ".join(moves) if moves else "")


# --- the process ----------------------------------------------------------------------------------

_EOF = object()


class Engine:
    """One USI engine process, started on first use and restarted after any failure.

    Thread-safe: one request at a time. Every method raises `EngineError` on failure, after killing
    the process; the next call starts a fresh one.
    """

    def __init__(self, spec: EngineSpec, *, search_dirs: tuple[str, ...] | list[str] = DEFAULT_SEARCH_DIRS):
        self.spec = spec
        self.search_dirs = tuple(search_dirs)
        self.restarts = 0  # processes started after the first
        self.failures = 0
        self.stopped = 0  # searches that overran their deadline and answered after `stop`
        self.last_error: str | None = None
        self.engine_options: dict[str, str] = {}  # name -> the engine's `option` line
        self.engine_name: str | None = None
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue = queue.Queue()
        self._tail: deque[str] = deque(maxlen=24)
        self._lock = threading.RLock()
        self._home: tempfile.TemporaryDirectory | None = None
        self._started_once = False
        self._in_game = False

    # -- life cycle --
    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process and complete the handshake (usi, options, isready)."""
        with self._lock:
            if self.alive:
                return
            self._kill()
            path = resolve_command(self.spec.command, self.search_dirs)
            if path is None:
                raise self._fail(
                    f"{self.spec.name}: engine {self.spec.command!r} not found on PATH or in "
                    f"{', '.join(self.search_dirs)}",
                    kill=False,
                )
            env = {**os.environ, **self.spec.env}
            if self.spec.gpsshogi_home:
                self._home = tempfile.TemporaryDirectory(prefix="gpsshogi-home-")
                data = Path(self._home.name) / "data"
                with contextlib.suppress(OSError):
                    data.symlink_to(GPSSHOGI_DATA)
                env["GPSSHOGI_HOME"] = self._home.name
            self._lines = queue.Queue()
            self._tail.clear()
            try:
                proc = subprocess.Popen(
                    [path, *self.spec.args],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=env,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    bufsize=1,
                    cwd=self._home.name if self._home else None,
                )
            except OSError as exc:
                raise self._fail(f"{self.spec.name}: cannot start {path}: {exc}", kill=False) from exc
            self._proc = proc
            if self._started_once:
                self.restarts += 1
            self._started_once = True
            self._in_game = False
            threading.Thread(target=self._read_stdout, args=(proc,), daemon=True).start()
            threading.Thread(target=self._read_stderr, args=(proc,), daemon=True).start()
            self._handshake()

    def close(self) -> None:
        """Ask the engine to quit, then make sure it has."""
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    proc.stdin.write("quit\n")
                    proc.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1.0)
            self._kill()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2.0)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def _fail(self, message: str, *, kill: bool = True) -> EngineError:
        if kill:
            self._kill()
        self.failures += 1
        self.last_error = message
        return EngineError(message, list(self._tail))

    # -- reading --
    def _read_stdout(self, proc: subprocess.Popen) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in proc.stdout:
                self._lines.put(line.rstrip("\r\n"))
        self._lines.put(_EOF)

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in proc.stderr:
                self._tail.append("stderr: " + line.rstrip("\r\n"))

    def _next_line(self, deadline: float, waiting_for: str, *, fail: bool = True) -> str | None:
        """The engine's next line; at the deadline raise (or, with fail=False, return None)."""
        remaining = deadline - time.monotonic()
        try:
            line = self._lines.get(timeout=max(remaining, 0.0)) if remaining > 0 else self._lines.get_nowait()
        except queue.Empty:
            if not fail:
                return None
            raise self._fail(f"{self.spec.name}: no {waiting_for} within the deadline") from None
        if line is _EOF:
            code = self._proc.wait(timeout=2.0) if self._proc else None
            raise self._fail(
                f"{self.spec.name}: the engine exited (code {code}) while waiting for {waiting_for}"
            )
        self._tail.append(line)
        return line

    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise self._fail(f"{self.spec.name}: the engine is not running (sending {line.split()[0]!r})")
        try:
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        except (OSError, ValueError) as exc:
            raise self._fail(f"{self.spec.name}: cannot write to the engine ({exc})") from exc

    def _handshake(self) -> None:
        spec = self.spec
        self._send("usi")
        deadline = time.monotonic() + spec.handshake_s
        options: dict[str, str] = {}
        while True:
            line = self._next_line(deadline, "usiok")
            if line == "usiok":
                break
            if line.startswith("option name "):
                rest = line[len("option name ") :]
                name = rest.split(" type ")[0].strip()
                options[name] = line
            elif line.startswith("id name "):
                self.engine_name = line[len("id name ") :].strip()
        self.engine_options = options
        for name, value in spec.options.items():
            if name not in options:
                raise self._fail(
                    f"{spec.name}: the engine has no option {name!r} (it has: {', '.join(sorted(options))})"
                )
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            self._send(f"setoption name {name} value {text}")
        self._ready()

    def _ready(self) -> None:
        self._send("isready")
        deadline = time.monotonic() + self.spec.handshake_s
        while self._next_line(deadline, "readyok") != "readyok":
            pass

    # -- requests --
    def new_game(self) -> None:
        """`usinewgame` (and the handshake first, when the process is new)."""
        with self._lock:
            self.start()
            self._send("usinewgame")
            self._ready()
            self._in_game = True

    def search(
        self,
        sfen: str | None,
        moves: list[str] | tuple[str, ...] = (),
        *,
        go: dict[str, int] | None = None,
        searchmoves: list[str] | None = None,
        black_to_move: bool | None = None,
    ) -> SearchResult:
        """Search the position `sfen` (None = start) after `moves` (USI, already legal) with the spec's
        `go` limits (or `go`), optionally only among `searchmoves`. Returns the engine's `bestmove`
        unchecked: referee it with `Game` before playing it."""
        limits = dict(self.spec.go if go is None else go)
        refused = [k for k in limits if k not in self.spec.accepts]
        if refused:
            raise EngineError(
                f"{self.spec.name}: go {', '.join(refused)} is not accepted by this engine "
                f"(it takes {', '.join(self.spec.accepts)})"
            )
        if self.spec.swap_clocks and ("btime" in limits or "wtime" in limits):
            limits["btime"], limits["wtime"] = limits.pop("wtime", 0), limits.pop("btime", 0)
        with self._lock:
            if not self.alive or not self._in_game:
                self.new_game()
            self._send(position_command(sfen, list(moves)))
            go_line = "go " + " ".join(f"{k} {v}" for k, v in limits.items())
            if searchmoves:
                go_line += " searchmoves " + " ".join(searchmoves)
            self._send(go_line.strip())
            thinking_ms = max(limits.get("movetime", 0), limits.get("byoyomi", 0))
            start = time.monotonic()
            deadline = start + thinking_ms / 1000.0 + self.spec.search_s
            best: Info | None = None  # the deepest main-line info with an exact score
            last: Info | None = None  # the latest main-line info with any score
            lines: dict[int, Info] = {}
            stopped = False
            while True:
                line = self._next_line(deadline, "bestmove", fail=stopped)
                if line is None:  # past the deadline: ask once for its move, then give up
                    self._send("stop")
                    stopped = True
                    deadline = time.monotonic() + 1.0
                    continue
                if line.startswith("info "):
                    info = parse_info(line, mate_cp=self.spec.mate_cp)
                    if info is None or info.score is None:
                        continue
                    lines[info.multipv] = info
                    if info.multipv != 1:
                        continue
                    last = info
                    if info.score.bound is None:
                        best = info
                    continue
                if line.startswith("bestmove"):
                    tokens = line.split()
                    if len(tokens) < 2:
                        raise self._fail(f"{self.spec.name}: 'bestmove' without a move")
                    ponder = tokens[3] if len(tokens) >= 4 and tokens[2] == "ponder" else None
                    chosen = best or last
                    if chosen is not None and not chosen.pv:
                        chosen.pv = [tokens[1]]
                    self.stopped += stopped
                    return SearchResult(tokens[1], ponder, chosen, time.monotonic() - start, lines, stopped)

    def stats(self) -> dict:
        return {
            "name": self.spec.name,
            "engine": self.engine_name,
            "alive": self.alive,
            "restarts": self.restarts,
            "failures": self.failures,
            "stopped": self.stopped,
            "last_error": self.last_error,
        }
