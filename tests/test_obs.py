"""OBS control against a loopback obs-websocket v5 server: the password challenge, the scene switch
for a prediction round and back after the reveal, browser sources refreshed between showcase games,
and a refusing or absent OBS that never stops the showcase."""

import asyncio
import time

import httpx
from fake_obs import FakeObs
from fake_server import free_port
from test_polls import ScriptedShowcase, admin
from test_server import Running

from server.obs import auth_string


def test_auth_string_is_obs_websockets_documented_hash():
    from fake_obs import expected_auth

    assert auth_string("hunter2", "c2FsdA==", "Y2hhbGxlbmdl") == expected_auth(
        "hunter2", "c2FsdA==", "Y2hhbGxlbmdl"
    )
    assert auth_string("a", "s", "c") != auth_string("b", "s", "c")


async def until(predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def test_a_prediction_round_switches_scene_and_back_and_a_new_game_refreshes_the_sources(tmp_path):
    obs = FakeObs(free_port()).start()
    settings = {
        "obs_url": f"ws://127.0.0.1:{obs.port}",
        "obs_password": "hunter2",
        "obs_poll_scene": "Predict",
        "predict_window_s": 600,
        "reveal_s": 0.3,
    }
    try:
        with Running(tmp_path, **settings) as srv:

            async def go():
                async with httpx.AsyncClient(base_url=srv.http, headers=admin(tmp_path)) as http:

                    async def health():
                        return (await http.get("/healthz")).json()

                    async def connected():
                        return (await health())["obs"]["connected"]

                    await until(connected, "the OBS link")
                    async with ScriptedShowcase(srv) as show:
                        assert (await http.post("/api/polls", json={"kind": "predict"})).status_code == 201

                        async def switched():
                            return obs.scene == "Predict"

                        await until(switched, "the poll scene")
                        await until(lambda: asyncio.sleep(0, show.pending is not None), "the held move")
                        assert (await http.post("/api/polls/current/close")).status_code == 200

                        async def back():
                            return obs.scene == "Main"

                        await until(back, "the scene before the round")
                        # The next showcase game: every browser source reloads (not the camera).
                        await show.send("game_start", {"game_id": "g-2", "kind": "showcase",
                                                       "start_sfen": show.game.sfen(), "black": "ai",
                                                       "white": "ai", "weights_version": 1})  # fmt: skip

                        async def refreshed():
                            return (await health())["obs"]["refreshes"] == 2

                        await until(refreshed, "the refreshes")
                    return await health(), (await http.get("/healthz")).text

            state, raw = asyncio.run(go())
    finally:
        obs.stop()
    kinds = [k for k, _ in obs.requests]
    assert kinds == [
        "GetCurrentProgramScene", "SetCurrentProgramScene", "SetCurrentProgramScene",
        "GetInputList", "PressInputPropertiesButton", "PressInputPropertiesButton",
    ]  # fmt: skip
    assert [d for k, d in obs.requests if k == "SetCurrentProgramScene"] == [
        {"sceneName": "Predict"},
        {"sceneName": "Main"},
    ]
    assert [d["inputName"] for k, d in obs.requests if k == "PressInputPropertiesButton"] == [
        "Overlay",
        "Board",
    ]
    assert all(
        d["propertyName"] == "refreshnocache" for k, d in obs.requests if k == "PressInputPropertiesButton"
    )
    assert state["obs"] | {"url": None} == {
        "configured": True, "url": None, "connected": True, "last_error": None,
        "scene_switches": 2, "refreshes": 2, "failed_requests": 0,
    }  # fmt: skip
    assert "hunter2" not in raw and obs.identified == 1
    assert state["viewers"] == 0  # the link reads the stream but is not a viewer


def test_a_wrong_password_is_reported_and_the_showcase_goes_on(tmp_path):
    obs = FakeObs(free_port(), password="right").start()
    try:
        with Running(tmp_path, obs_url=f"ws://127.0.0.1:{obs.port}", obs_password="wrong") as srv:
            deadline = time.monotonic() + 10
            while obs.refused == 0 or httpx.get(f"{srv.http}/healthz").json()["obs"]["last_error"] is None:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            health = httpx.get(f"{srv.http}/healthz").json()
            games = httpx.get(f"{srv.http}/api/games")
    finally:
        obs.stop()
    assert health["obs"]["connected"] is False and health["obs"]["last_error"]
    assert games.status_code == 200 and obs.identified == 0


def test_without_obs_settings_healthz_says_how_to_add_it(tmp_path):
    with Running(tmp_path) as srv:
        health = httpx.get(f"{srv.http}/healthz").json()
    assert health["obs"] == {"configured": False, "how": "set SHOWCASE_OBS_URL"}


def test_a_refused_request_is_counted_and_the_link_stays_up():
    from types import SimpleNamespace

    from server.obs import ObsClient, ObsLink

    obs = FakeObs(free_port()).start()
    obs.fail = {"SetCurrentProgramScene"}
    settings = SimpleNamespace(obs_url=f"ws://127.0.0.1:{obs.port}", obs_poll_scene="Predict",
                               obs_refresh_between_games=True, obs_refresh_sources=["Overlay"])  # fmt: skip

    async def go():
        link = ObsLink(settings, hub=None)
        async with ObsClient(settings.obs_url, "hunter2") as client:
            await link._on(client, "poll_open", {"kind": "predict"})
            await link._on(client, "poll_open", {"kind": "strategy"})  # not a prediction round: nothing
            await link._on(client, "game_start", {"kind": "showcase", "game_id": "a"})  # the first: none
            await link._on(client, "game_start", {"kind": "showcase", "game_id": "b"})
            await link._on(client, "game_start", {"kind": "evaluation", "game_id": "c"})
            pong = await client.request("GetCurrentProgramScene")  # the connection still answers
        return link, pong

    try:
        link, pong = asyncio.run(go())
    finally:
        obs.stop()
    assert link.failed_requests == 1 and "refused by the fake" in link.last_error
    assert link.scene_switches == 0 and link.refreshes == 1 and pong["currentProgramSceneName"] == "Main"
    assert [k for k, _ in obs.requests] == [
        "GetCurrentProgramScene", "SetCurrentProgramScene",
        "PressInputPropertiesButton", "GetCurrentProgramScene",
    ]  # fmt: skip
