"""Live engine analysis through a real server: a real Fairy-Stockfish judges each showcase move, the
viewers get it as its own message, the archive keeps it with the move; without the engine the
snapshot and /healthz say what is missing."""

import asyncio
import json
import time
from contextlib import asynccontextmanager

import httpx
import pytest
from test_server import Running, game_messages, hello, recv_until, send_all, trainer_headers
from websockets.asyncio.client import connect

from showcase_core.engines.usi import resolve_command
from showcase_core.protocol import Analysis, validate_payload

needs_fsf = pytest.mark.skipif(
    resolve_command("fairy-stockfish") is None, reason="fairy-stockfish not installed"
)


@asynccontextmanager
async def linked(srv):
    """A viewer (its snapshot read) and a trainer link that has said hello: (viewer, snapshot, trainer)."""
    async with connect(f"{srv.ws}/ws", proxy=None) as viewer:
        snapshot = json.loads(await viewer.recv())
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello())])
            yield viewer, snapshot, tr


def poll_until(fetch, done, timeout=20.0):
    """`fetch()` again until `done(value)`, within a deadline; the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def admin(srv) -> dict:
    token = (srv.settings.admin_token_path).read_text().strip()
    return {"Authorization": f"Bearer {token}"}


@needs_fsf
def test_each_showcase_move_is_analysed_published_and_stored(tmp_path):
    messages, _ = game_messages(seed=3, plies=6)

    async def go():
        async with linked(srv) as (viewer, snapshot, tr):
            await send_all(tr, messages[:-1], start_seq=1)
            got = {}
            while len(got) < 6:
                m = await recv_until(viewer, "analysis", timeout=30)
                got[m["d"]["ply"]] = m["d"]
            # The trainer resends a move (as after a reconnect): the stored analysis stays.
            await send_all(tr, [messages[1], messages[-1]], start_seq=50)
            await recv_until(viewer, "game_end")
            async with connect(f"{srv.ws}/ws", proxy=None) as late:
                late_snapshot = json.loads(await late.recv())
        return snapshot, got, late_snapshot

    with Running(tmp_path, analysis_live_backlog=16) as srv:
        snapshot, got, late = asyncio.run(go())
        client = httpx.Client(base_url=srv.http)
        stored = client.get("/api/games/g-1").json()
        health = client.get("/healthz").json()
    engine = snapshot["d"]["engine"]
    assert engine["available"] is True and "nodes 20000" in engine["engine"]
    for ply, d in got.items():
        validate_payload("analysis", d)
        move = messages[ply][1]
        assert d["played"] == move["move"]
        assert d["label"] in ("best", "good", "inaccuracy", "mistake", "blunder")
        assert 0 <= d["black_chance_before"] <= 1 and 0 <= d["loss"] <= 100
        assert "Fairy-Stockfish" in d["engine"]
        assert (d["label"] == "best") == (d["best"]["usi"] == d["played"]["usi"])
    # Random moves lose something somewhere; a best move loses nothing.
    assert any(d["loss"] > 0 for d in got.values())
    assert all(d["loss"] == 0 for d in got.values() if d["label"] == "best")
    assert [m["analysis"]["ply"] for m in stored["moves"]] == [1, 2, 3, 4, 5, 6]
    assert stored["moves"][0]["analysis"] == got[1]
    assert [a["ply"] for a in late["d"]["analyses"]] == [1, 2, 3, 4, 5, 6]
    assert health["engine"]["analysed"] == 6 and health["engine"]["process"]["alive"] is True


@needs_fsf
def test_a_fast_showcase_skips_old_positions_and_counts_them(tmp_path):
    messages, _ = game_messages(seed=5, plies=12)

    async def go():
        async with linked(srv) as (viewer, _, tr):
            await send_all(tr, messages[:-1], start_seq=1)
            while True:  # the newest move is always judged
                m = await recv_until(viewer, "analysis", timeout=30)
                if m["d"]["ply"] == 12:
                    return

    with Running(tmp_path, analysis_live_backlog=1) as srv:
        asyncio.run(go())
        engine = httpx.get(f"{srv.http}/healthz").json()["engine"]
    assert engine["skipped"] > 0 and engine["analysed"] + engine["skipped"] == 12


@needs_fsf
def test_an_archived_game_is_analysed_on_request(tmp_path):
    messages, _ = game_messages(seed=4, plies=4, game_id="old-1")

    async def feed():
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            messages[0][1]["kind"] = "selfplay"  # archived only: no live analysis
            await send_all(tr, [("hello", hello()), *messages])
            await asyncio.sleep(0)

    with Running(tmp_path) as srv:
        asyncio.run(feed())
        client = httpx.Client(base_url=srv.http)
        stored = poll_until(
            lambda: client.get("/api/games/old-1"),
            lambda r: r.status_code == 200 and len(r.json()["moves"]) == 4,
        )
        assert all(m["analysis"] is None for m in stored.json()["moves"])
        assert client.post("/api/games/old-1/analyse").status_code == 401
        assert client.post("/api/games/nope/analyse", headers=admin(srv)).status_code == 404
        queued = client.post("/api/games/old-1/analyse", headers=admin(srv)).json()
        assert queued["queued"] == 4
        twice = client.post("/api/games/old-1/analyse", headers=admin(srv)).json()
        # Moves still queued or already judged are not queued again (at most the one being judged now).
        assert twice["queued"] <= 1
        moves = poll_until(
            lambda: client.get("/api/games/old-1").json()["moves"], lambda ms: all(m["analysis"] for m in ms)
        )
        assert all(Analysis.model_validate(m["analysis"]).played.usi == m["usi"] for m in moves)
        again = client.post("/api/games/old-1/analyse", headers=admin(srv)).json()
        assert again["queued"] == 0  # nothing left to judge


def test_without_the_engine_the_pages_are_told_what_is_missing(tmp_path):
    messages, _ = game_messages(seed=3, plies=3)

    async def go():
        async with linked(srv) as (viewer, snapshot, tr):
            await send_all(tr, messages, start_seq=1)
            seen = []
            while True:
                m = json.loads(await asyncio.wait_for(viewer.recv(), 10))
                seen.append(m["t"])
                if m["t"] == "game_end":
                    return snapshot, seen

    with Running(tmp_path, analysis_engine="no-such-engine-anywhere") as srv:
        snapshot, seen = asyncio.run(go())
        client = httpx.Client(base_url=srv.http)
        health = client.get("/healthz").json()
        refused = client.post("/api/games/g-1/analyse", headers=admin(srv))
    engine = snapshot["d"]["engine"]
    assert engine["available"] is False and "apt-get install fairy-stockfish" in engine["message"]
    assert "analysis" not in seen and seen.count("move") == 3
    assert health["engine"]["available"] is False
    assert refused.status_code == 503 and "apt-get install fairy-stockfish" in refused.json()["detail"]
