"""Pause-and-predict and strategy polls through a real server: a scripted showcase on the trainer
link that holds and releases as the real one does, viewers that record every frame, local chat."""

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
from test_server import Running, held_move, hello, send_all, trainer_headers
from websockets.asyncio.client import connect

from server import store as st
from server.store import Store
from showcase_core.protocol import dumps, make
from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.openings import OPENINGS


class ScriptedShowcase:
    """Plays the showcase's part: a game from the start position, predict_hold answered with a real
    pending_move (insight from a tiny network), release answered with exactly that move."""

    def __init__(self, srv, game_id="g-1"):
        self.srv, self.game_id = srv, game_id
        self.game = Game()
        self.controls: list[dict] = []
        self.pending: dict | None = None
        self.seq = 0

    async def send(self, t, d):
        await self.ws.send(dumps(make(t, d, seq=self.seq)))
        self.seq += 1

    async def __aenter__(self):
        self.ws = await connect(f"{self.srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None)
        await self.send("hello", hello())
        start = {"game_id": self.game_id, "kind": "showcase", "start_sfen": self.game.sfen(), "black": "ai",
                 "white": "ai", "weights_version": 1}  # fmt: skip
        await self.send("game_start", start)
        self.task = asyncio.create_task(self._serve())
        return self

    async def __aexit__(self, *exc):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.ws.close()

    async def _serve(self):
        async for text in self.ws:
            control = json.loads(text)["d"]
            self.controls.append(control)
            if control["action"] == "predict_hold":
                self.pending = held_move(self.game, self.game_id, ply=self.game.ply + 1)
                self.pending["poll_id"] = control["poll_id"]
                await self.send("pending_move", self.pending)
            elif control["action"] == "release" and self.pending is not None:
                await self.play(self.pending["move"]["usi"])
                self.pending = None

    async def play(self, usi):
        before, prev = self.game.sfen(), (self.game.moves[-1] if self.game.moves else None)
        move = next(
            m for m, u in zip(self.game.legal_moves(), self.game.legal_usi(), strict=True) if u == usi
        )
        named = names(self.game, move, prev)
        self.game.push(move)
        d = {"game_id": self.game_id, "ply": self.game.ply, "sfen_before": before, "move": named,
             "sfen_after": self.game.sfen(), "chosen_prob": 0.2, "weights_version": 1}  # fmt: skip
        await self.send("move", d)


class Viewer:
    """Records every frame a viewer receives."""

    def __init__(self, srv):
        self.srv = srv
        self.frames: list[str] = []

    async def __aenter__(self):
        self.ws = await connect(f"{self.srv.ws}/ws", proxy=None)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self):
        async for text in self.ws:
            self.frames.append(text)

    async def __aexit__(self, *exc):
        self.task.cancel()
        await self.ws.close()

    def messages(self, t=None):
        out = [json.loads(f) for f in self.frames]
        return [m for m in out if t is None or m["t"] == t]

    async def wait(self, t, count=1, timeout=15):
        async def poll():
            while len(self.messages(t)) < count:
                await asyncio.sleep(0.01)
            return self.messages(t)[count - 1]

        return await asyncio.wait_for(poll(), timeout)


@asynccontextmanager
async def scene(srv, tmp_path):
    """A viewer recording every frame, then the scripted showcase's game, and an admin REST client."""
    async with (
        Viewer(srv) as viewer,
        ScriptedShowcase(srv) as show,
        httpx.AsyncClient(base_url=srv.http, headers=admin(tmp_path)) as http,
    ):
        await viewer.wait("game_start")
        yield viewer, show, http


def admin(tmp_path):
    token = (tmp_path / "data" / "admin_token").read_text().strip()
    return {"Authorization": f"Bearer {token}"}


async def say(http, user, text):
    r = await http.post("/api/chat", json={"user": user, "text": text})
    assert r.status_code == 200, r.text
    return r.json()["reply"]


async def until(predicate, timeout=15):
    async def poll():
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_a_predict_round_keeps_the_move_secret_then_reveals_scores_and_releases(tmp_path):
    with Running(tmp_path, predict_window_s=600, reveal_s=0.2) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                r = await http.post("/api/polls", json={"kind": "predict"})
                assert r.status_code == 201 and r.json()["state"] == "holding"
                opened = (await viewer.wait("poll_open"))["d"]
                assert opened["sfen"] == Game().sfen() and opened["kind"] == "predict"
                pending = show.pending
                answer, top = pending["move"], pending["insight"]["top"]
                assert answer["usi"] == top[0]["usi"]  # the tiny net's held move here is its favourite
                other = next(u for u in Game().legal_usi() if u not in {m["usi"] for m in top})
                second = next(m for m in top[1:] if m["usi"] != answer["usi"])
                assert (
                    await say(http, "alice", f"!predict {answer['usi']}")
                    == f"counted: {answer['japanese']} {answer['western']}"
                )
                await say(http, "bob", answer["western"])  # a bare move counts while a round is open
                await say(http, "carol", f"!predict {second['japanese']}")  # in the top 5: fewer points
                await say(http, "dave", f"!predict {other}")
                await say(http, "dave", f"!predict {answer['usi']}")  # last vote wins
                await say(http, "frank", f"!predict {answer['usi']}")
                await say(http, "frank", f"!predict {other}")
                # Refusals say why; nothing is counted for them.
                assert (
                    await say(http, "mallory", "!predict 5a5b")
                ) == "5a5b: the piece on 5a is White's; Black is to move"
                ambiguous = await say(http, "mallory", "!predict G-5h")
                assert "G6i-5h" in ambiguous and "G4i-5h" in ambiguous
                assert "cannot read" in await say(http, "mallory", "!predict <script>alert(1)</script>")
                tally = (await viewer.wait("poll_tally", count=8))["d"]  # the opening one plus 7 votes
                counts = {c["key"]: c["votes"] for c in tally["choices"]}
                assert tally["total_votes"] == 5 and counts[answer["usi"]] == 3
                assert counts[second["usi"]] == 1 and counts[other] == 1
                # Before the reveal nothing about the held move went to a viewer or to REST.
                held_after = Game(pending["sfen_before"])
                held_after.push_usi(answer["usi"])
                poll_id = opened["poll_id"]
                stored = (await http.get(f"/api/polls/{poll_id}")).json()
                assert stored["answer"] is None and stored["total_votes"] == 5
                assert "answer" not in (await http.get("/api/polls/current")).json()
                analyst = srv.server.config.app.state.services.analyst
                if analyst.state.available:  # the engine's choice is ready before the reveal
                    await until(lambda: pending["sfen_before"] in analyst.roots)
                before_reveal = list(viewer.frames)
                r = await http.post("/api/polls/current/close")
                assert r.status_code == 200
                reveal = (await viewer.wait("poll_reveal"))["d"]
                if analyst.state.available:
                    assert reveal["engine_move"]["usi"] in Game(pending["sfen_before"]).legal_usi()
                    assert "nodes 20000" in reveal["engine"]
                else:
                    assert reveal["engine_move"] is None and "apt-get install" in reveal["engine"]
                for frame in before_reveal:
                    message = json.loads(frame)
                    assert message["t"] not in ("pending_move", "poll_reveal")
                    assert held_after.sfen() not in frame
                    assert dumps(pending["insight"]) not in frame  # the server's own encoding of it
                assert reveal["answer"] == answer and reveal["ai_top"] == top[:5]
                assert reveal["winners"] == ["alice", "bob", "dave"]
                # The game goes on with exactly the revealed move.
                played = (await viewer.wait("move"))["d"]
                assert played["move"]["usi"] == answer["usi"] and played["ply"] == 1
                assert [c["action"] for c in show.controls] == ["predict_hold", "release"]
                assert show.controls[1]["poll_id"] == poll_id
                assert (await say(http, "late", f"!predict {answer['usi']}")) in (
                    "voting has closed for this round",
                    "no prediction round is open",
                )
                board = (await viewer.wait("leaderboard"))["d"]["entries"]
                closed = (await viewer.wait("poll_closed"))["d"]
                assert closed == {"poll_id": poll_id, "outcome": "revealed", "reason": None}
                rest = (await http.get("/api/leaderboard")).json()["entries"]
                stored = (await http.get(f"/api/polls/{poll_id}")).json()
                return board, rest, stored, answer

        board, rest, stored, answer = asyncio.run(go())
    points = {e["user"]: (e["points"], e["correct"], e["total"], e["streak"]) for e in rest}
    assert points == {
        "alice": (10, 1, 1, 1), "bob": (10, 1, 1, 1), "dave": (10, 1, 1, 1),
        "carol": (3, 0, 1, 0), "frank": (0, 0, 1, 0),
    }  # fmt: skip
    assert [e["user"] for e in board] == [e["user"] for e in rest]
    assert stored["outcome"] == "revealed" and stored["answer"]["move"] == answer
    assert "mallory" not in points and "late" not in points


def test_streaks_grow_with_exact_predictions_and_end_on_a_miss(tmp_path):
    with Running(tmp_path, predict_window_s=600, reveal_s=0.05) as srv:

        async def round_(show, viewer, http, n, votes):
            await http.post("/api/polls", json={"kind": "predict"})
            await viewer.wait("poll_open", count=n)
            answer = show.pending["move"]["usi"]
            wrong = next(u for u in show.game.legal_usi() if u != answer)
            for user, right in votes.items():
                await say(http, user, f"!predict {answer if right else wrong}")
            await http.post("/api/polls/current/close")
            await viewer.wait("poll_closed", count=n)

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                await round_(show, viewer, http, 1, {"alice": True, "bob": True})
                await round_(show, viewer, http, 2, {"alice": True, "bob": False})
                await round_(show, viewer, http, 3, {"alice": True})
                assert await say(http, "alice", "!score") == "30 points, 3/3 exact, streak 3, rank 1"
                assert (
                    await say(http, "nobody", "!score")
                    == "no scored predictions yet: join the next prediction round"
                )
                assert await say(http, "bob", "!top") == "top predictors: 1. alice 30, 2. bob 10"
                return (await http.get("/api/leaderboard")).json()["entries"]

        entries = asyncio.run(go())
    assert [(e["user"], e["points"], e["correct"], e["total"], e["streak"]) for e in entries] == [
        ("alice", 30, 3, 3, 3),
        ("bob", 10, 1, 2, 0),
    ]


def test_a_strategy_poll_applies_the_winner_to_the_next_game_and_records_it(tmp_path):
    with Running(tmp_path, strategy_window_s=600) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                r = await http.post("/api/polls", json={"kind": "strategy"})
                assert r.status_code == 422 and "topic" in r.json()["detail"]
                r = await http.post("/api/polls", json={"kind": "strategy", "topic": "opening"})
                assert r.status_code == 201 and r.json()["state"] == "open"
                opened = (await viewer.wait("poll_open"))["d"]
                labels = {c["key"]: c["label"] for c in opened["choices"]}
                assert list(labels) == ["1", "2", "3", "4", "5"]
                again = await http.post("/api/polls", json={"kind": "predict"})
                assert again.status_code == 409  # one poll at a time
                await say(http, "a", "!vote 2")
                await say(http, "b", "!vote 3")
                await say(http, "c", "!vote 3")
                await say(http, "a", "!vote 3")  # changed her mind: 3 wins 3-0
                assert (await say(http, "d", "!vote 9")) == "vote with a number from 1 to 5: !vote 1"
                assert (await say(http, "d", "!predict 7g7f")) == "no prediction round is open"
                await http.post("/api/polls/current/close")
                closed = (await viewer.wait("poll_closed"))["d"]
                plan = show.controls[-1]
                # The next game carries the plan; the archive keeps which plan it played.
                start = {"game_id": "g-2", "kind": "showcase", "start_sfen": Game().sfen(), "black": "ai",
                         "white": "ai", "weights_version": 1, "plan": plan["plan"]["label"]}  # fmt: skip
                await show.send("game_start", start)
                await viewer.wait("game_start", count=2)

                async def archived():  # the archive writes in batches: ask until it is there
                    while (r := await http.get("/api/games/g-2")).status_code != 200:
                        await asyncio.sleep(0.02)
                    return r.json()

                game = await asyncio.wait_for(archived(), 10)
                stored = (await http.get(f"/api/polls/{opened['poll_id']}")).json()
                return labels, closed, plan, game, stored

        labels, closed, plan, game, stored = asyncio.run(go())
    winner = list(OPENINGS.values())[2]
    assert labels["3"] == winner.label and closed["outcome"] == "applied" and closed["reason"] == winner.label
    assert plan["action"] == "plan" and plan["plan"]["opening"] == list(winner.moves)
    assert game["plan"] == winner.label
    assert stored["outcome"] == "applied" and stored["answer"]["key"] == "3" and stored["votes"] == {"3": 3}


def test_a_trainer_disconnect_cancels_the_round_without_points_and_a_reconnect_is_released(tmp_path):
    with Running(tmp_path, predict_window_s=600) as srv:

        async def go():
            async with (
                Viewer(srv) as viewer,
                httpx.AsyncClient(base_url=srv.http, headers=admin(tmp_path)) as http,
            ):
                async with ScriptedShowcase(srv) as show:
                    await viewer.wait("game_start")
                    await http.post("/api/polls", json={"kind": "predict"})
                    opened = (await viewer.wait("poll_open"))["d"]
                    await say(http, "alice", f"!predict {show.pending['move']['usi']}")
                closed = (await viewer.wait("poll_closed"))["d"]
                async with connect(
                    f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None
                ) as tr:
                    await send_all(tr, [("hello", hello())])
                    control = json.loads(await asyncio.wait_for(tr.recv(), 10))
                stored = (await http.get(f"/api/polls/{opened['poll_id']}")).json()
                board = (await http.get("/api/leaderboard")).json()
                return closed, control, stored, board

        closed, control, stored, board = asyncio.run(go())
    assert closed["outcome"] == "cancelled" and closed["reason"] == "the trainer disconnected"
    assert control["t"] == "control" and control["d"]["action"] == "release"  # a held showcase goes on
    assert stored["outcome"] == "cancelled" and stored["answer"] is None and stored["total_votes"] == 1
    assert board == {"entries": []}


def test_an_open_poll_left_by_a_killed_server_is_closed_as_cancelled_on_start(tmp_path):
    # What a server killed mid-round leaves behind: a poll row with no outcome.
    (tmp_path / "data").mkdir()
    store = Store(tmp_path / "data" / "showcase.sqlite3").open()
    row = {"id": "p-killed", "kind": "predict", "question": "?", "opened_at": 1.0, "closes_at": 2.0}
    asyncio.run(store.write(lambda c: st.open_poll(c, poll=row)))
    store.close()
    with Running(tmp_path) as srv:
        stored = httpx.get(f"{srv.http}/api/polls/p-killed").json()
        current = httpx.get(f"{srv.http}/api/polls/current").json()
    assert stored["outcome"] == "cancelled" and stored["reason"] == "server restarted"
    assert current == {"state": "idle"}


def test_poll_controls_need_the_admin_token_and_bad_requests_say_why(tmp_path):
    with Running(tmp_path) as srv:
        assert httpx.post(f"{srv.http}/api/polls", json={"kind": "predict"}).status_code == 401
        assert httpx.post(f"{srv.http}/api/chat", json={"user": "x", "text": "!help"}).status_code == 401
        with httpx.Client(base_url=srv.http, headers=admin(tmp_path)) as http:
            r = http.post("/api/polls", json={"kind": "predict"})
            assert r.status_code == 503 and r.json()["detail"] == "no trainer is connected"
            assert http.post("/api/polls", json={"kind": "poll"}).status_code == 422
            assert http.post("/api/polls/current/close").status_code == 409
            assert http.get("/api/polls/nope").status_code == 404
            assert http.get("/api/leaderboard?limit=0").status_code == 422
            assert http.post("/api/chat", json={"user": "x", "text": "y" * 501}).status_code == 422
            assert "!predict" in http.post("/api/chat", json={"user": "x", "text": "!help"}).json()["reply"]


def test_a_round_opens_by_itself_every_n_showcase_moves(tmp_path):
    with Running(tmp_path, predict_every_moves=3, predict_window_s=600) as srv:

        async def go():
            async with Viewer(srv) as viewer, ScriptedShowcase(srv) as show:
                await viewer.wait("game_start")
                for usi in ("7g7f", "3c3d"):
                    await show.play(usi)
                await viewer.wait("move", count=2)
                assert viewer.messages("poll_open") == [] and show.controls == []
                await show.play("2g2f")
                opened = (await viewer.wait("poll_open"))["d"]
                return opened, show.controls

        opened, controls = asyncio.run(go())
    assert controls[0]["action"] == "predict_hold" and controls[0]["poll_id"] == opened["poll_id"]
    game = Game()
    for usi in ("7g7f", "3c3d", "2g2f"):
        game.push_usi(usi)
    assert opened["sfen"] == game.sfen()  # the position after the third move is the one held


def test_each_user_gets_a_few_commands_per_window_and_the_rest_are_ignored(tmp_path):
    with Running(tmp_path, chat_user_limit=3, chat_user_window_s=600) as srv:
        http = httpx.Client(base_url=srv.http, headers=admin(tmp_path))  # the token exists once it runs
        replies = [
            http.post("/api/chat", json={"user": "spam", "text": "!help"}).json()["reply"] for _ in range(5)
        ]
        other = http.post("/api/chat", json={"user": "calm", "text": "!help"}).json()["reply"]
        http.close()
    assert replies[:3] == [replies[0]] * 3 and "!predict" in replies[0]
    assert replies[3:] == [None, None] and other == replies[0]  # one spammer does not mute the others


def status(showcase):
    return {"state": "training", "update": 3, "samples": 96, "weights_version": 1, "showcase": showcase,
            "move_interval_s": 2.0}  # fmt: skip


def test_a_showcase_held_with_no_poll_to_wait_for_is_released(tmp_path):
    # As after a server restart mid-round: the trainer comes back still holding its move.
    with Running(tmp_path) as srv:

        async def go():
            async with connect(
                f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None
            ) as tr:
                await send_all(
                    tr, [("hello", hello()), ("status", status("playing")), ("status", status("held"))]
                )
                return json.loads(await asyncio.wait_for(tr.recv(), 10))

        control = asyncio.run(go())
    assert (
        control["t"] == "control" and control["d"]["action"] == "release" and control["d"]["poll_id"] is None
    )


def test_a_showcase_that_never_holds_cancels_the_round(tmp_path):
    with Running(tmp_path, hold_timeout_s=0.3) as srv:

        async def go():
            async with (
                Viewer(srv) as viewer,
                httpx.AsyncClient(base_url=srv.http, headers=admin(tmp_path)) as http,
                connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr,
            ):
                start = {"game_id": "g", "kind": "showcase", "start_sfen": Game().sfen(), "black": "a",
                         "white": "a", "weights_version": 1}  # fmt: skip
                await send_all(tr, [("hello", hello()), ("game_start", start)])
                await viewer.wait("game_start")
                assert (await http.post("/api/polls", json={"kind": "predict"})).status_code == 201
                closed = (await viewer.wait("poll_closed"))["d"]  # the scripted trainer never answers
                return closed, (await http.get("/api/polls/current")).json(), viewer.messages("poll_open")

        closed, current, opened = asyncio.run(go())
    assert (
        closed["outcome"] == "cancelled" and closed["reason"] == "the showcase did not hold its move in time"
    )
    assert current == {"state": "idle"} and opened == []


def test_the_running_counts_equal_a_recount_of_every_users_last_vote():
    """Poll.vote keeps the tally in O(1) per line; it must equal counting each user's last vote."""
    import random

    from server.polls import Poll

    rng = random.Random(7)
    poll = Poll(id="p", kind="predict", question="?", window_s=30)
    last: dict[str, str] = {}
    for _ in range(5000):
        user, key = f"u{rng.randrange(700)}", rng.choice(["7g7f", "2g2f", "5g5f", "1g1f", "9g9f"])
        poll.vote(user, user.upper(), key)
        last[user] = key
    recount: dict[str, int] = {}
    for key in last.values():
        recount[key] = recount.get(key, 0) + 1
    tally = poll.tally(limit=None)
    assert tally.total_votes == len(last) == len(poll.votes)
    assert {c.key: c.votes for c in tally.choices} == recount
    assert [c.votes for c in tally.choices] == sorted(recount.values(), reverse=True)
