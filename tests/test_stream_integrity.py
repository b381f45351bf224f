"""A long stream's bookkeeping against a real uvicorn: a reconnecting trainer's replay reaches viewers
once, interrupted games are closed as such, and the archive says so."""

import asyncio
import json
import time

import httpx
from test_server import Running, game_messages, hello, send_all, trainer_headers
from websockets.asyncio.client import connect

TRAINER = "{}/ws/trainer"


def until(fetch, done, timeout=10.0):
    """Fetch until `done(value)` (the archive writes in the background), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"condition not met: {value!r}"[:500]
        time.sleep(0.02)


async def _drain(viewer, until_t, until_pred=lambda d: True, timeout=10):
    seen = []
    while True:
        m = json.loads(await asyncio.wait_for(viewer.recv(), timeout))
        seen.append(m)
        if m["t"] == until_t and until_pred(m["d"]):
            return seen


def test_a_reconnecting_trainers_replay_reaches_each_viewer_once(tmp_path):
    messages, _ = game_messages(plies=12)
    start, moves = messages[0], messages[1:-1]

    async def go():
        async with connect(f"{srv.ws}/ws", proxy=None) as viewer:
            await viewer.recv()  # snapshot
            async with connect(
                TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None
            ) as tr:
                await send_all(tr, [("hello", hello()), start, *moves[:3]])
                first = await _drain(viewer, "move", lambda d: d["ply"] == 3)
            await _drain(viewer, "trainer_status", lambda d: not d["connected"])
            async with connect(
                TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None
            ) as tr:
                # What the publisher sends on a reconnect: hello, the game so far (on_connect), then
                # its queue, which may hold the same game_start and moves again, then a new move.
                await send_all(tr, [("hello", hello()), start, *moves[:3], start, moves[2], moves[3]])
                second = await _drain(viewer, "move", lambda d: d["ply"] == 4)
            return first, second

    with Running(tmp_path) as srv:
        first, second = asyncio.run(go())
        health = httpx.get(f"{srv.http}/healthz").json()
        game = httpx.get(f"{srv.http}/api/games/g-1").json()
    feed = lambda seen: [(m["t"], m["d"].get("ply")) for m in seen if m["t"] in ("game_start", "move")]  # noqa: E731
    assert feed(first) == [("game_start", None), ("move", 1), ("move", 2), ("move", 3)]
    assert feed(second) == [("move", 4)]
    assert health["trainer_repeats_skipped"] == 1 + 3 + 1 + 1  # start, 3 moves, start, move 3
    assert [m["ply"] for m in game["moves"]] == [1, 2, 3, 4]


def test_games_cut_off_are_closed_as_interrupted_and_reopen_if_their_trainer_plays_on(tmp_path):
    old, _ = game_messages(seed=1, plies=12, game_id="g-old")
    new, _ = game_messages(seed=2, plies=6, game_id="g-new")

    async def feed(srv, messages):
        async with connect(TRAINER.format(srv.ws), additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello()), *messages])
            await tr.send('{"t":"not-a-type"}')  # the server closes the link once all before is handled
            await tr.wait_closed()

    port = None
    with Running(tmp_path) as srv:
        port = srv.port
        asyncio.run(feed(srv, old[:4]))  # three moves of g-old, then the trainer is gone
        game = lambda: httpx.get(f"{srv.http}/api/games/g-old").json()  # noqa: E731
        until(game, lambda g: g["plies"] == 3 and g["result"] is None)
    with Running(tmp_path, port=port) as srv:  # a server restart closes what was left open
        after_restart = httpx.get(f"{srv.http}/api/games/g-old").json()
        listed = httpx.get(f"{srv.http}/api/games", params={"result": "interrupted"}).json()
        asyncio.run(feed(srv, old[:6]))  # the same trainer plays on: the game reopens
        reopened = until(game, lambda g: g["plies"] == 5)
        asyncio.run(feed(srv, new[:3]))  # a new showcase game: g-old was cut off for good
        cut = until(game, lambda g: g["result"] is not None)
        asyncio.run(feed(srv, new[3:]))
        finished = httpx.get(f"{srv.http}/api/games/g-new").json()
    assert (after_restart["result"], after_restart["reason"]) == (
        "interrupted", "the server restarted mid-game",
    )  # fmt: skip
    assert after_restart["ended_at"] is not None and [g["id"] for g in listed["games"]] == ["g-old"]
    assert (reopened["result"], reopened["ended_at"], reopened["plies"]) == (None, None, 5)
    assert cut["result"] == "interrupted" and "next showcase game" in cut["reason"] and cut["plies"] == 5
    assert finished["result"] == new[-1][1]["result"] and len(finished["moves"]) == 6
