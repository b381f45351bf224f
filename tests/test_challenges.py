"""Parameter challenges through a real server: chat votes among bounded values of a knob the trainer
offers, the streamer approves or rejects, the approved change goes to the trainer as a `knob` control;
the control room's direct changes and reverts; every refusal says why."""

import asyncio

import httpx
from test_polls import Viewer, say, scene, until
from test_server import Running

KNOBS = [
    {"name": "ent_coef", "label": "entropy coefficient", "value": 0.01, "low": 0.0, "high": 0.05},
    {"name": "learning_rate", "label": "learning rate", "value": 0.001, "low": 1e-5, "high": 0.003},
    {"name": "temperature", "label": "showcase temperature", "value": 0.0, "low": 0.0, "high": 2.0},
]


def status(knobs=KNOBS):
    return {"state": "training", "update": 3, "samples": 96, "weights_version": 1, "showcase": "playing",
            "move_interval_s": 2.0, "knobs": knobs}  # fmt: skip


def knob_controls(show):
    return [c for c in show.controls if c["action"] == "knob"]


def test_a_challenge_waits_for_the_streamer_then_goes_to_the_trainer(tmp_path):
    with Running(tmp_path, strategy_window_s=600) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                r = await http.post(
                    "/api/polls", json={"kind": "strategy", "topic": "knob", "knob": "ent_coef"}
                )
                assert (
                    r.status_code == 422 and "offers no knob 'ent_coef'" in r.json()["detail"]
                )  # no status yet
                await show.send("status", status())
                await viewer.wait("status")
                r = await http.post("/api/polls", json={"kind": "strategy", "topic": "knob"})
                assert r.status_code == 422 and "needs a knob" in r.json()["detail"]
                r = await http.post("/api/polls", json={"kind": "strategy", "topic": "knob", "knob": "gamma"})
                assert r.status_code == 422
                assert r.json()["detail"] == (
                    "the trainer offers no knob 'gamma' to challenge"
                    " (knobs: ent_coef, learning_rate, temperature)"
                )
                r = await http.post(
                    "/api/polls", json={"kind": "strategy", "topic": "knob", "knob": "ent_coef"}
                )
                assert r.status_code == 201, r.text
                opened = (await viewer.wait("poll_open"))["d"]
                await say(http, "a", "!vote 4")
                await say(http, "b", "!vote 4")
                await say(http, "c", "!vote 2")
                r = await http.post("/api/polls/current/approve")
                assert r.status_code == 409 and "no challenge is waiting for approval" in r.json()["detail"]
                await http.post("/api/polls/current/close")
                waiting = (await viewer.wait("poll_closed"))["d"]
                described = (await http.get("/api/polls/current")).json()
                sent_before = list(knob_controls(show))
                assert (await say(http, "d", "!vote 1")) == "voting has closed for this poll"
                async with httpx.AsyncClient(base_url=srv.http) as anonymous:
                    assert (await anonymous.post("/api/polls/current/approve")).status_code == 401
                r = await http.post("/api/polls/current/approve")
                assert r.status_code == 200, r.text
                applied = (await viewer.wait("poll_closed", count=2))["d"]
                await until(lambda: knob_controls(show))
                sent = knob_controls(show)[-1]
                # The trainer applies it and says so: viewers and /api/knobs see the change.
                change = {"change_id": opened["poll_id"], "knob": "ent_coef", "old": 0.01, "new": 0.02,
                          "status": "applied", "update": 4, "source": "chat challenge"}  # fmt: skip
                await show.send("knob_change", change)
                relayed = (await viewer.wait("knob_change"))["d"]
                knobs = (await http.get("/api/knobs")).json()
                stored = (await http.get(f"/api/polls/{opened['poll_id']}")).json()
                async with Viewer(srv) as late:
                    snapshot = (await late.wait("snapshot"))["d"]
                return (
                    opened,
                    waiting,
                    described,
                    sent_before,
                    applied,
                    sent,
                    relayed,
                    knobs,
                    stored,
                    snapshot,
                )

        opened, waiting, described, sent_before, applied, sent, relayed, knobs, stored, snapshot = (
            asyncio.run(go())
        )
    assert [c["label"] for c in opened["choices"]] == [
        "keep entropy coefficient at 0.01",
        "entropy coefficient 0.0025 (down from 0.01)",
        "entropy coefficient 0.005 (down from 0.01)",
        "entropy coefficient 0.02 (up from 0.01)",
        "entropy coefficient 0.04 (up from 0.01)",
    ]
    assert (
        waiting["outcome"] == "awaiting_approval"
        and waiting["reason"] == "entropy coefficient 0.02 (up from 0.01)"
    )
    assert described["state"] == "approval" and described["winner"]["key"] == "4"
    assert sent_before == []  # nothing reaches the trainer before the streamer approves
    assert applied["outcome"] == "applied"
    assert sent == {"action": "knob", "seconds": None, "poll_id": None, "plan": None, "knob": "ent_coef",
                    "value": 0.02, "change_id": opened["poll_id"], "source": "chat challenge",
                    "revert_of": None}  # fmt: skip
    assert relayed["new"] == 0.02 and knobs["changes"][-1]["change_id"] == opened["poll_id"]
    assert [k["name"] for k in knobs["knobs"]] == ["ent_coef", "learning_rate", "temperature"]
    assert stored["outcome"] == "applied" and stored["answer"]["plan"] == {"knob": "ent_coef", "value": 0.02}
    assert snapshot["knob_changes"][-1]["new"] == 0.02


def test_a_rejected_or_unanswered_challenge_changes_nothing(tmp_path):
    with Running(tmp_path, strategy_window_s=600, challenge_approval_s=0.5) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                await show.send("status", status())
                await viewer.wait("status")
                # A knob at 0 is offered values spread over its bounds.
                r = await http.post(
                    "/api/polls", json={"kind": "strategy", "topic": "knob", "knob": "temperature"}
                )
                first = (await viewer.wait("poll_open"))["d"]
                await say(http, "a", "!vote 3")
                await http.post("/api/polls/current/close")
                await viewer.wait("poll_closed")
                r = await http.post("/api/polls/current/reject")
                assert r.status_code == 200, r.text
                rejected = (await viewer.wait("poll_closed", count=2))["d"]
                # The next one is never answered: rejected when the approval window ends.
                await http.post(
                    "/api/polls", json={"kind": "strategy", "topic": "knob", "knob": "learning_rate"}
                )
                await viewer.wait("poll_open", count=2)
                await say(http, "a", "!vote 2")
                await http.post("/api/polls/current/close")
                timed_out = (await viewer.wait("poll_closed", count=4))["d"]
                stored = (await http.get(f"/api/polls/{first['poll_id']}")).json()
                return first, rejected, timed_out, stored, knob_controls(show)

        first, rejected, timed_out, stored, sent = asyncio.run(go())
    assert [c["label"] for c in first["choices"]] == [
        "keep showcase temperature at 0",
        "showcase temperature 0.2 (up from 0)",
        "showcase temperature 0.5 (up from 0)",
        "showcase temperature 1 (up from 0)",
        "showcase temperature 2 (up from 0)",
    ]
    assert (rejected["outcome"], rejected["reason"]) == ("cancelled", "rejected by the streamer")
    assert (timed_out["outcome"], timed_out["reason"]) == ("cancelled", "not approved in time")
    assert stored["outcome"] == "cancelled" and stored["reason"] == "rejected by the streamer"
    assert sent == []


def test_the_control_room_changes_and_reverts_a_knob_within_its_bounds(tmp_path):
    with Running(tmp_path) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                async with httpx.AsyncClient(base_url=srv.http) as anonymous:
                    denied = await anonymous.post("/api/knobs", json={"knob": "ent_coef", "value": 0.02})
                    listed = (await anonymous.get("/api/knobs")).json()
                await show.send("status", status())
                await viewer.wait("status")
                outside = await http.post("/api/knobs", json={"knob": "ent_coef", "value": 0.2})
                unknown = await http.post("/api/knobs", json={"knob": "gamma", "value": 0.9})
                ok = await http.post("/api/knobs", json={"knob": "learning_rate", "value": 0.0005})
                await until(lambda: knob_controls(show))
                change_id = ok.json()["change_id"]
                missing = await http.post(
                    "/api/knobs/revert", json={"change_id": change_id}
                )  # not applied yet
                await show.send("knob_change", {"change_id": change_id, "knob": "learning_rate", "old": 0.001,
                                                "new": 0.0005, "status": "applied", "update": 5})  # fmt: skip
                await viewer.wait("knob_change")
                revert = await http.post("/api/knobs/revert", json={"change_id": change_id})
                await until(lambda: len(knob_controls(show)) == 2)
                return denied, listed, outside, unknown, ok, missing, revert, knob_controls(show)

        denied, listed, outside, unknown, ok, missing, revert, sent = asyncio.run(go())
    assert denied.status_code == 401
    assert listed == {"connected": True, "knobs": [], "changes": []}
    assert outside.status_code == 422
    assert outside.json()["detail"] == "entropy coefficient 0.2 is outside the run's bounds [0, 0.05]"
    assert (
        unknown.status_code == 422
        and "the trainer offers ent_coef, learning_rate, temperature" in unknown.text
    )
    assert ok.status_code == 202 and sent[0]["knob"] == "learning_rate" and sent[0]["value"] == 0.0005
    assert sent[0]["source"] == "control room" and sent[0]["change_id"] == ok.json()["change_id"]
    assert missing.status_code == 404
    assert revert.status_code == 202 and revert.json()["value"] == 0.001
    assert sent[1]["revert_of"] == ok.json()["change_id"] and sent[1]["knob"] is None
