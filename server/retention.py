"""How much of the archive to keep, its size, and an online backup; torch-free.

Retention runs in the background (at start, then every `retention_every_s`) through the store's
writer, a bounded number of games per transaction so live writes never wait long:

1. sampled games (self-play and evaluation) older than `keep_sampled_days` go first;
2. showcase games, and closed polls with their votes, older than `keep_days` (0 = no age limit);
3. then, while the archive is over `max_archive_mb` (0 = no limit): the oldest sampled games, and
   only when none is left the oldest showcase games.

Never deleted: a game still open, a game a milestone links to, milestones, metrics, runs and the
leaderboard's scores. SQLite reuses the freed pages, so the file stops growing at about the limit;
the size reported is the pages in use (`page_count - freelist_count`), which falls at once.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DAY_S = 86400.0
SAMPLED = ("selfplay", "evaluation")


@dataclass
class Policy:
    keep_sampled_days: float = 7.0
    keep_days: float = 0.0
    max_bytes: int = 0
    chunk: int = 200  # games per transaction


@dataclass
class Pass:
    """What one retention pass did."""

    at: float
    deleted: dict[str, int] = field(default_factory=dict)  # kind (or "polls") -> rows deleted
    bytes_before: int = 0
    bytes_after: int = 0
    over_limit: bool = False  # still over max_bytes with nothing left that may be deleted

    def as_dict(self) -> dict:
        return asdict(self)


def size(conn: sqlite3.Connection) -> dict:
    """The archive's size: bytes in use, bytes of the file (with free pages), and row counts."""
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    counts = dict(conn.execute("SELECT kind, COUNT(*) FROM games GROUP BY kind").fetchall())
    return {
        "bytes": (pages - free) * page,
        "file_bytes": pages * page,
        "games": {k: counts.get(k, 0) for k in ("showcase", *SAMPLED)},
        "moves": conn.execute("SELECT COUNT(*) FROM moves").fetchone()[0],
        "polls": conn.execute("SELECT COUNT(*) FROM polls").fetchone()[0],
    }


def _used(conn: sqlite3.Connection) -> int:
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return (pages - conn.execute("PRAGMA freelist_count").fetchone()[0]) * page


_DELETABLE = "ended_at IS NOT NULL AND id NOT IN (SELECT game_id FROM milestones WHERE game_id IS NOT NULL)"


def _delete_games(conn: sqlite3.Connection, kinds: tuple[str, ...], before: float | None, limit: int) -> int:
    """Delete up to `limit` of the oldest deletable games of `kinds` (ended before `before`)."""
    marks = ",".join("?" * len(kinds))
    sql = f"SELECT id FROM games WHERE kind IN ({marks}) AND {_DELETABLE}"
    args: list = list(kinds)
    if before is not None:
        sql += " AND ended_at < ?"
        args.append(before)
    ids = [r[0] for r in conn.execute(sql + " ORDER BY ended_at, id LIMIT ?", [*args, limit])]
    conn.executemany("DELETE FROM games WHERE id = ?", [(i,) for i in ids])  # moves cascade
    return len(ids)


def step(conn: sqlite3.Connection, policy: Policy, now: float, done: Pass) -> bool:
    """One bounded chunk of a pass (runs inside a store transaction); False when the pass is over."""

    def count(key: str, n: int) -> int:
        if n:
            done.deleted[key] = done.deleted.get(key, 0) + n
        return n

    if policy.keep_sampled_days > 0:
        before = now - policy.keep_sampled_days * DAY_S
        if count("sampled", _delete_games(conn, SAMPLED, before, policy.chunk)):
            return True
    if policy.keep_days > 0:
        before = now - policy.keep_days * DAY_S
        if count("showcase", _delete_games(conn, ("showcase",), before, policy.chunk)):
            return True
        polls = conn.execute(
            "DELETE FROM polls WHERE id IN (SELECT id FROM polls WHERE closed_at IS NOT NULL AND"
            " closed_at < ? LIMIT ?)",
            (before, policy.chunk),
        ).rowcount  # their votes cascade; the leaderboard keeps its totals
        if count("polls", polls):
            return True
    if policy.max_bytes and _used(conn) > policy.max_bytes:
        # Deleting frees whole pages only as they empty: a chunk at a time, then measure again.
        if count("sampled", _delete_games(conn, SAMPLED, None, policy.chunk)):
            return True
        if count("showcase", _delete_games(conn, ("showcase",), None, policy.chunk)):
            return True
        done.over_limit = True
    return False


async def run_pass(store, policy: Policy, now: float | None = None) -> Pass:
    """Apply the policy through the store's writer, one chunk per transaction."""
    now = time.time() if now is None else now
    done = Pass(at=now)
    done.bytes_before = await store.read(_used)
    while await store.write(lambda c: step(c, policy, now, done)):
        pass
    done.bytes_after = await store.read(_used)
    return done


def backup(source: Path, target: Path, *, pages: int = 256) -> dict:
    """Copy the archive with SQLite's online backup API: consistent even while the server writes
    (WAL), in steps of `pages` so the writer is never held up for long. Writes to a temporary name
    and renames it into place, so a failed backup never leaves a half file under `target`."""
    if not source.exists():
        raise FileNotFoundError(f"no archive at {source}")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=pages)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        stats = size(dst)
    finally:
        dst.close()
        src.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise sqlite3.DatabaseError(f"backup failed its integrity check: {check}")
    partial.replace(target)
    return {"target": str(target), "seconds": round(time.perf_counter() - started, 3), **stats}
