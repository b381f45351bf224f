"""Showcase matches: the AI against one of its own earlier checkpoints and against an engine rung,
each played to the end by the real showcase through a real server, the games in the archive with
both players named and the head-to-head record in /api/matches."""

import time
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
import torch
from test_server import TOKEN, Running, hello

from showcase_core.engines.ladder import available, load_table, table_rungs
from showcase_core.protocol import Hello, Plan
from showcase_core.publisher import Publisher
from showcase_core.shogi.records import from_kif
from trainer.checkpoint import save_checkpoint
from trainer.matches import Opponents, OpponentUnavailable
from trainer.model import ModelArgs, build_model
from trainer.showcase import Showcase

FSF_N1 = next(r for r in table_rungs(load_table()) if r.name == "fsf-n1")
ENGINE = pytest.mark.skipif(
    not available(FSF_N1), reason="needs fairy-stockfish (apt-get install fairy-stockfish)"
)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    args = ModelArgs(depth=1, width=8, value_hidden=8)
    return build_model(args), args


def write_checkpoint(directory: Path, stem: str, update: int, seed: int) -> Path:
    model, args = tiny_model(seed)
    payload = {"model": model.state_dict(), "model_args": asdict(args), "update": update, "config": {}}
    return save_checkpoint(directory / f"{stem}.pt", payload)


def test_opponents_offer_kept_checkpoints_and_installed_rungs_and_refuse_the_rest(tmp_path):
    ckpts = tmp_path / "checkpoints"
    write_checkpoint(ckpts, "update_000010", 10, seed=1)
    write_checkpoint(ckpts, "minute_5", 7, seed=2)
    (ckpts / "latest.pt").write_bytes((ckpts / "minute_5.pt").read_bytes())  # not an opponent
    (ckpts / "update_000020.pt").write_bytes(b"not a checkpoint")  # corrupt: skipped with a reason
    opponents = Opponents(ckpts, elo_at=lambda u: 100.0 + u)
    offered = {o.id: (o.name, o.elo) for o in opponents.offered()}
    assert offered["past:minute_5"] == ("the AI after 5 minutes", 107.0)
    assert offered["past:update_000010"] == ("the AI at update 10", 110.0)
    assert "past:latest" not in offered and "rung:random" in offered and "rung:greedy" in offered
    assert offered["rung:greedy"] == ("the greedy mover", pytest.approx(200.4))
    with pytest.raises(OpponentUnavailable, match="unreadable or corrupt"):
        opponents.open("past:update_000020", temperature=0.5, seed=0)
    with pytest.raises(OpponentUnavailable, match="not a checkpoint"):
        opponents.open("past:../secrets", temperature=0.5, seed=0)
    with pytest.raises(OpponentUnavailable, match="no such rung"):
        opponents.open("rung:nobody", temperature=0.5, seed=0)
    nothing = Opponents(ckpts, search_dirs=[str(tmp_path / "empty")])
    assert all(not o.id.startswith("rung:fsf") for o in nothing.offered())
    with pytest.raises(OpponentUnavailable, match="not installed"):
        nothing.open("rung:fsf-n1", temperature=0.5, seed=0)


def wait(predicate, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@ENGINE
def test_matches_against_an_earlier_checkpoint_and_an_engine_rung_play_to_the_end_and_are_archived(tmp_path):
    ckpts = tmp_path / "run" / "checkpoints"
    write_checkpoint(ckpts, "update_000010", 10, seed=1)
    model, _ = tiny_model(seed=3)
    opponents = Opponents(ckpts, elo_at=lambda u: 50.0)
    with Running(tmp_path) as srv:
        greeting = Hello(**hello(run_id="run-matches"))
        publisher = Publisher(f"{srv.ws}/ws/trainer", TOKEN, lambda: greeting)
        show = Showcase(model, publisher.publish, interval_s=0.01, temperature=0.5, max_plies=40, seed=5,
                        opponents=opponents, elo_now=lambda: 120.0)  # fmt: skip
        show.set_plan(Plan(label="now vs then", opponent="past:update_000010"))
        publisher.start()
        publisher.connected.wait(10)
        show.start()
        try:
            wait(lambda: show.game_id is not None, "the first match")
            show.set_plan(Plan(label="vs the engine", opponent="rung:fsf-n1"))  # the next game
            wait(lambda: show.games_played >= 2, "both matches")
            show.pause()
            deadline = time.monotonic() + 30
            while True:  # the archive has both games, finished
                listing = httpx.get(f"{srv.http}/api/games", params={"kind": "showcase"}).json()["games"]
                ended = [g for g in listing if g["ended_at"] is not None]
                if len(ended) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            record = httpx.get(f"{srv.http}/api/matches", params={"run": "run-matches"}).json()
            first_id = min(ended, key=lambda g: g["started_at"])["id"]
            detail = httpx.get(f"{srv.http}/api/games/{first_id}").json()
        finally:
            show.stop()
            publisher.stop()
    ended.sort(key=lambda g: g["started_at"])
    first, second = ended[0], ended[1]
    assert first["opponent"] == "past:update_000010" and first["agent"] == "black"
    assert (first["black"], first["white"]) == ("Shogi Showcase AI", "the AI at update 10")
    assert second["opponent"] == "rung:fsf-n1" and second["agent"] == "white"
    assert (second["black"], second["white"]) == (
        "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)",
        "Shogi Showcase AI",
    )
    assert all(g["result"] in ("black", "white", "draw", "truncated") for g in (first, second))
    by = {r["opponent"]: r for r in record["record"]}
    assert set(by) == {"past:update_000010", "rung:fsf-n1"}
    for r, g in ((by["past:update_000010"], first), (by["rung:fsf-n1"], second)):
        assert r["games"] == 1 and r["interrupted"] == 0
        expected = (
            "draws"
            if g["result"] in ("draw", "truncated")
            else ("wins" if g["result"] == g["agent"] else "losses")
        )
        assert r[expected] == 1
    assert by["rung:fsf-n1"]["name"] == "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)"
    # The opponent's moves (White's, the even plies) carry no insight: only the AI's own choices do.
    moves = detail["moves"]
    assert moves and all((m["insight"] is None) == (m["ply"] % 2 == 0) for m in moves)


def play_one_game(plan: Plan, opponents: Opponents, *, max_plies: int, timeout: float) -> list:
    """The showcase's messages until it has played one game with `plan`."""
    model, _ = tiny_model(seed=3)
    events = []
    show = Showcase(model, lambda t, p: events.append((t, p)), interval_s=0.001, max_plies=max_plies,
                    opponents=opponents)  # fmt: skip
    show.set_plan(plan)
    show.start()
    try:
        wait(lambda: show.games_played >= 1, "the game", timeout=timeout)
    finally:
        show.stop()
    return events


def test_a_match_whose_opponent_is_missing_plays_the_ai_against_itself_and_says_why(tmp_path):
    plan = Plan(label="now vs then", opponent="past:update_000999")
    events = play_one_game(plan, Opponents(tmp_path / "none"), max_plies=6, timeout=30)
    start = next(p for t, p in events if t == "game_start")
    assert start.match is None and start.black == start.white == "Shogi Showcase AI"
    assert start.plan.startswith("now vs then: not played (past:update_000999")


OFFERED = [
    {"id": "past:minute_5", "name": "the AI after 5 minutes", "elo": 150.0},
    {"id": "past:update_000100", "name": "the AI at update 100", "elo": 310.0},
    {"id": "rung:fsf-n1", "name": "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)", "elo": 338.1},
    {"id": "rung:fsf-n16", "name": "Fairy-Stockfish 11.1 (fsf-n16: nodes 16)", "elo": 504.0},
]


def match_game(game_id, opponent, name, agent, result, plies=4, seed=0):
    """A finished match game as a trainer sends it: game_start with `match`, moves, game_end."""
    from test_server import game_messages

    messages, _ = game_messages(seed=seed, plies=plies, game_id=game_id)
    start = messages[0][1]
    start["black"], start["white"] = ("ai", name) if agent == "black" else (name, "ai")
    start["match"] = {"opponent": opponent, "opponent_name": name, "agent": agent, "agent_elo": 420.0,
                      "opponent_elo": 338.1}  # fmt: skip
    messages[-1][1]["result"] = result
    return messages


def test_the_control_room_and_a_strategy_poll_choose_a_match_from_what_the_trainer_offers(tmp_path):
    import asyncio
    import json

    from test_polls import admin
    from test_server import send_all, status_message, trainer_headers
    from websockets.asyncio.client import connect

    async def go(srv):
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello()), ("status", status_message(opponents=OFFERED))])
            async with httpx.AsyncClient(base_url=srv.http, headers=admin(tmp_path)) as http:
                deadline = time.monotonic() + 10
                while not (await http.get("/api/matches")).json()["opponents"]:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                refused = await http.post("/api/matches", json={"opponent": "rung:fsf-n4096"})
                bad = await http.post("/api/matches", json={"opponent": "../etc"})
                anonymous = await httpx.AsyncClient(base_url=srv.http).post(
                    "/api/matches", json={"opponent": "rung:fsf-n1"}
                )
                sent = await http.post("/api/matches", json={"opponent": "rung:fsf-n1"})
                control = json.loads(await asyncio.wait_for(tr.recv(), 10))["d"]
                poll = await http.post("/api/polls", json={"kind": "strategy", "topic": "opponent"})
        return refused, bad, anonymous, sent, control, poll

    with Running(tmp_path) as srv:
        refused, bad, anonymous, sent, control, poll = asyncio.run(go(srv))
    assert refused.status_code == 422 and "not an opponent the trainer offers" in refused.json()["detail"]
    assert bad.status_code == 422 and anonymous.status_code == 401
    assert sent.status_code == 202
    assert control["action"] == "plan" and control["plan"]["opponent"] == "rung:fsf-n1"
    assert control["plan"]["label"] == "match against Fairy-Stockfish 11.1 (fsf-n1: nodes 1)"
    # Who next: the earliest and the latest checkpoint, then the rungs nearest the AI (no Elo yet: 0).
    assert poll.status_code == 201
    choices = [c["label"] for c in poll.json()["choices"]]
    assert choices == ["the AI after 5 minutes", "the AI at update 100",
                       "Fairy-Stockfish 11.1 (fsf-n1: nodes 1)",
                       "Fairy-Stockfish 11.1 (fsf-n16: nodes 16)"]  # fmt: skip


def fake_table(mode: str) -> dict:
    """A one-rung ladder table whose engine is tests/fake_engine.py in `mode`."""
    import sys

    fake = str(Path(__file__).with_name("fake_engine.py"))
    engine = {"name": f"fake-{mode}", "command": sys.executable, "args": [fake, mode], "go": {"depth": 1},
              "search_s": 2.0, "handshake_s": 5.0}  # fmt: skip
    rung = {"name": f"fake-{mode}", "kind": "engine", "engine": engine}
    return {"rungs": [{"name": f"fake-{mode}", "elo": 100.0, "error": 0.0, "games": 0, "rung": rung}]}


@pytest.mark.parametrize(
    ("mode", "ending"),
    [
        ("illegal", ("black", "illegal_move")),
        ("resign", ("black", "resignation")),
        ("exit_in_go", None),
        ("hang_in_go", None),
    ],  # fmt: skip  (the AI is Black)
)
def test_an_engine_that_breaks_the_rules_forfeits_and_one_that_dies_or_hangs_voids_the_game(mode, ending):
    plan = Plan(label="vs a broken engine", opponent=f"rung:fake-{mode}")
    events = play_one_game(plan, Opponents(None, table=fake_table(mode)), max_plies=20, timeout=60)
    first = next(p for t, p in events if t == "game_start")
    ends = [p for t, p in events if t == "game_end" and p.game_id == first.game_id]
    assert first.match is not None and first.match.agent == "black"  # the engine plays White
    if ending is None:  # void: no result at all; the server closes it as interrupted, never scored
        assert ends == []
    else:
        assert [(e.result, e.reason) for e in ends] == [ending]
        # The KIF says how it ended (投了 / 反則負け by the engine, on its turn) and reads back as such.
        record = from_kif(ends[0].kif)
        assert (record.result, record.reason) == (
            "black",
            {"illegal": "illegal_move", "resign": "resign"}[mode],
        )
        assert ("投了" if mode == "resign" else "反則負け") in ends[0].kif


def test_a_prediction_hold_does_not_make_the_match_opponent_move_while_paused():
    model, _ = tiny_model(seed=3)
    events = []
    show = Showcase(model, lambda t, p: events.append((t, p)), interval_s=0.001, max_plies=40,
                    opponents=Opponents(None))  # fmt: skip
    show.set_plan(Plan(label="vs random", opponent="rung:random"))
    show.start()
    try:
        wait(lambda: sum(t == "move" for t, _ in events) >= 1, "the AI's first move", timeout=30)
        show.pause()
        time.sleep(0.05)  # let a move in flight land (this only makes the check stricter)
        moves_before = sum(t == "move" for t, _ in events)
        opponent_to_move = show.game.turn == 1
        show.predict_hold("poll-1")
        time.sleep(0.3)
        moves_after = sum(t == "move" for t, _ in events)
    finally:
        show.stop()
    if opponent_to_move:  # the random mover waits for resume; the hold is for the AI's move
        assert moves_after == moves_before
    else:  # the AI's turn: it computes and holds its move, publishing nothing as a move
        assert moves_after == moves_before and any(t == "pending_move" for t, _ in events)
