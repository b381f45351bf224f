"""The SQLite store: migrations, batched durable writes, reads, cursor paging; torch-free."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from server import store as st

ROOT = Path(__file__).resolve().parents[1]


def names(usi):
    return {"usi": usi, "western": "P-7f", "japanese": "▲７六歩"}


def game_msgs(game_id: str, plies: int = 2, kind: str = "showcase"):
    start = {
        "game_id": game_id,
        "kind": kind,
        "start_sfen": "startpos-sfen",
        "black": "ai",
        "white": "ai",
        "weights_version": 3,
    }
    moves = [
        {
            "game_id": game_id,
            "ply": p,
            "sfen_before": f"s{p - 1}",
            "sfen_after": f"s{p}",
            "move": names("7g7f"),
            "chosen_prob": 0.5,
            "weights_version": 3,
            "insight": {"value": 0.1} if p == 1 else None,
        }
        for p in range(1, plies + 1)
    ]
    end = {
        "game_id": game_id,
        "result": "black",
        "reason": "checkmate",
        "plies": plies,
        "final_sfen": f"s{plies}",
        "kif": "KIF",
    }
    return start, moves, end


@pytest.fixture
def store(tmp_path):
    s = st.Store(tmp_path / "showcase.sqlite3").open()
    yield s
    s.close()


def run(coro):
    return asyncio.run(coro)


def test_schema_is_created_in_wal_mode_and_reopening_is_a_no_op(tmp_path):
    path = tmp_path / "db.sqlite3"
    st.Store(path).open().close()
    conn = st.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == st.SCHEMA_VERSION
    assert st.migrate(conn) == st.SCHEMA_VERSION  # nothing left to do
    conn.execute(f"PRAGMA user_version = {st.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(st.StoreError, match="newer"):
        st.Store(path).open()


def test_game_round_trip_with_moves_and_insight(store):
    start, moves, end = game_msgs("g1")

    async def go():
        await store.write(lambda c: st.start_game(c, run_id="r1", game=start))
        for m in moves:
            store.submit(lambda c, m=m: st.add_move(c, move=m))
        await store.write(lambda c: st.end_game(c, end=end))
        return await store.read(lambda c: st.get_game(c, game_id="g1"))

    game = run(go())
    assert game["result"] == "black" and game["plies"] == 2 and game["kif"] == "KIF"
    assert [m["ply"] for m in game["moves"]] == [1, 2]
    assert game["moves"][0]["insight"] == {"value": 0.1} and game["moves"][1]["insight"] is None
    assert run(store.read(lambda c: st.get_game(c, game_id="nope"))) is None


def test_a_failing_write_does_not_sink_its_batch(store):
    start, _, _ = game_msgs("g2")

    async def go():
        ok = store.submit(lambda c: st.start_game(c, run_id=None, game=start))
        bad = store.submit(lambda c: st.end_game(c, end={**game_msgs("ghost")[2]}))
        await store.flush()
        return ok, bad

    ok, bad = run(go())
    assert ok.exception() is None
    assert isinstance(bad.exception(), KeyError)
    assert run(store.read(lambda c: st.get_game(c, game_id="g2")))["kind"] == "showcase"


def test_cursor_paging_and_filters(store):
    async def go():
        for i in range(7):
            start, _, end = game_msgs(f"g{i}", kind="evaluation" if i % 2 else "showcase")
            store.submit(lambda c, s=start: st.start_game(c, run_id="r", game=s))
            if i < 5:
                store.submit(lambda c, e=end: st.end_game(c, end=e))
        await store.flush()

    run(go())
    conn = st.connect(store.path)
    seen, before = [], None
    while True:
        page = st.list_games(conn, limit=3, before=before)
        if not page:
            break
        seen += [g["id"] for g in page]
        before = (page[-1]["started_at"], page[-1]["id"])
    assert sorted(seen) == [f"g{i}" for i in range(7)] and len(seen) == len(set(seen))
    assert {g["id"] for g in st.list_games(conn, limit=10, kind="evaluation")} == {"g1", "g3", "g5"}
    assert len(st.list_games(conn, limit=10, result="black")) == 5
    assert st.list_games(conn, limit=10, run_id="other") == []


def test_metrics_and_milestones(store):
    async def go():
        for u in range(1, 4):
            store.submit(
                lambda c, u=u: st.add_metrics(
                    c, run_id="r", update=u, values={"ppo/approx_kl": u / 100, "x": None}
                )
            )
        milestone = {"kind": "kl_spike", "update": 2, "title": "t", "detail": "d", "value": 0.02}
        store.submit(lambda c: st.add_milestone(c, run_id="r", milestone=milestone))
        store.submit(lambda c: st.add_milestone(c, run_id="r", milestone=milestone))  # repeated: kept once
        await store.flush()

    run(go())
    conn = st.connect(store.path)
    assert st.metric_history(conn, key="ppo/approx_kl", since=2) == [(2, 0.02), (3, 0.03)]
    assert st.metric_history(conn, key="x") == [(1, None), (2, None), (3, None)]
    (m,) = st.list_milestones(conn)
    assert m["update"] == 2 and m["kind"] == "kl_spike"


def test_a_game_is_durable_once_its_end_is_acknowledged(tmp_path):
    path = tmp_path / "db.sqlite3"
    writer = textwrap.dedent(
        f"""
        import asyncio, sys, time
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from server import store as st
        from test_store import game_msgs
        s = st.Store({str(path)!r}).open()
        start, moves, end = game_msgs("durable", plies=40)
        async def go():
            s.submit(lambda c: st.start_game(c, run_id="r", game=start))
            for m in moves:
                s.submit(lambda c, m=m: st.add_move(c, move=m))
            await s.write(lambda c: st.end_game(c, end=end))
        asyncio.run(go())
        print("acked", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "acked"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    game = st.get_game(conn, game_id="durable")
    assert game["result"] == "black" and len(game["moves"]) == 40
