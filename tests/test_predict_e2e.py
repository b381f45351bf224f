"""End to end: a real server process reading chat from the fake Twitch IRC server, a real trainer
process playing the showcase. A predict round is held, chat votes over IRC, the reveal comes, the
game goes on with exactly the revealed move, and the leaderboard shows it over REST."""

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
from fake_irc import FakeTwitchIrc
from fake_server import free_port
from test_supervisor import ROOT, TINY, wait_http
from websockets.asyncio.client import connect

from showcase_core.shogi.game import Game


def test_a_predict_round_with_a_real_trainer_and_votes_from_twitch(tmp_path):
    port, data = free_port(), tmp_path / "data"
    base = f"http://127.0.0.1:{port}"
    with FakeTwitchIrc(tokens={"bot-token": "showbot"}) as irc:
        env = {
            **os.environ,
            "SHOWCASE_TRAINER_TOKEN": "tok-e2e",
            "SHOWCASE_TWITCH_CHANNEL": "shogishow",
            "SHOWCASE_TWITCH_URL": irc.url,
            "SHOWCASE_TWITCH_NICK": "showbot",
            "SHOWCASE_TWITCH_OAUTH_TOKEN": "oauth:bot-token",
            "SHOWCASE_PREDICT_WINDOW_S": "600",  # closed by the streamer below, not by the clock
            "SHOWCASE_REVEAL_S": "1",
        }
        serve = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", str(data)]
        server = subprocess.Popen(
            serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        sets = [arg for item in TINY for arg in ("--set", item)]
        trainer = subprocess.Popen(
            [sys.executable, "-m", "trainer", "train", "--json", "--server", f"ws://127.0.0.1:{port}/ws/trainer",
             "--run-dir", str(tmp_path / "run"), *sets, "--set", "env.max_plies=200",
             "--set", "live.move_interval_s=0.2"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_http(f"{base}/healthz")
            irc.wait_for(lambda: irc.joined("shogishow") == 1, timeout=30)
            admin = {"Authorization": f"Bearer {(data / 'admin_token').read_text().strip()}"}
            result = asyncio.run(play_round(port, base, admin, irc))
        finally:
            for proc in (trainer, server):
                proc.terminate()
            for proc in (trainer, server):
                proc.wait(60)
    opened, votes, reveal, played, board, said = result
    answer = reveal["d"]["answer"]
    # The game went on with exactly the revealed move, from the held position.
    assert played["d"]["move"] == answer and played["d"]["sfen_before"] == opened["d"]["sfen"]
    top5 = {m["usi"] for m in reveal["d"]["ai_top"]}
    expected = {}
    for user, usi in votes.items():
        points = 10 if usi == answer["usi"] else 3 if usi in top5 else 0
        expected[user] = (points, int(usi == answer["usi"]), 1)
    assert {e["user"]: (e["points"], e["correct"], e["total"]) for e in board} == expected
    winner = next(u for u, usi in votes.items() if usi == answer["usi"])
    assert reveal["d"]["winners"] == [winner]
    # OAuth mode posted the round's announcement and its result to chat.
    assert any("Prediction round" in line for line in said)
    assert any(answer["japanese"] in line and "1 of" in line for line in said)


async def play_round(port, base, admin, irc):
    async with (
        connect(f"ws://127.0.0.1:{port}/ws", proxy=None) as ws,
        httpx.AsyncClient(base_url=base, headers=admin) as http,
    ):
        frames = []

        async def next_of(t, where=lambda m: True, timeout=60):
            deadline = time.monotonic() + timeout
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                frames.append(m)
                if m["t"] == t and where(m):
                    return m

        await next_of("move")  # the showcase is playing
        r = await http.post("/api/polls", json={"kind": "predict"})
        assert r.status_code == 201, r.text
        opened = await next_of("poll_open")
        held = Game(opened["d"]["sfen"])
        # One voter per legal move (so exactly one is right), each from their own Twitch account.
        votes = {f"viewer{i}": usi for i, usi in enumerate(held.legal_usi())}
        for i, (user, usi) in enumerate(votes.items()):
            irc.chat("shogishow", user, f"!predict {usi}", user_id=str(5000 + i))
        irc.chat("shogishow", "troll", "!predict <script>x</script>", user_id="666")
        await next_of("poll_tally", lambda m: m["d"]["total_votes"] == len(votes))
        assert all(m["t"] not in ("pending_move", "poll_reveal") for m in frames)
        r = await http.post("/api/polls/current/close")
        assert r.status_code == 200, r.text
        reveal = await next_of("poll_reveal")
        played = await next_of("move", lambda m: m["d"]["sfen_before"] == opened["d"]["sfen"])
        assert any(m["t"] == "leaderboard" for m in frames)  # published with the reveal, before the move
        board = (await http.get("/api/leaderboard", params={"limit": 100})).json()["entries"]
        irc.wait_for(lambda: any("The AI played" in line for line in irc.sent("PRIVMSG")))
        said = [line.split(" :", 1)[1] for line in irc.sent("PRIVMSG")]
        return opened, votes, reveal, played, board, said
