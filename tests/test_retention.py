"""Archive retention, size and online backup against real SQLite files; torch-free."""

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading

from test_store import game_msgs, insight

from server import retention as rt
from server import store as st

NOW = 1_000_000_000.0
DAY = rt.DAY_S


def add(conn, game_id, kind, *, age_days=None, plies=2, with_insight=False):
    """A game of `kind` that ended `age_days` before NOW (None: still open)."""
    start, moves, end = game_msgs(game_id, plies=plies, kind=kind)
    st.start_game(conn, run_id="r", game=start)
    for m in moves:
        st.add_move(conn, move={**m, "insight": insight(blocks=9, seed=m["ply"]) if with_insight else None})
    if age_days is not None:
        st.end_game(conn, end=end)
        conn.execute("UPDATE games SET ended_at = ? WHERE id = ?", (NOW - age_days * DAY, game_id))


def ids(store):
    return asyncio.run(store.read(lambda c: sorted(r[0] for r in c.execute("SELECT id FROM games"))))


def test_age_limits_delete_sampled_first_and_keep_open_and_milestone_games(tmp_path):
    store = st.Store(tmp_path / "a.sqlite3").open()
    try:

        def fill(c):
            add(c, "self-old", "selfplay", age_days=8)
            add(c, "eval-old", "evaluation", age_days=9)
            add(c, "eval-milestone", "evaluation", age_days=30)
            milestone = {
                "kind": "eval_jump",
                "update": 50,
                "title": "t",
                "detail": "d",
                "game_id": "eval-milestone",
            }
            st.add_milestone(c, run_id="r", milestone=milestone)
            add(c, "self-new", "selfplay", age_days=1)
            add(c, "show-old", "showcase", age_days=40)
            add(c, "show-new", "showcase", age_days=2)
            add(c, "show-open", "showcase", age_days=None)
            for pid, closed in (("p-old", NOW - 40 * DAY), ("p-new", NOW - DAY)):
                st.open_poll(c, poll={"id": pid, "kind": "predict", "question": "q", "opened_at": closed - 30,
                                      "closes_at": closed})  # fmt: skip
                st.record_vote(c, poll_id=pid, user_id="u1", display_name="U1", choice="7g7f", ts=closed - 5)
                c.execute("UPDATE polls SET closed_at = ?, outcome = 'revealed' WHERE id = ?", (closed, pid))
            st.award(c, results=[{"user_id": "u1", "display_name": "U1", "points": 10, "exact": True}])

        asyncio.run(store.write(fill))
        only_sampled = asyncio.run(rt.run_pass(store, rt.Policy(keep_sampled_days=7), now=NOW))
        after_sampled = ids(store)
        both = asyncio.run(rt.run_pass(store, rt.Policy(keep_sampled_days=7, keep_days=30, chunk=1), now=NOW))
        left = ids(store)
        polls = asyncio.run(store.read(lambda c: [r[0] for r in c.execute("SELECT id FROM polls")]))
        votes = asyncio.run(store.read(lambda c: c.execute("SELECT COUNT(*) FROM votes").fetchone()[0]))
        board = asyncio.run(store.read(lambda c: st.leaderboard(c)))
        moves = asyncio.run(store.read(lambda c: c.execute("SELECT COUNT(*) FROM moves").fetchone()[0]))
    finally:
        store.close()
    assert only_sampled.deleted == {"sampled": 2}
    assert after_sampled == ["eval-milestone", "self-new", "show-new", "show-old", "show-open"]
    assert both.deleted == {"showcase": 1, "polls": 1}  # chunk=1: one per transaction, counted whole
    assert left == ["eval-milestone", "self-new", "show-new", "show-open"]
    assert polls == ["p-new"] and votes == 1  # the old poll's votes went with it
    assert board[0]["points"] == 10  # the leaderboard keeps its totals
    assert moves == 2 * len(left)  # moves of deleted games cascade, no orphans


def test_a_size_limit_deletes_oldest_sampled_then_showcase_and_says_when_it_cannot(tmp_path):
    store = st.Store(tmp_path / "b.sqlite3").open()
    try:

        def fill(c):
            for i in range(6):
                add(c, f"show-{i}", "showcase", age_days=20 - i, plies=30, with_insight=True)
                add(c, f"self-{i}", "selfplay", age_days=20 - i, plies=30, with_insight=True)
            add(c, "show-open", "showcase", age_days=None, plies=30, with_insight=True)

        asyncio.run(store.write(fill))
        full = asyncio.run(store.read(rt.size))
        limit = int(full["bytes"] * 0.55)
        first = asyncio.run(
            rt.run_pass(store, rt.Policy(keep_sampled_days=0, max_bytes=limit, chunk=1), now=NOW)
        )
        kept = ids(store)
        tight = asyncio.run(rt.run_pass(store, rt.Policy(keep_sampled_days=0, max_bytes=1, chunk=2), now=NOW))
        last = ids(store)
        after = asyncio.run(store.read(rt.size))
    finally:
        store.close()
    assert first.bytes_before == full["bytes"] and first.bytes_after <= limit < first.bytes_before
    assert first.deleted["sampled"] == 6 and not first.over_limit  # every sampled game went first
    assert kept[-1] == "show-open" and kept[0] > "show-0"  # then the oldest showcase games
    assert tight.over_limit and last == ["show-open"]  # an open game is never deleted
    assert after["games"] == {"showcase": 1, "selfplay": 0, "evaluation": 0} and after["moves"] == 30
    assert after["file_bytes"] >= after["bytes"]


def test_backup_while_the_store_writes_is_complete_and_consistent(tmp_path):
    source = tmp_path / "data" / "showcase.sqlite3"  # where `--data-dir data` finds the archive
    store = st.Store(source).open()
    stop = threading.Event()
    written = []

    def keep_writing():
        while not stop.is_set():
            i = len(written)
            store.submit(lambda c, i=i: add(c, f"w-{i}", "selfplay", age_days=1, plies=5)).result(10)
            written.append(i)

    try:
        asyncio.run(
            store.write(lambda c: [add(c, f"g-{i}", "showcase", age_days=1, plies=5) for i in range(20)])
        )
        writer = threading.Thread(target=keep_writing)
        writer.start()
        target = tmp_path / "out" / "copy.sqlite3"
        cli = [sys.executable, "-m", "server", "backup", str(target)]
        result = subprocess.run([*cli, "--data-dir", str(tmp_path / "data")], capture_output=True, text=True)
        missing = subprocess.run(
            [*cli, "--data-dir", str(tmp_path / "nowhere")], capture_output=True, text=True
        )
        stop.set()
        writer.join(10)
    finally:
        stop.set()
        store.close()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    conn = sqlite3.connect(target)
    games = {r[0]: r[1] for r in conn.execute("SELECT id, plies FROM games")}
    moves = dict(conn.execute("SELECT game_id, COUNT(*) FROM moves GROUP BY game_id").fetchall())
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert all(f"g-{i}" in games for i in range(20))  # everything committed before the copy began
    assert all(moves.get(g, 0) == p for g, p in games.items())  # no game without all its moves
    assert report["games"]["showcase"] == 20 and report["games"]["selfplay"] == len(games) - 20
    assert len(written) > 0 and not target.with_name("copy.sqlite3.partial").exists()
    assert missing.returncode == 1 and "no archive at" in missing.stderr


def test_the_soak_benchmark_runs_a_short_stream_and_reconciles_it():
    """A 3-minute stream at 60x (3 s, both server restarts, one trainer kill): the benchmark's
    command works and its reconciliation holds. The real figures come from a full run (README)."""
    result = subprocess.run(
        [sys.executable, "-m", "server", "bench", "soak", "--hours", "0.05", "--compression", "60",
         "--kill-every-min", "1.5", "--viewers", "3", "--json"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    rec = report["reconciliation"]
    assert report["server_restarts"] == 2 and report["trainer_kills"] >= 1
    assert rec["games_left_in_progress"] == 0 and rec["games_missing_a_move"] == 0
    assert rec["polls_whose_stored_votes_differ"] == 0 and rec["moves_archived"] > 0
