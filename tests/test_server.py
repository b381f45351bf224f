"""The server core against a real uvicorn on loopback: trainer link, viewer feed, archive, REST."""

import asyncio
import json
import random
import time

import httpx
import pytest
from fake_server import UvicornThread, free_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.app import create_app
from server.config import Settings
from showcase_core.protocol import dumps, make
from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names
from showcase_core.shogi.records import from_kif, to_kif

TOKEN = "trainer-secret"


class Running:
    """A real uvicorn serving the app in a thread; `port` reuses a port (a restart)."""

    def __init__(self, tmp_path, port: int | None = None, **settings_overrides):
        self.port = port or free_port()
        settings = Settings(
            port=self.port, data_dir=tmp_path / "data", trainer_token=TOKEN, **settings_overrides
        )
        self.settings = settings
        self._uv = UvicornThread(create_app(settings), self.port)
        self.server = self._uv.server

    def __enter__(self):
        self._uv.start()
        return self

    def __exit__(self, *exc):
        self._uv.stop()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def hello(run_id="run-1"):
    return {
        "protocol": 1, "run_id": run_id, "config": {}, "model": {"kind": "restower"}, "compile": {},
        "device": "cpu", "update": 0, "reward": {}, "weights_version": 1,
    }  # fmt: skip


def game_messages(seed=0, plies=12, game_id="g-1"):
    rng = random.Random(seed)
    game = Game(max_plies=plies)
    out = [("game_start", {"game_id": game_id, "kind": "showcase", "start_sfen": game.sfen(), "black": "ai",
                           "white": "ai", "weights_version": 1})]  # fmt: skip
    while not game.is_over:
        move = rng.choice(game.legal_moves())
        before, prev = game.sfen(), (game.moves[-1] if game.moves else None)
        named = names(game, move, prev)
        game.push(move)
        move_d = {"game_id": game_id, "ply": game.ply, "sfen_before": before, "move": named,
                  "sfen_after": game.sfen(), "chosen_prob": 0.1, "weights_version": 1}  # fmt: skip
        out.append(("move", move_d))
    out.append(("game_end", {"game_id": game_id, "result": game.outcome.result, "reason": game.outcome.reason,
                             "plies": game.ply, "final_sfen": game.sfen(), "kif": to_kif(game)}))  # fmt: skip
    return out, game


def held_move(game: Game, game_id: str, ply: int) -> dict:
    """A real pending_move (with insight from a tiny network) for `game`'s position."""
    import torch

    from trainer.insight import analyse
    from trainer.model import ModelArgs, build_model

    torch.manual_seed(0)
    analysis = analyse(build_model(ModelArgs(depth=1, width=4, value_hidden=4)), game)
    top = analysis.insight.top[0]
    return {
        "game_id": game_id, "ply": ply, "sfen_before": game.sfen(),
        "move": {"usi": top.usi, "western": top.western, "japanese": top.japanese}, "chosen_prob": top.prob,
        "weights_version": 1, "insight": analysis.insight.model_dump(mode="json"),
    }  # fmt: skip


async def send_all(ws, messages, start_seq=0):
    for i, (t, d) in enumerate(messages):
        await ws.send(dumps(make(t, d, seq=start_seq + i)))


async def recv_until(ws, t, timeout=10):
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["t"] == t:
            return message


def trainer_headers(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_trainer_link_refuses_bad_tokens_and_bad_data(tmp_path):
    async def go():
        codes = []
        for headers in ({}, trainer_headers("wrong")):
            async with connect(f"{srv.ws}/ws/trainer", additional_headers=headers, proxy=None) as ws:
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                codes.append(ws.close_code)
        for bad in ["{nope", dumps(make("metrics", {"update": 1, "samples": 1, "values": {}}, seq=0))]:
            async with connect(
                f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None
            ) as ws:
                await ws.send(bad)
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                codes.append((ws.close_code, ws.close_reason))
        return codes

    with Running(tmp_path) as srv:
        codes = asyncio.run(go())
    assert codes[:2] == [1008, 1008]
    assert codes[2][0] == 1003 and "not JSON" in codes[2][1]
    assert codes[3][0] == 1003 and "first message must be hello" in codes[3][1]


def test_viewer_sees_snapshot_then_deltas_and_the_archive_keeps_the_game(tmp_path):
    messages, game = game_messages()
    pending = held_move(Game(messages[2][1]["sfen_after"]), "g-1", ply=3)

    async def go():
        async with connect(f"{srv.ws}/ws", proxy=None) as viewer:
            snapshot = json.loads(await viewer.recv())
            async with connect(
                f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None
            ) as tr:
                await send_all(tr, [("hello", hello()), *messages[:3]])
                status = await recv_until(viewer, "trainer_status")
                replay, _ = game_messages(seed=5, plies=4, game_id="eval-1")
                replay[0][1]["kind"] = "evaluation"
                await send_all(tr, [("pending_move", pending), *messages[3:], *replay], start_seq=4)
                metrics = {"update": 1, "samples": 64, "values": {"ppo/approx_kl": 0.01, "eval/elo": None}}
                await send_all(tr, [("metrics", metrics)], start_seq=100)
                seen = []
                while True:
                    m = json.loads(await asyncio.wait_for(viewer.recv(), 10))
                    seen.append(m)
                    if m["t"] == "metrics":
                        break
            offline = await recv_until(viewer, "trainer_status")
            return snapshot, status, seen, offline

    with Running(tmp_path) as srv:
        snapshot, status, seen, offline = asyncio.run(go())
        client = httpx.Client(base_url=srv.http)
        listing = client.get("/api/games").json()
        one = client.get("/api/games/g-1").json()
        kif = client.get("/api/games/g-1/export", params={"format": "kif"})
        usi = client.get("/api/games/g-1/export", params={"format": "usi"}).text
        points = client.get("/api/metrics", params={"key": "ppo/approx_kl"}).json()
        health = client.get("/healthz").json()
    assert (
        snapshot["t"] == "snapshot" and snapshot["v"] == 0 and snapshot["d"]["trainer"]["connected"] is False
    )
    assert status["d"]["connected"] is True and status["d"]["run_id"] == "run-1"
    kinds = [m["t"] for m in seen]
    assert "pending_move" not in kinds and kinds.count("move") == 12 and kinds.count("game_end") == 2
    assert all(m["d"]["game_id"] == "g-1" for m in seen if m["t"] == "move")  # replays: archived only
    assert [m["v"] for m in seen] == list(range(seen[0]["v"], seen[0]["v"] + len(seen)))  # no gaps
    assert offline["d"]["connected"] is False
    assert {g["id"] for g in listing["games"]} == {"g-1", "eval-1"} and listing["next_cursor"] is None
    assert len(one["moves"]) == 12 and one["moves"][0]["usi"] == messages[1][1]["move"]["usi"]
    assert kif.headers["content-disposition"].endswith('.kif"')
    assert from_kif(kif.text).game.sfen() == game.sfen()
    assert usi.startswith("position sfen ") and usi.split()[-1] == game.usi_moves[-1]
    assert points["points"] == [[1, 0.01]]
    assert health["ok"] and health["trainer"]["connected"] is False


def test_rest_bad_input_gives_4xx_not_500(tmp_path):
    with Running(tmp_path) as srv:
        client = httpx.Client(base_url=srv.http)
        assert client.get("/api/games/missing").status_code == 404
        assert "missing" in client.get("/api/games/missing").json()["detail"]
        assert client.get("/api/games/missing/export").status_code == 404
        assert client.get("/api/games", params={"limit": 0}).status_code == 422
        assert client.get("/api/games", params={"limit": 1000}).status_code == 422
        assert client.get("/api/games", params={"kind": "blitz"}).status_code == 422
        assert client.get("/api/games", params={"cursor": "%%%"}).status_code == 422
        assert client.get("/api/games/x/export", params={"format": "pgn"}).status_code == 422
        assert client.get("/api/metrics").status_code == 422
        assert client.get("/api/metrics", params={"key": "k", "since": -1}).status_code == 422
        assert client.get("/api/games").json() == {"games": [], "next_cursor": None}
        assert client.get("/api/milestones").json() == {"milestones": []}
        big = client.post("/api/games", content=b"x" * 100_000)
        assert big.status_code == 413


def test_pagination_walks_every_game_once(tmp_path):
    async def go():
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            seq = 0
            await send_all(tr, [("hello", hello())])
            seq += 1
            for i in range(7):
                msgs, _ = game_messages(seed=i, plies=2, game_id=f"g{i}")
                await send_all(tr, msgs, start_seq=seq)
                seq += len(msgs)
            await asyncio.sleep(0.3)

    with Running(tmp_path) as srv:
        asyncio.run(go())
        client = httpx.Client(base_url=srv.http)
        deadline = time.monotonic() + 10
        while len(client.get("/api/games", params={"limit": 200}).json()["games"]) < 7:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        seen, cursor, pages = [], None, 0
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/games", params=params).json()
            seen += [g["id"] for g in page["games"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert sorted(seen) == [f"g{i}" for i in range(7)] and pages == 3


def test_foreign_origin_viewer_is_refused(tmp_path):
    async def go():
        async with connect(f"{srv.ws}/ws", origin="http://evil.example", proxy=None) as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.close_code

    with Running(tmp_path) as srv:
        assert asyncio.run(go()) == 1008


def test_control_needs_the_admin_token_and_reaches_the_trainer(tmp_path):
    async def go(admin):
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello())])
            async with httpx.AsyncClient(base_url=srv.http) as client:
                deadline = time.monotonic() + 5
                while not (await client.get("/healthz")).json()["trainer"]["connected"]:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                auth = {"Authorization": f"Bearer {admin}"}
                assert (await client.post("/api/control/pause", headers=auth)).status_code == 200
                speed = await client.put("/api/control/speed", json={"seconds": 3.5}, headers=auth)
                assert speed.status_code == 200
                bad_speed = await client.put("/api/control/speed", json={"seconds": 0}, headers=auth)
                assert bad_speed.status_code == 422
            first = json.loads(await asyncio.wait_for(tr.recv(), 5))
            second = json.loads(await asyncio.wait_for(tr.recv(), 5))
        return first, second

    with Running(tmp_path) as srv:
        admin = (tmp_path / "data" / "admin_token").read_text().strip()
        assert oct((tmp_path / "data" / "admin_token").stat().st_mode & 0o777) == "0o600"
        client = httpx.Client(base_url=srv.http)
        assert client.post("/api/control/pause").status_code == 401
        assert client.post("/api/control/pause", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert (
            client.post("/api/control/explode", headers={"Authorization": f"Bearer {admin}"}).status_code
            == 422
        )
        no_trainer = client.post("/api/control/step", headers={"Authorization": f"Bearer {admin}"})
        assert no_trainer.status_code == 503 and "no trainer" in no_trainer.json()["detail"]
        first, second = asyncio.run(go(admin))
    assert (first["t"], first["v"], first["d"]["action"]) == ("control", 0, "pause")
    assert (second["v"], second["d"]["action"], second["d"]["seconds"]) == (1, "speed", 3.5)


def test_a_storage_failure_keeps_the_link_up_and_shows_in_healthz(tmp_path):
    # A game_end for a game the server never saw cannot be stored: the link stays open, the error
    # is listed in /healthz, and the next message is still handled.
    async def go():
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            ghost = game_messages(game_id="ghost")[0][-1]
            await send_all(
                tr,
                [("hello", hello()), ghost, ("metrics", {"update": 1, "samples": 1, "values": {"k": 1.0}})],
            )
            async with httpx.AsyncClient(base_url=srv.http) as client:
                deadline = time.monotonic() + 5
                while not (await client.get("/api/metrics", params={"key": "k"})).json()["points"]:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
                return (await client.get("/healthz")).json()

    with Running(tmp_path) as srv:
        health = asyncio.run(go())
    assert health["ok"] is False and "game_end" in health["errors"][0]["what"]


def test_settings_from_environment_and_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "showcase.env").write_text("SHOWCASE_PORT=9123\nSHOWCASE_VIEWER_QUEUE=64\nOTHER=1\n")
    monkeypatch.setenv("SHOWCASE_PORT", "9555")
    settings = Settings()
    assert settings.port == 9555 and settings.viewer_queue == 64  # the environment wins over the file
    monkeypatch.setenv("SHOWCASE_PORT", "70000")
    with pytest.raises(ValueError, match="port"):
        Settings()


def test_a_snapshot_keeps_maps_for_the_latest_moves_only_and_validates():
    import jsonschema

    from server.live import LiveState
    from showcase_core.protocol import json_schema

    messages, _ = game_messages(seed=5, plies=6)
    live = LiveState()
    live.apply("hello", hello())
    for t, d in messages[:-1]:
        if t == "move":
            d["insight"] = held_move(Game(d["sfen_before"]), "g-1", ply=d["ply"])["insight"]
        live.apply(t, d)
    snapshot = live.snapshot()
    insights = [m["insight"] for m in snapshot["moves"]]
    assert ["maps" in i for i in insights] == [False] * 4 + [True] * 2
    assert all(
        i["black_win"] == m["insight"]["black_win"]
        for i, (_, m) in zip(insights, messages[1:-1], strict=True)
    )
    assert "maps" in live.moves[0]["insight"]  # the state itself keeps everything
    jsonschema.Draft202012Validator(json_schema()).validate(make("snapshot", snapshot, seq=0))


def status_message(**extra):
    return {"state": "training", "update": 7, "samples": 14336, "weights_version": 1, "showcase": "playing",
            "move_interval_s": 2.0, "activity": "updating", "samples_per_s": 361.5,
            "load": {"cpu_percent": 187.0, "rss_mb": 1210.0, "cores": 2}, "gpu": None, **extra}  # fmt: skip


async def until_trainer(srv, **expected):
    """Poll /healthz until the trainer entry has the expected values (10 s deadline)."""
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient() as client:
        while True:
            trainer = (await client.get(f"{srv.http}/healthz")).json()["trainer"]
            if all(trainer.get(k) == v for k, v in expected.items()):
                return
            assert time.monotonic() < deadline, trainer
            await asyncio.sleep(0.02)


def test_the_server_reports_its_own_load_and_the_snapshot_carries_the_trainers_status(tmp_path):
    async def go(srv):
        async with connect(f"{srv.ws}/ws/trainer", additional_headers=trainer_headers(), proxy=None) as tr:
            await send_all(tr, [("hello", hello()), ("status", status_message())])
            await until_trainer(srv, update=7)
            async with connect(f"{srv.ws}/ws", proxy=None) as viewer:
                first = json.loads(await asyncio.wait_for(viewer.recv(), 10))
                load = await recv_until(viewer, "server_load")
        await until_trainer(srv, connected=False)
        async with connect(f"{srv.ws}/ws", proxy=None) as viewer:  # the trainer has gone: no status
            after = json.loads(await asyncio.wait_for(viewer.recv(), 10))
        return first["d"], load["d"], after["d"]

    with Running(tmp_path, load_every_s=0.2) as srv:
        snapshot, load, after = asyncio.run(go(srv))
    assert snapshot["status"]["activity"] == "updating" and snapshot["status"]["load"]["rss_mb"] == 1210.0
    assert snapshot["server"]["rss_mb"] > 10 and snapshot["server"]["cores"] >= 1
    assert load["viewers"] == 1 and load["rss_mb"] > 10 and load["cpu_percent"] is not None
    assert after["status"] is None and after["server"] is not None
