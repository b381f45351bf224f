"""The SQLite store: migrations, batched durable writes, reads, cursor paging; torch-free."""

import asyncio
import json
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


def insight(blocks: int = 3, seed: int = 0) -> dict:
    """A protocol-shaped insight whose numbers survive the archive's rounding exactly (maps in
    steps of 1/63, probabilities and values to 4 decimals)."""
    step = lambda k: [((i * 37 + k * 11 + seed) % 64) / 63 for i in range(81)]  # noqa: E731
    return {
        "top": [{**names(u), "prob": p} for u, p in (("7g7f", 0.4213), ("2g2f", 0.3)) ],
        "value": 0.1, "black_win": 0.55, "value_head": -0.0625, "phase": "opening", "think_ms": 2.5,
        "maps": {"se_attention": [step(k) for k in range(blocks)], "se_attention_mean": step(50),
                 "activation": [step(100 + k) for k in range(blocks)], "saliency": step(7),
                 "policy_mass": step(8)},
    }  # fmt: skip


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
            "insight": insight() if p == 1 else None,
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
    assert game["moves"][0]["insight"] == insight() and game["moves"][1]["insight"] is None
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


def _version_1_archive(path: Path, games: int = 3, plies: int = 4) -> list[dict]:
    """An archive as the first server wrote it: schema 1 only, insight as full-float JSON text."""
    conn = st.connect(path)
    for statement in st._statements(st.MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    written = []
    for g in range(games):
        gid = f"old-{g}"
        conn.execute(
            "INSERT INTO games (id, run_id, kind, start_sfen, black, white, weights_version, started_at,"
            " ended_at, result, reason, plies, final_sfen, kif)"
            " VALUES (?, 'r0', 'showcase', 's0', 'ai', 'ai', 1, ?, ?, ?, ?, ?, 'sN', 'KIF')",
            (gid, 100.0 + g, None if g == 2 else 200.0 + g, None if g == 2 else "white", None, plies),
        )
        for ply in range(1, plies + 1):
            full = insight(seed=g * 10 + ply)
            for m in full["maps"]["se_attention"]:  # full floats, not on the 1/255 grid
                m[:] = [v * 0.999 + 0.0003 for v in m]
            full["top"][0]["prob"] = 0.123456789
            conn.execute(
                "INSERT INTO moves (game_id, ply, sfen_before, sfen_after, usi, western, japanese,"
                " chosen_prob, weights_version, insight, ts)"
                " VALUES (?, ?, 'a', 'b', '7g7f', 'P-7f', '▲７六歩', 0.5, 1, ?, 1.0)",
                (gid, ply, json.dumps(full)),
            )
            written.append(full)
    conn.close()
    return written


def test_a_populated_version_1_archive_is_upgraded_in_place_losing_nothing(tmp_path):
    path = tmp_path / "old.sqlite3"
    written = _version_1_archive(path)
    before = path.stat().st_size
    store = st.Store(path).open()
    try:
        games = run(store.read(lambda c: [st.get_game(c, game_id=f"old-{g}") for g in range(3)]))
        version = run(store.read(lambda c: c.execute("PRAGMA user_version").fetchone()[0]))
        values = run(
            store.read(lambda c: [r[0] for r in c.execute("SELECT value FROM moves ORDER BY rowid")])
        )
        kinds = run(store.read(lambda c: c.execute("SELECT typeof(insight) FROM moves").fetchall()))
    finally:
        store.close()
    assert version == st.SCHEMA_VERSION
    assert [g["result"] for g in games] == ["white", "white", None] and all(
        len(g["moves"]) == 4 for g in games
    )
    assert {k[0] for k in kinds} == {"blob"}
    assert values == [w["value"] for w in written]
    decoded = [m["insight"] for g in games for m in g["moves"]]
    for got, sent in zip(decoded, written, strict=True):
        assert got["top"][0]["prob"] == 0.1235 and got["phase"] == sent["phase"]
        for name in ("se_attention", "activation"):
            for a, b in zip(got["maps"][name], sent["maps"][name], strict=True):
                assert max(abs(x - y) for x, y in zip(a, b, strict=True)) <= 1 / 126 + 1e-12
    assert path.stat().st_size < before  # compacted once after the upgrade: the space is given back


def test_interrupted_is_a_result_after_the_upgrade_and_a_migration_failure_changes_nothing(tmp_path):
    path = tmp_path / "old.sqlite3"
    _version_1_archive(path, games=1, plies=2)
    conn = st.connect(path)
    conn.execute("UPDATE moves SET insight = '{not json' WHERE ply = 2")  # a damaged row: v4 must fail
    conn.commit()
    with pytest.raises(json.JSONDecodeError):
        st.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3  # 2 and 3 committed; 4 rolled back
    assert conn.execute("SELECT COUNT(*) FROM moves").fetchone()[0] == 2
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    conn.execute("UPDATE moves SET insight = NULL WHERE ply = 2")
    assert st.migrate(conn) == 3
    conn.execute("UPDATE games SET result = 'interrupted', reason = 'server restart'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE games SET result = 'lost'")
    assert conn.execute("SELECT COUNT(*) FROM moves").fetchone()[0] == 2


def test_a_damaged_insight_row_costs_that_moves_insight_only(store):
    start, moves, _ = game_msgs("g1", plies=3)
    moves[2]["insight"] = insight(seed=3)

    async def go():
        await store.write(lambda c: st.start_game(c, run_id="r1", game=start))
        for m in moves:
            store.submit(lambda c, m=m: st.add_move(c, move=m))
        await store.write(lambda c: c.execute("UPDATE moves SET insight = X'0100' WHERE ply = 1"))
        return await store.read(lambda c: st.get_game(c, game_id="g1"))

    game = run(go())
    assert [m["ply"] for m in game["moves"]] == [1, 2, 3]
    assert game["moves"][0]["insight"] is None and "corrupt" in game["moves"][0]["insight_error"]
    assert game["moves"][2]["insight"] == insight(seed=3) and "insight_error" not in game["moves"][2]
