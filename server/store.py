"""The server's archive: one SQLite file (WAL) under the data directory, torch-free.

Writes go through one writer thread that batches whatever is queued into a single transaction, so
the event loop never waits on the disk; `await store.flush()` (or the future a write returns) resolves
once the batch holding it has committed, which is how a game becomes durable when its `game_end` is
acknowledged. Reads use their own connection per call in a worker thread (WAL lets them run beside the
writer). The schema is versioned with `PRAGMA user_version` and upgraded by the migrations below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from server import insight_codec as codec

log = logging.getLogger("server.store")

MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    # 1: the first schema.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        hello TEXT NOT NULL              -- the trainer's hello payload, JSON
    );
    CREATE TABLE games (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('showcase', 'evaluation', 'selfplay')),
        start_sfen TEXT NOT NULL,
        black TEXT NOT NULL,
        white TEXT NOT NULL,
        weights_version INTEGER NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        result TEXT CHECK (result IN ('black', 'white', 'draw', 'truncated')),
        reason TEXT,
        plies INTEGER NOT NULL DEFAULT 0,
        final_sfen TEXT,
        kif TEXT
    );
    CREATE INDEX games_by_time ON games (started_at DESC, id DESC);
    CREATE INDEX games_by_run ON games (run_id, started_at DESC);
    CREATE TABLE moves (
        game_id TEXT NOT NULL REFERENCES games (id) ON DELETE CASCADE,
        ply INTEGER NOT NULL,
        sfen_before TEXT NOT NULL,
        sfen_after TEXT NOT NULL,
        usi TEXT NOT NULL,
        western TEXT NOT NULL,
        japanese TEXT NOT NULL,
        chosen_prob REAL,
        weights_version INTEGER NOT NULL,
        insight TEXT,                    -- JSON, NULL for games recorded without insight
        ts REAL NOT NULL,
        PRIMARY KEY (game_id, ply)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL,
        update_no INTEGER NOT NULL,
        key TEXT NOT NULL,
        value REAL,                      -- NULL: the trainer had no value for this update
        ts REAL NOT NULL,
        PRIMARY KEY (run_id, key, update_no)
    );
    CREATE TABLE milestones (
        id INTEGER PRIMARY KEY,
        run_id TEXT,
        kind TEXT NOT NULL,
        update_no INTEGER NOT NULL,
        title TEXT NOT NULL,
        detail TEXT NOT NULL,
        value REAL,
        game_id TEXT,
        ts REAL NOT NULL,
        UNIQUE (run_id, kind, update_no)
    );
    CREATE TABLE polls (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('predict', 'strategy')),
        question TEXT NOT NULL,
        game_id TEXT,
        ply INTEGER,
        sfen TEXT,
        choices TEXT,                    -- JSON list for strategy polls
        opened_at REAL NOT NULL,
        closes_at REAL NOT NULL,
        closed_at REAL,
        outcome TEXT CHECK (outcome IN ('revealed', 'applied', 'cancelled')),
        answer TEXT,                     -- JSON: the AI's move and top-5 after the reveal
        reason TEXT
    );
    CREATE TABLE votes (
        poll_id TEXT NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        choice TEXT NOT NULL,
        ts REAL NOT NULL,
        PRIMARY KEY (poll_id, user_id)
    );
    CREATE TABLE scores (
        user_id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        points INTEGER NOT NULL DEFAULT 0,
        correct INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL DEFAULT 0,
        streak INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    """,
    # 2: the strategy-poll plan a showcase game played, and polls listed newest first
    """
    ALTER TABLE games ADD COLUMN plan TEXT;
    CREATE INDEX polls_by_time ON polls (opened_at DESC);
    """,
    # 3: the analysis engine's judgement of a move (JSON, the `analysis` message), NULL until judged
    """
    ALTER TABLE moves ADD COLUMN analysis TEXT;
    """,
    # 4: games can end `interrupted`; insight stored compactly; the shown value in its own column
    lambda conn: _compact_archive(conn),
    # 5: showcase matches: whom the AI played (`past:<checkpoint>` or `rung:<name>`) and its colour
    """
    ALTER TABLE games ADD COLUMN opponent TEXT;
    ALTER TABLE games ADD COLUMN agent TEXT;
    CREATE INDEX games_matches ON games (run_id, opponent) WHERE opponent IS NOT NULL;
    """,
    # 6: SE attention over time: the shipped positions as each saved checkpoint saw them
    """
    CREATE TABLE attention_frames (
        run_id TEXT NOT NULL,
        at_update INTEGER NOT NULL,
        samples INTEGER NOT NULL,
        frame TEXT NOT NULL,             -- the `attention_frame` payload, JSON
        PRIMARY KEY (run_id, at_update)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
COMPACT_VERSION = 4  # the version that made insight compact

# The games table as of version 4: `interrupted` is a result (the trainer or the server went away
# mid-game; `reason` says which). SQLite cannot alter a CHECK, so version 4 rebuilds the table.
_GAMES_V4 = """
    CREATE TABLE games_v4 (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('showcase', 'evaluation', 'selfplay')),
        start_sfen TEXT NOT NULL,
        black TEXT NOT NULL,
        white TEXT NOT NULL,
        weights_version INTEGER NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        result TEXT CHECK (result IN ('black', 'white', 'draw', 'truncated', 'interrupted')),
        reason TEXT,
        plies INTEGER NOT NULL DEFAULT 0,
        final_sfen TEXT,
        kif TEXT,
        plan TEXT
    )
"""
_GAME_COLUMNS = (
    "id, run_id, kind, start_sfen, black, white, weights_version, started_at, ended_at, result, reason,"
    " plies, final_sfen, kif, plan"
)


def _compact_archive(conn: sqlite3.Connection) -> None:
    """Version 4, inside the migration's transaction (foreign keys are off while it runs, so the
    games table can be rebuilt without cascading to its moves; `foreign_key_check` runs after)."""
    conn.execute(_GAMES_V4)
    conn.execute(f"INSERT INTO games_v4 ({_GAME_COLUMNS}) SELECT {_GAME_COLUMNS} FROM games")
    conn.execute("DROP TABLE games")
    conn.execute("ALTER TABLE games_v4 RENAME TO games")
    conn.execute("CREATE INDEX games_by_time ON games (started_at DESC, id DESC)")
    conn.execute("CREATE INDEX games_by_run ON games (run_id, started_at DESC)")
    conn.execute("CREATE INDEX games_open ON games (kind) WHERE ended_at IS NULL")
    conn.execute("ALTER TABLE moves ADD COLUMN value REAL")  # the insight's value, for calibration
    rows = conn.execute("SELECT rowid, insight FROM moves WHERE insight IS NOT NULL").fetchall()
    for rowid, text in rows:
        insight = json.loads(text)
        conn.execute(
            "UPDATE moves SET insight = ?, value = ? WHERE rowid = ?",
            (codec.encode(insight), insight["value"], rowid),
        )


class StoreError(RuntimeError):
    """The database cannot be used (e.g. it was made by a newer version of the server)."""


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process crash
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise StoreError(f"database schema version {found} is newer than this server's {SCHEMA_VERSION}")
    if found == SCHEMA_VERSION:
        return found
    conn.execute("PRAGMA foreign_keys=OFF")  # a table rebuild must not cascade; checked before commit
    try:
        for version in range(found, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")  # the migration and its version bump commit together
            try:
                step = MIGRATIONS[version]
                if callable(step):
                    step(conn)
                else:
                    for statement in _statements(step):
                        conn.execute(statement)
                broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise StoreError(f"migration {version + 1} broke {len(broken)} foreign keys")
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
    return found


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


Write = Callable[[sqlite3.Connection], Any]


class Store:
    """The SQLite archive. `open()` it, `await` its writes or `flush()`, `close()` at shutdown."""

    def __init__(self, path: str | Path, *, batch_max: int = 500):
        self.path = Path(path)
        self.batch_max = batch_max
        self._queue: queue.Queue[tuple[Write, Future] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.batches = 0
        self.error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> Store:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path)
        found = migrate(self._conn)
        if 0 < found < COMPACT_VERSION:
            # The insight just shrank to a tenth: give the space back once (the file would otherwise
            # keep its old size until new games filled it).
            before = self.path.stat().st_size
            self._conn.execute("VACUUM")
            log.info("archive compacted after the upgrade: %.1f MB -> %.1f MB", before / 2**20,
                     self.path.stat().st_size / 2**20)  # fmt: skip
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()
        return self

    def close(self) -> None:
        """Commit what is queued, then stop the writer."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(30)
            self._writer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing -------------------------------------------------------------------------------------
    def submit(self, write: Write) -> Future:
        """Queue a write (a function of the connection, run inside a transaction); its future resolves
        with the function's result once the batch holding it has committed."""
        if self._writer is None:
            raise StoreError("store is not open")
        future: Future = Future()
        self._queue.put((write, future))
        return future

    async def write(self, write: Write) -> Any:
        return await asyncio.wrap_future(self.submit(write))

    async def flush(self) -> None:
        """Wait until everything queued so far has committed."""
        await self.write(lambda conn: None)

    def _write_loop(self) -> None:
        conn = self._conn
        while True:
            item = self._queue.get()
            batch = [item]
            while item is not None and len(batch) < self.batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(item)
            stop = batch[-1] is None
            work = [b for b in batch if b is not None]
            if work:
                self._commit(conn, work)
            if stop:
                return

    def _commit(self, conn: sqlite3.Connection, work: list[tuple[Write, Future]]) -> None:
        results = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write, _ in work:
                conn.execute("SAVEPOINT one")
                try:
                    results.append((write(conn), None))
                    conn.execute("RELEASE one")
                except Exception as exc:  # one bad write must not sink its batch-mates
                    conn.execute("ROLLBACK TO one")
                    conn.execute("RELEASE one")
                    results.append((None, exc))
            conn.execute("COMMIT")
            self.batches += 1
        except BaseException as exc:  # the disk itself failed: every write in the batch is lost
            self.error = exc
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for _, future in work:
                future.set_exception(exc)
            return
        for (_, future), (result, exc) in zip(work, results, strict=True):
            if exc is None:
                future.set_result(result)
            else:
                future.set_exception(exc)

    # -- reading -------------------------------------------------------------------------------------
    async def read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a read in a worker thread on its own connection (WAL readers never block the writer)."""

        def run():
            conn = connect(self.path)
            try:
                return query(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(run)


# --- writes (functions of a connection, keyword-only arguments) -------------------------------------------


def _now() -> float:
    return time.time()


def record_hello(conn: sqlite3.Connection, *, run_id: str, hello: dict) -> None:
    now = _now()
    conn.execute(
        "INSERT INTO runs (id, started_at, last_seen_at, hello) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, hello = excluded.hello",
        (run_id, now, now, json.dumps(hello)),
    )


def start_game(conn: sqlite3.Connection, *, run_id: str | None, game: dict) -> None:
    match = game.get("match") or {}
    conn.execute(
        "INSERT OR IGNORE INTO games (id, run_id, kind, start_sfen, black, white, weights_version,"
        " started_at, plan, opponent, agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            game["game_id"],
            run_id,
            game["kind"],
            game["start_sfen"],
            game["black"],
            game["white"],
            game["weights_version"],
            _now(),
            game.get("plan"),
            match.get("opponent"),
            match.get("agent"),
        ),
    )


def match_record(conn: sqlite3.Connection, run_id: str | None) -> list[dict]:
    """Head-to-head of the run's finished showcase matches, by opponent, from the AI's side: wins,
    draws (sennichite, the cap) and losses; interrupted games are listed apart, never scored."""
    rows = conn.execute(
        "SELECT opponent, agent, result, MAX(CASE WHEN agent = 'black' THEN white ELSE black END) AS name,"
        " COUNT(*) AS n FROM games WHERE opponent IS NOT NULL AND run_id IS ? AND ended_at IS NOT NULL"
        " GROUP BY opponent, agent, result",
        (run_id,),
    ).fetchall()
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(
            r["opponent"],
            {
                "opponent": r["opponent"],
                "name": r["name"],
                "wins": 0,
                "draws": 0,
                "losses": 0,
                "interrupted": 0,
            },
        )
        if r["result"] == "interrupted":
            entry["interrupted"] += r["n"]
        elif r["result"] in ("draw", "truncated"):
            entry["draws"] += r["n"]
        elif r["result"] == r["agent"]:
            entry["wins"] += r["n"]
        else:
            entry["losses"] += r["n"]
    for entry in out.values():
        entry["games"] = entry["wins"] + entry["draws"] + entry["losses"]
    return sorted(out.values(), key=lambda e: e["opponent"])


def close_interrupted(
    conn: sqlite3.Connection, *, reason: str, kind: str | None = None, keep: str | None = None
) -> list[str]:
    """End every game still open (of `kind`, other than `keep`) as `interrupted` with `reason`;
    returns their ids. A move that arrives later for one of them reopens it (see add_move)."""
    where, args = ["ended_at IS NULL"], []
    if kind is not None:
        where.append("kind = ?")
        args.append(kind)
    if keep is not None:
        where.append("id != ?")
        args.append(keep)
    ids = [r[0] for r in conn.execute(f"SELECT id FROM games WHERE {' AND '.join(where)}", args)]
    conn.executemany(
        "UPDATE games SET ended_at = ?, result = 'interrupted', reason = ? WHERE id = ?",
        [(_now(), reason, game_id) for game_id in ids],
    )
    return ids


def add_move(conn: sqlite3.Connection, *, move: dict) -> None:
    names, insight = move["move"], move.get("insight")
    conn.execute(
        # An upsert, not a replace: a move the trainer sends again keeps the analysis already stored.
        "INSERT INTO moves (game_id, ply, sfen_before, sfen_after, usi, western, japanese,"
        " chosen_prob, weights_version, insight, value, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (game_id, ply) DO UPDATE SET sfen_before = excluded.sfen_before,"
        " sfen_after = excluded.sfen_after, usi = excluded.usi, western = excluded.western,"
        " japanese = excluded.japanese, chosen_prob = excluded.chosen_prob,"
        " weights_version = excluded.weights_version, insight = excluded.insight, value = excluded.value,"
        " ts = excluded.ts",
        (
            move["game_id"],
            move["ply"],
            move["sfen_before"],
            move["sfen_after"],
            names["usi"],
            names["western"],
            names["japanese"],
            move.get("chosen_prob"),
            move["weights_version"],
            codec.encode(insight) if insight is not None else None,
            insight["value"] if insight is not None else None,
            _now(),
        ),
    )
    conn.execute(
        # A game closed as interrupted goes on when its trainer comes back and plays on (the server
        # restarted under a live trainer): it is open again until its own game_end.
        "UPDATE games SET plies = MAX(plies, ?), ended_at = CASE WHEN result = 'interrupted' THEN NULL"
        " ELSE ended_at END, reason = CASE WHEN result = 'interrupted' THEN NULL ELSE reason END,"
        " result = NULLIF(result, 'interrupted') WHERE id = ?",
        (move["ply"], move["game_id"]),
    )


def set_analysis(conn: sqlite3.Connection, *, analysis: dict) -> bool:
    """Store the engine's judgement with its move; False when that move is not archived."""
    cur = conn.execute(
        "UPDATE moves SET analysis = ? WHERE game_id = ? AND ply = ?",
        (json.dumps(analysis), analysis["game_id"], analysis["ply"]),
    )
    return cur.rowcount == 1


def end_game(conn: sqlite3.Connection, *, end: dict) -> None:
    updated = conn.execute(
        "UPDATE games SET ended_at = ?, result = ?, reason = ?, plies = ?, final_sfen = ?, kif = ?"
        " WHERE id = ?",
        (_now(), end["result"], end["reason"], end["plies"], end["final_sfen"], end["kif"], end["game_id"]),
    ).rowcount
    if not updated:
        raise KeyError(f"game_end for unknown game {end['game_id']!r}")


def add_metrics(
    conn: sqlite3.Connection, *, run_id: str, update: int, values: dict[str, float | None]
) -> None:
    now = _now()
    conn.executemany(
        "INSERT OR REPLACE INTO metrics (run_id, update_no, key, value, ts) VALUES (?, ?, ?, ?, ?)",
        [(run_id, update, key, value, now) for key, value in values.items()],
    )


def add_milestone(conn: sqlite3.Connection, *, run_id: str | None, milestone: dict) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO milestones (run_id, kind, update_no, title, detail, value, game_id, ts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            milestone["kind"],
            milestone["update"],
            milestone["title"],
            milestone["detail"],
            milestone.get("value"),
            milestone.get("game_id"),
            _now(),
        ),
    )


# --- reads -----------------------------------------------------------------------------------------------


def add_attention_frame(conn: sqlite3.Connection, *, run_id: str | None, frame: dict) -> None:
    """Keep one frame per run and update (a resumed run that saves the same update again replaces it)."""
    conn.execute(
        "INSERT OR REPLACE INTO attention_frames (run_id, at_update, samples, frame) VALUES (?, ?, ?, ?)",
        (run_id or "unknown", frame["update"], frame["samples"], json.dumps(frame)),
    )


def attention_frames(conn: sqlite3.Connection, *, run_id: str | None, limit: int = 500) -> list[dict]:
    """A run's frames in update order (the newest `limit` of them)."""
    rows = conn.execute(
        "SELECT frame FROM (SELECT at_update, frame FROM attention_frames WHERE run_id = ?"
        " ORDER BY at_update DESC LIMIT ?) ORDER BY at_update",
        (run_id or "unknown", limit),
    ).fetchall()
    return [json.loads(r[0]) for r in rows]


def attention_runs(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT run_id, COUNT(*) AS frames, MIN(at_update) AS first_update, MAX(at_update) AS last_update"
        " FROM attention_frames GROUP BY run_id ORDER BY MAX(rowid) DESC"
    ).fetchall()
    return [dict(r) for r in rows]


def list_games(
    conn: sqlite3.Connection,
    *,
    limit: int,
    before: tuple[float, str] | None = None,
    kind: str | None = None,
    result: str | None = None,
    run_id: str | None = None,
) -> list[dict]:
    """Newest first; `before` = (started_at, id) of the last row of the previous page (cursor paging)."""
    where, args = [], []
    if before is not None:
        where.append("(started_at < ? OR (started_at = ? AND id < ?))")
        args += [before[0], before[0], before[1]]
    for column, value in (("kind", kind), ("result", result), ("run_id", run_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = (
        "SELECT id, run_id, kind, start_sfen, black, white, weights_version, started_at, ended_at, result,"
        " reason, plies, final_sfen, plan, opponent, agent FROM games"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY started_at DESC, id DESC LIMIT ?"
    )
    return [dict(row) for row in conn.execute(sql, [*args, limit])]


def get_game(conn: sqlite3.Connection, *, game_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM games WHERE id = ?", (game_id,)).fetchone()
    if row is None:
        return None
    game = dict(row)
    game["moves"] = [
        _move_row(m) for m in conn.execute("SELECT * FROM moves WHERE game_id = ? ORDER BY ply", (game_id,))
    ]
    return game


def _move_row(row: sqlite3.Row) -> dict:
    move = dict(row)
    del move["value"]  # the insight's own value, kept in a column for calibration
    try:
        move["insight"] = codec.decode(row["insight"])
    except codec.CodecError as exc:  # one damaged row must not take its game's replay with it
        move["insight"], move["insight_error"] = None, str(exc)
    move["analysis"] = json.loads(row["analysis"]) if row["analysis"] else None
    return move


def metric_history(
    conn: sqlite3.Connection, *, key: str, since: int = 0, run_id: str | None = None, limit: int = 5000
) -> list[tuple[int, float | None]]:
    sql = "SELECT update_no, value FROM metrics WHERE key = ? AND update_no >= ?"
    args: list[Any] = [key, since]
    if run_id is not None:
        sql += " AND run_id = ?"
        args.append(run_id)
    sql += " ORDER BY update_no LIMIT ?"
    return [(row[0], row[1]) for row in conn.execute(sql, [*args, limit])]


def list_milestones(conn: sqlite3.Connection, *, run_id: str | None = None, limit: int = 200) -> list[dict]:
    sql = "SELECT run_id, kind, update_no AS 'update', title, detail, value, game_id, ts FROM milestones"
    args: list[Any] = []
    if run_id is not None:
        sql += " WHERE run_id = ?"
        args.append(run_id)
    return [dict(r) for r in conn.execute(sql + " ORDER BY update_no, id LIMIT ?", [*args, limit])]


def list_runs(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute("SELECT id, started_at, last_seen_at, hello FROM runs ORDER BY started_at DESC")
    return [{**dict(r), "hello": json.loads(r["hello"])} for r in rows]


def calibration(
    conn: sqlite3.Connection, *, bins: int = 10, run_id: str | None = None, games: int = 200
) -> dict:
    """How well the value head predicts showcase results: the recorded per-move values of the newest
    `games` finished showcase games, binned by predicted Black win chance, against the games' outcomes.

    A move's insight `value` is from the side to move's view (the mover: it is computed on the position
    before the move, `sfen_before`), so Black's predicted chance is `(1 + value) / 2` when Black is to
    move and `(1 - value) / 2` when White is. The actual Black score is 1 for `black`, 0 for `white`
    and 0.5 for `draw`; `truncated` games have no outcome and are skipped (counted in
    `truncated_skipped`). Moves without insight are skipped. Bin `i` holds predictions in
    `[i / bins, (i + 1) / bins)`, the last bin includes 1. Positions of one game are correlated, so
    `positions` overstates the independent evidence; `games` is the honest sample size.
    """
    run_filter, args = ("", []) if run_id is None else (" AND run_id = ?", [run_id])
    rows = conn.execute(
        "SELECT g.id, g.result, m.sfen_before, m.value FROM"
        " (SELECT id, result FROM games WHERE kind = 'showcase' AND result IN ('black', 'white', 'draw')"
        + run_filter
        + " ORDER BY ended_at DESC, id DESC LIMIT ?) g"
        " JOIN moves m ON m.game_id = g.id WHERE m.value IS NOT NULL",
        [*args, games],
    ).fetchall()
    truncated = conn.execute(
        "SELECT COUNT(*) FROM games WHERE kind = 'showcase' AND result = 'truncated'" + run_filter, args
    ).fetchone()[0]
    score = {"black": 1.0, "white": 0.0, "draw": 0.5}
    count = [0] * bins
    predicted = [0.0] * bins
    actual = [0.0] * bins
    squared_error = 0.0
    seen_games = set()
    for game_id, result, sfen_before, value in rows:
        black_to_move = sfen_before.split(" ")[1] == "b"
        p = (1.0 + value) / 2.0 if black_to_move else (1.0 - value) / 2.0
        s = score[result]
        i = min(bins - 1, int(p * bins))
        count[i] += 1
        predicted[i] += p
        actual[i] += s
        squared_error += (p - s) ** 2
        seen_games.add(game_id)
    positions = sum(count)
    return {
        "bins": [
            {
                "lo": i / bins,
                "hi": (i + 1) / bins,
                "count": count[i],
                "predicted": predicted[i] / count[i] if count[i] else None,
                "actual": actual[i] / count[i] if count[i] else None,
            }
            for i in range(bins)
        ],
        "games": len(seen_games),
        "positions": positions,
        "brier": squared_error / positions if positions else None,
        "truncated_skipped": truncated,
    }


# --- polls, votes and the leaderboard --------------------------------------------------------------------


def open_poll(conn: sqlite3.Connection, *, poll: dict) -> None:
    conn.execute(
        "INSERT INTO polls (id, kind, question, game_id, ply, sfen, choices, opened_at, closes_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            poll["id"],
            poll["kind"],
            poll["question"],
            poll.get("game_id"),
            poll.get("ply"),
            poll.get("sfen"),
            json.dumps(poll["choices"], ensure_ascii=False) if poll.get("choices") is not None else None,
            poll["opened_at"],
            poll["closes_at"],
        ),
    )


def record_vote(
    conn: sqlite3.Connection, *, poll_id: str, user_id: str, display_name: str, choice: str, ts: float
) -> None:
    """One vote per user per poll: a later vote replaces the earlier one."""
    conn.execute(
        "INSERT INTO votes (poll_id, user_id, display_name, choice, ts) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (poll_id, user_id) DO UPDATE SET display_name = excluded.display_name,"
        " choice = excluded.choice, ts = excluded.ts",
        (poll_id, user_id, display_name, choice, ts),
    )


def close_poll(
    conn: sqlite3.Connection,
    *,
    poll_id: str,
    outcome: str,
    answer: dict | None = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        "UPDATE polls SET closed_at = ?, outcome = ?, answer = ?, reason = ?"
        " WHERE id = ? AND closed_at IS NULL",
        (_now(), outcome, json.dumps(answer, ensure_ascii=False) if answer else None, reason, poll_id),
    )


def cancel_open_polls(conn: sqlite3.Connection, *, reason: str) -> int:
    """Close every poll left open (a server that stopped mid-poll); returns how many."""
    return conn.execute(
        "UPDATE polls SET closed_at = ?, outcome = 'cancelled', reason = ? WHERE closed_at IS NULL",
        (_now(), reason),
    ).rowcount


def award(conn: sqlite3.Connection, *, results: list[dict]) -> None:
    """Score one revealed predict poll: each result is {user_id, display_name, points, exact}. Every
    voter's total grows by one; an exact prediction extends the streak, anything else ends it."""
    now = _now()
    conn.executemany(
        "INSERT INTO scores (user_id, display_name, points, correct, total, streak, updated_at)"
        " VALUES (:user_id, :display_name, :points, :exact, 1, :exact, :now)"
        " ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name,"
        " points = points + excluded.points, correct = correct + excluded.correct, total = total + 1,"
        " streak = CASE WHEN excluded.correct THEN streak + 1 ELSE 0 END,"
        " updated_at = CASE WHEN excluded.points > 0 THEN excluded.updated_at ELSE updated_at END",
        [{**r, "exact": int(r["exact"]), "now": now} for r in results],
    )


_STANDING = "ORDER BY points DESC, correct DESC, updated_at ASC, user_id"  # ties: who got there first


def leaderboard(conn: sqlite3.Connection, *, limit: int = 10) -> list[dict]:
    rows = conn.execute(
        "SELECT user_id, display_name AS user, points, correct, total, streak"
        f" FROM scores {_STANDING} LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]


def user_score(conn: sqlite3.Connection, *, user_id: str) -> dict | None:
    """One predictor's score with their rank in the same order as the leaderboard."""
    row = conn.execute(
        "SELECT * FROM (SELECT user_id, display_name AS user, points, correct, total, streak,"
        f" ROW_NUMBER() OVER ({_STANDING}) AS rank FROM scores) WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    return dict(row) if row else None


def _poll_row(conn: sqlite3.Connection, row: sqlite3.Row) -> dict:
    poll = dict(row)
    poll["choices"] = json.loads(poll["choices"]) if poll["choices"] else None
    poll["answer"] = json.loads(poll["answer"]) if poll["answer"] else None
    counts = conn.execute(
        "SELECT choice, COUNT(*) AS votes FROM votes WHERE poll_id = ?"
        " GROUP BY choice ORDER BY votes DESC, choice",
        (poll["id"],),
    )
    poll["votes"] = {r["choice"]: r["votes"] for r in counts}
    poll["total_votes"] = sum(poll["votes"].values())
    return poll


def list_polls(conn: sqlite3.Connection, *, limit: int = 50, before: float | None = None) -> list[dict]:
    """Newest first, each with its vote counts; `before` pages by `opened_at`."""
    sql, args = "SELECT * FROM polls", []
    if before is not None:
        sql += " WHERE opened_at < ?"
        args.append(before)
    rows = conn.execute(sql + " ORDER BY opened_at DESC LIMIT ?", [*args, limit]).fetchall()
    return [_poll_row(conn, r) for r in rows]


def get_poll(conn: sqlite3.Connection, *, poll_id: str) -> dict | None:
    row = conn.execute("SELECT * FROM polls WHERE id = ?", (poll_id,)).fetchone()
    return _poll_row(conn, row) if row else None
