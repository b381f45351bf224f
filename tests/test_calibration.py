"""Value calibration: recorded per-move values of finished showcase games against their results."""

import asyncio

import httpx
import pytest
from test_server import Running, game_messages, held_move, hello, recv_until, send_all, trainer_headers
from test_store import insight as full_insight
from websockets.asyncio.client import connect

from server import store as st
from showcase_core.shogi.game import Game

BLACK_TO_MOVE = Game().sfen()
WHITE_TO_MOVE = BLACK_TO_MOVE.replace(" b ", " w ")


def add_game(conn, game_id, *, kind="showcase", result, values, run_id="run-1"):
    """A game whose moves carry insight with the given values ((side to move, value) or None)."""
    st.start_game(
        conn,
        run_id=run_id,
        game={"game_id": game_id, "kind": kind, "start_sfen": BLACK_TO_MOVE, "black": "ai", "white": "ai",
              "weights_version": 1},
    )  # fmt: skip
    for ply, entry in enumerate(values, start=1):
        sfen = BLACK_TO_MOVE if entry is None or entry[0] == "b" else WHITE_TO_MOVE
        insight = None if entry is None else {**full_insight(), "value": entry[1]}
        st.add_move(
            conn,
            move={"game_id": game_id, "ply": ply, "sfen_before": sfen, "sfen_after": sfen,
                  "move": {"usi": "7g7f", "western": "P-7f", "japanese": "▲７六歩"}, "chosen_prob": 0.5,
                  "weights_version": 1, "insight": insight},
        )  # fmt: skip
    if result is not None:
        st.end_game(
            conn,
            end={"game_id": game_id, "result": result, "reason": "checkmate", "plies": len(values),
                 "final_sfen": BLACK_TO_MOVE, "kif": ""},
        )  # fmt: skip


@pytest.fixture
def conn(tmp_path):
    c = st.connect(tmp_path / "archive.db")
    st.migrate(c)
    yield c
    c.close()


def test_bins_predicted_black_chance_against_black_score(conn):
    add_game(conn, "g-a", result="black", values=[("b", 0.6), ("w", 0.6), ("b", -0.1), None])
    add_game(conn, "g-b", result="draw", values=[("b", 0.7), ("w", -0.9)])
    add_game(conn, "g-c", result="white", values=[("b", -0.5)])
    add_game(conn, "g-d", result="truncated", values=[("b", 0.9)])  # no outcome: skipped
    add_game(conn, "g-e", kind="evaluation", result="black", values=[("b", 0.9)])  # not a showcase game
    add_game(conn, "g-f", result=None, values=[("b", 0.9)])  # still playing
    got = st.calibration(conn, bins=10)
    # Black's chance: (1 + v) / 2 with Black to move, (1 - v) / 2 with White to move.
    # g-a (Black won, 1): 0.8, 0.2, 0.45; g-b (draw, 0.5): 0.85, 0.95; g-c (White won, 0): 0.25.
    by_bin = {i: b for i, b in enumerate(got["bins"]) if b["count"]}
    assert sorted(by_bin) == [2, 4, 8, 9]
    assert by_bin[2]["count"] == 2
    assert by_bin[2]["predicted"] == pytest.approx((0.2 + 0.25) / 2)
    assert by_bin[2]["actual"] == pytest.approx((1 + 0) / 2)
    assert (by_bin[4]["count"], by_bin[4]["predicted"], by_bin[4]["actual"]) == (1, pytest.approx(0.45), 1.0)
    assert by_bin[8]["predicted"] == pytest.approx((0.8 + 0.85) / 2)
    assert by_bin[8]["actual"] == pytest.approx((1 + 0.5) / 2)
    assert (by_bin[9]["count"], by_bin[9]["predicted"], by_bin[9]["actual"]) == (1, pytest.approx(0.95), 0.5)
    assert [(b["lo"], b["hi"]) for b in got["bins"]][:2] == [(0.0, 0.1), (0.1, 0.2)]
    assert all(
        b["predicted"] is None and b["actual"] is None for i, b in enumerate(got["bins"]) if i not in by_bin
    )
    squared = [(0.8 - 1) ** 2, (0.2 - 1) ** 2, (0.45 - 1) ** 2, (0.85 - 0.5) ** 2, (0.95 - 0.5) ** 2, 0.25**2]
    assert got["brier"] == pytest.approx(sum(squared) / 6)
    assert (got["games"], got["positions"], got["truncated_skipped"]) == (3, 6, 1)


def test_run_filter_game_limit_and_empty_archive(conn):
    empty = st.calibration(conn, bins=4)
    assert empty["games"] == 0 and empty["positions"] == 0 and empty["brier"] is None
    assert [b["count"] for b in empty["bins"]] == [0, 0, 0, 0]
    add_game(conn, "g-1", result="black", values=[("b", 1.0)], run_id="old")
    add_game(conn, "g-2", result="white", values=[("w", 1.0), ("b", -1.0)])
    newest = st.calibration(conn, bins=4, games=1)  # only g-2, which ended last
    assert newest["games"] == 1 and [b["count"] for b in newest["bins"]] == [2, 0, 0, 0]
    assert newest["brier"] == 0.0
    old = st.calibration(conn, bins=4, run_id="old")
    assert old["positions"] == 1 and old["bins"][3] == {"lo": 0.75, "hi": 1.0, "count": 1, "predicted": 1.0,
                                                        "actual": 1.0}  # fmt: skip


def test_endpoint_agrees_with_the_trainers_own_black_win(tmp_path):
    """A scripted trainer plays a showcase game with real insight; the endpoint's bins match the
    `black_win` the trainer computed for each position, so the sign convention is the trainer's."""
    messages, _ = game_messages(seed=3, plies=6)
    for t, d in messages:
        if t == "move":
            d["insight"] = held_move(Game(d["sfen_before"]), "g-1", ply=d["ply"])["insight"]
    messages[-1][1]["result"] = "white"
    chances = [d["insight"]["black_win"] for t, d in messages if t == "move"]
    assert len({round(c, 6) for c in chances}) > 1  # different positions, different predictions

    async def go():
        async with (
            connect(f"{srv.ws}/ws", proxy=None) as viewer,
            connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr,
        ):
            await send_all(tr, [("hello", hello()), *messages])
            await recv_until(viewer, "game_end")  # published once the game is durable

    with Running(tmp_path) as srv:
        client = httpx.Client(base_url=srv.http)
        before = client.get("/api/calibration").json()
        asyncio.run(go())
        got = client.get("/api/calibration", params={"bins": 5, "run": "run-1"}).json()
        other_run = client.get("/api/calibration", params={"run": "run-2"}).json()
        bad = client.get("/api/calibration", params={"bins": 1})
    assert before["games"] == 0 and len(before["bins"]) == 10
    assert got["games"] == 1 and got["positions"] == len(chances) and other_run["positions"] == 0
    for i, b in enumerate(got["bins"]):
        inside = [c for c in chances if min(4, int(c * 5)) == i]
        assert b["count"] == len(inside)
        if inside:
            assert b["predicted"] == pytest.approx(sum(inside) / len(inside))
            assert b["actual"] == 0.0  # White won every position's game
    assert got["brier"] == pytest.approx(sum(c**2 for c in chances) / len(chances))
    assert bad.status_code == 422
