"""`python -m server bench chat`: a big channel's chat during prediction rounds, end to end.

The server is `python -m server serve` reading chat from the loopback Twitch IRC (the real wire format,
server/chat/loopback.py) as it reads Twitch; a scripted trainer on the trainer link holds and releases
as the showcase does; a viewer on /ws records every tally. For each rate, one prediction round: chat
lines at that rate for `--seconds` from `--users` accounts in turn (each says a vote most of the time:
`!predict` or a bare move, in USI, Western or Japanese notation, a user changing their mind now and
then; otherwise chatter), plus one spammer far over the per-user limit.

Per rate it prints: lines and votes sent, the distinct voters, what the poll counted (each user once,
their last vote; checked against the expected choices, choice by choice), the spammer's lines ignored,
and the tally latency: for each new voter, from the moment its line left the IRC server until a tally
a viewer received counted it (p50, p99, max); and the server's CPU share during the round.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server.bench import _free_port, _percentile
from server.chat.loopback import FakeTwitchIrc
from showcase_core import protocol as p
from showcase_core.protocol import dumps, make
from showcase_core.shogi.game import Game
from showcase_core.shogi.notation import names

TOKEN = "bench-chat-token"
CHANNEL = "bigchannel"


def _synthetic_insight(game: Game, move: int, rng: random.Random) -> p.Insight:
    """Load-test filler with the real shape (the poll reveals it); not model output."""
    legal = game.legal_moves()
    top = [move, *rng.sample([m for m in legal if m != move], 4)]
    one = lambda: [rng.random() for _ in range(81)]  # noqa: E731
    maps = p.Maps(se_attention=[one()], se_attention_mean=one(), activation=[one()], saliency=one(),
                  policy_mass=one())  # fmt: skip
    return p.Insight(top=[p.TopMove(**names(game, m), prob=0.3 / (i + 1)) for i, m in enumerate(top)],
                     value=0.0, black_win=0.5, maps=maps, phase="opening", think_ms=1.0)  # fmt: skip


class Showcase:
    """The trainer link's part: a game from the start position, holds answered, releases played."""

    def __init__(self, port: int):
        self.url = f"ws://127.0.0.1:{port}/ws/trainer"
        self.game = Game()
        self.rng = random.Random(0)
        self.seq = 0
        self.pending = None

    async def send(self, t, payload) -> None:
        await self.ws.send(dumps(make(t, payload, seq=self.seq)))
        self.seq += 1

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with connect(self.url, additional_headers=headers, proxy=None) as ws:
            self.ws = ws
            hello = p.Hello(protocol=1, run_id="bench-chat", config={}, model={}, compile={}, device="cpu",
                            update=0, reward={}, weights_version=1)  # fmt: skip
            await self.send("hello", hello)
            start = p.GameStart(game_id="chat-1", kind="showcase", start_sfen=self.game.sfen(), black="ai",
                                white="ai", weights_version=1)  # fmt: skip
            await self.send("game_start", start)
            async for text in ws:
                control = json.loads(text)["d"]
                if control["action"] == "predict_hold":
                    move = self.rng.choice(self.game.legal_moves())
                    prev = self.game.moves[-1] if self.game.moves else None
                    self.pending = (move, p.MoveNames(**names(self.game, move, prev)))
                    insight = _synthetic_insight(self.game, move, self.rng)
                    held = p.PendingMove(game_id="chat-1", ply=self.game.ply + 1,
                                         sfen_before=self.game.sfen(), move=self.pending[1], chosen_prob=0.3,
                                         weights_version=1,
                                         insight=insight, poll_id=control["poll_id"])  # fmt: skip
                    await self.send("pending_move", held)
                elif control["action"] == "release" and self.pending is not None:
                    move, named = self.pending
                    before = self.game.sfen()
                    self.game.push(move)
                    self.pending = None
                    await self.send("move", p.Move(game_id="chat-1", ply=self.game.ply, sfen_before=before,
                                                   move=named, sfen_after=self.game.sfen(), chosen_prob=0.3,
                                                   weights_version=1))  # fmt: skip


def _lines(irc: FakeTwitchIrc, game: Game, rate: float, seconds: float, users: int, round_no: int, rng):
    """The round's chat: (lines, expected last vote per user, each line's (user, is_vote), spammer)."""
    legal = game.legal_moves()
    named = [names(game, m, game.moves[-1] if game.moves else None) for m in legal]
    popular = rng.sample(range(len(named)), 8)  # a crowd favours a few moves
    total = int(rate * seconds)
    lines, who, expected = [], [], {}
    spammer = f"spam{round_no}"
    for i in range(total):
        if i % 20 == 10:  # the spammer: a line in every 20, far over 5 per 10 s
            user, text, vote = spammer, "!predict " + named[popular[0]]["usi"], named[popular[0]]["usi"]
        else:
            user = f"r{round_no}u{i % users}"
            if rng.random() < 0.8:
                n = named[rng.choice(popular) if rng.random() < 0.8 else rng.randrange(len(named))]
                notation = rng.choice(("usi", "western", "japanese"))
                text = (rng.choice(("!predict ", "")) + n[notation]).strip()
                vote = n["usi"]
            else:
                text, vote = rng.choice(("what a game", "PogChamp", "is it winning?", "gg")) + f" {i}", None
        if vote is not None:
            expected[user] = vote
        lines.append(irc.privmsg(CHANNEL, user, text, user_id=f"id-{user}"))
        who.append((user, vote is not None))
    return lines, expected, who, spammer


def bench_chat(rates: list[float], seconds: float, users: int) -> dict:
    import httpx
    import psutil

    irc = FakeTwitchIrc().start()
    port = _free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    env = {**os.environ, "SHOWCASE_TRAINER_TOKEN": TOKEN, "SHOWCASE_TWITCH_CHANNEL": CHANNEL,
           "SHOWCASE_TWITCH_URL": irc.url, "SHOWCASE_ANALYSIS_NODES": "0", "SHOWCASE_PREDICT_WINDOW_S": "600",
           "SHOWCASE_REVEAL_S": "0.2", "SHOWCASE_LOAD_EVERY_S": "600"}  # fmt: skip
    log = (data / "server.log").open("wb")
    cmd = [sys.executable, "-m", "server", "serve", "--port", str(port), "--data-dir", str(data)]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)
        irc.wait_for(lambda: irc.joined(CHANNEL) >= 1, timeout=30)
        admin = {"Authorization": f"Bearer {(data / 'admin_token').read_text().strip()}"}
        proc = psutil.Process(server.pid)
        rounds = asyncio.run(_drive(irc, port, base, admin, rates, seconds, users, proc))
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        irc.stop()
    return {"benchmark": "chat", "seconds_per_round": seconds, "users_per_round": users,
            "cpu_cores": os.cpu_count(), "rounds": rounds}  # fmt: skip


async def _drive(irc, port, base, admin, rates, seconds, users, proc) -> list[dict]:
    import httpx
    from websockets.asyncio.client import connect

    showcase = Showcase(port)
    trainer = asyncio.create_task(showcase.run())
    tallies: list[tuple[float, dict]] = []
    events: dict[str, asyncio.Event] = {}

    async def watch():
        async with connect(f"ws://127.0.0.1:{port}/ws", proxy=None, max_size=2**24) as ws:
            async for text in ws:
                message = json.loads(text)
                if message["t"] == "poll_tally":
                    tallies.append((time.time(), message["d"]))
                events.setdefault(message["t"], asyncio.Event()).set()

    viewer = asyncio.create_task(watch())
    out = []
    rng = random.Random(42)
    async with httpx.AsyncClient(base_url=base, headers=admin, timeout=30) as http:
        while "game_start" not in events:
            await asyncio.sleep(0.02)
        for round_no, rate in enumerate(rates):
            for name in ("poll_open", "poll_reveal", "poll_closed"):
                events.pop(name, None)
            r = await http.post("/api/polls", json={"kind": "predict"})
            r.raise_for_status()
            poll_id = r.json()["poll_id"]
            while "poll_open" not in events:
                await asyncio.sleep(0.01)
            position = Game(showcase.game.sfen())
            lines, expected, who, spammer = _lines(irc, position, rate, seconds, users, round_no, rng)
            ignored_before = (await http.get("/healthz")).json()["chat"]["ignored"].get("rate_limited", 0)
            tallies.clear()
            cpu_before, t0 = proc.cpu_times(), time.monotonic()
            sent = await asyncio.to_thread(irc.flood, CHANNEL, lines, rate)
            want = len(expected)
            caught = time.monotonic()
            while not tallies or tallies[-1][1]["total_votes"] < want:
                await asyncio.sleep(0.01)
                if time.monotonic() - caught > 60:
                    break
            caught_up_s = time.monotonic() - caught
            cpu_after, t1 = proc.cpu_times(), time.monotonic()
            # Tally latency: each new voter, from its line's send until a tally counted it.
            latencies, seen, i_tally = [], set(), 0
            for (user, is_vote), at in zip(who, sent, strict=True):
                if not is_vote or user in seen:
                    continue
                seen.add(user)
                while i_tally < len(tallies) and tallies[i_tally][1]["total_votes"] < len(seen):
                    i_tally += 1
                if i_tally < len(tallies):
                    latencies.append((tallies[i_tally][0] - at) * 1000)
            health = (await http.get("/healthz")).json()
            stored = (await http.get(f"/api/polls/{poll_id}")).json()
            current = health["poll"]
            await http.post("/api/polls/current/close")
            while "poll_closed" not in events:
                await asyncio.sleep(0.01)
            final = tallies[-1][1] if tallies else {"total_votes": 0, "choices": []}
            counts: dict[str, int] = {}
            for usi in expected.values():
                counts[usi] = counts.get(usi, 0) + 1
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            out.append({
                "rate_per_s": rate,
                "lines_sent": len(lines),
                "send_seconds": round(sent[-1] - sent[0], 2),
                "votes_sent": sum(1 for _, v in who if v),
                "distinct_voters": want,
                "counted": current.get("total_votes"),
                "stored_votes": stored.get("total_votes"),
                "tally_matches_expected": [(c["key"], c["votes"]) for c in final["choices"]] == top,
                "spammer_lines": sum(1 for u, _ in who if u == spammer),
                "rate_limited": health["chat"]["ignored"].get("rate_limited", 0) - ignored_before,
                "tallies_received": len(tallies),
                "tally_latency_ms_p50": _round(_percentile(latencies, 0.5)),
                "tally_latency_ms_p99": _round(_percentile(latencies, 0.99)),
                "tally_latency_ms_max": _round(max(latencies) if latencies else None),
                "caught_up_after_flood_s": round(caught_up_s, 2),
                "server_cpu_share": round(
                    (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / (t1 - t0), 3
                ),
            })  # fmt: skip
    viewer.cancel()
    trainer.cancel()
    await asyncio.gather(viewer, trainer, return_exceptions=True)
    return out


def _round(x):
    return None if x is None else round(x, 1)
