"""`python -m server bench soak`: a whole stream, compressed, against the real server process.

An 8-hour stream at `--compression` 24 runs 20 minutes. Everything happens `compression` times faster
than on a real stream; what does not compress (JSON, SQLite, sockets) is real:

- the server is `python -m server serve` on loopback with its own archive (restarted twice: SIGTERM,
  then a fresh process on the same data directory);
- the trainer is a scripted stand-in process that speaks the real protocol through the real
  `Publisher` (queue, re-queue, drop counts): a showcase game whose every move carries a 9-block
  insight (synthetic maps: random values, which compress worse than a network's), metrics, status,
  evaluation games in bursts, and holds and releases for prediction rounds as the real showcase does.
  It is SIGKILLed every `--kill-every-min` stream minutes and started again (a new run of games);
- viewers join and leave all the time, each measuring delivery latency of the moves it gets;
- prediction rounds open every few stream minutes; a chat flood votes in each (every user several
  times: one vote each must count) through the local chat endpoint, among lines that are not votes.

It prints, per stream hour: the server's peak RSS, archive bytes in use, p50/p99 move delivery
latency, and at the end a reconciliation read from the archive itself: every game closed (none left
"in progress"), every archived game with every move 1..plies, every counted vote stored once, and
what the trainer's publisher reported dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

TOKEN = "soak-trainer-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def httpx_errors() -> type[Exception]:
    import httpx

    return httpx.HTTPError


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


# --- the scripted trainer (its own process) ------------------------------------------------------------


def run_trainer(url: str, seed: int, move_rate: float, eval_every_s: float, blocks: int) -> None:
    """Play showcase games until killed. Torch-free: random legal moves, synthetic insight maps."""
    from showcase_core import protocol as p
    from showcase_core.publisher import Publisher
    from showcase_core.shogi.game import Game
    from showcase_core.shogi.notation import names
    from showcase_core.shogi.records import to_kif

    rng = random.Random(seed)
    run_id = f"soak-{seed}"
    control = {"hold": None, "release": threading.Event()}
    published: list = []  # the running showcase game so far, for a server that (re)connects
    lock = threading.Lock()

    def hello() -> p.Hello:
        return p.Hello(protocol=1, run_id=run_id, config={}, model={"kind": "soak"}, compile={}, device="cpu",
                     update=0, reward={}, weights_version=1)  # fmt: skip

    def on_control(c) -> None:
        if c.action == "predict_hold":
            control["hold"] = c.poll_id
        elif c.action == "release":
            control["release"].set()

    def replay():
        with lock:
            return list(published)

    pub = Publisher(url, TOKEN, hello, on_control=on_control, on_connect=replay, max_events=5000).start()

    def maps() -> p.Maps:
        one = lambda: [rng.random() for _ in range(81)]  # noqa: E731
        return p.Maps(se_attention=[one() for _ in range(blocks)], se_attention_mean=one(),
                    activation=[one() for _ in range(blocks)], saliency=one(), policy_mass=one())  # fmt: skip

    def insight(game: Game, move: int) -> p.Insight:
        legal = game.legal_moves()
        top = [move, *rng.sample([m for m in legal if m != move], min(4, len(legal) - 1))]
        probs = sorted((rng.random() for _ in top), reverse=True)
        total = sum(probs) * 1.3
        value = rng.uniform(-0.9, 0.9)
        return p.Insight(
            top=[p.TopMove(**names(game, m), prob=q / total) for m, q in zip(top, probs, strict=True)],
            value=value, black_win=(1 + (value if game.turn == 0 else -value)) / 2, maps=maps(),
            phase="middlegame", think_ms=5.0,
        )  # fmt: skip

    def publish(t, payload, keep=False):
        pub.publish(t, payload)
        if keep:
            with lock:
                published.append((t, payload))

    def burst_game(kind: str, number: int) -> None:
        game, gid = Game(max_plies=120), f"{run_id}-{kind}-{number}"
        pub.publish("game_start", p.GameStart(game_id=gid, kind=kind, start_sfen=game.sfen(), black="ai",
                                            white="random", weights_version=1))  # fmt: skip
        while not game.is_over:
            move = rng.choice(game.legal_moves())
            before, prev = game.sfen(), game.moves[-1] if game.moves else None
            named = p.MoveNames(**names(game, move, prev))
            game.push(move)
            plain = p.Move(game_id=gid, ply=game.ply, sfen_before=before, move=named, sfen_after=game.sfen(),
                           chosen_prob=None, weights_version=1)  # fmt: skip
            pub.publish("move", plain)
        o = game.outcome
        pub.publish("game_end", p.GameEnd(game_id=gid, result=o.result, reason=o.reason, plies=game.ply,
                                        final_sfen=game.sfen(), kif=to_kif(game)))  # fmt: skip

    update, games, evals, last_eval, last_status = 0, 0, 0, time.monotonic(), 0.0
    while True:
        games += 1
        game, gid = Game(max_plies=300), f"{run_id}-show-{games}"
        with lock:
            published.clear()
        publish("game_start", p.GameStart(game_id=gid, kind="showcase", start_sfen=game.sfen(), black="ai",
                                        white="ai", weights_version=1), keep=True)  # fmt: skip
        while not game.is_over:
            time.sleep(1 / move_rate)
            move = rng.choice(game.legal_moves())
            before, prev = game.sfen(), game.moves[-1] if game.moves else None
            named = p.MoveNames(**names(game, move, prev))
            seen = insight(game, move)
            poll = control["hold"]
            if poll is not None:  # a prediction round: the move goes to the server first, secretly
                control["hold"] = None
                control["release"].clear()
                held = p.PendingMove(
                    game_id=gid,
                    ply=game.ply + 1,
                    sfen_before=before,
                    move=named,
                    chosen_prob=seen.top[0].prob,
                    weights_version=1,
                    insight=seen,
                    poll_id=poll,
                )
                pub.publish("pending_move", held)
                control["release"].wait(120)
            game.push(move)
            publish("move", p.Move(game_id=gid, ply=game.ply, sfen_before=before, move=named,
                                 sfen_after=game.sfen(), chosen_prob=seen.top[0].prob, weights_version=1,
                                 insight=seen), keep=True)  # fmt: skip
            update += 1
            if update % 3 == 0:
                pub.publish("metrics", p.Metrics(update=update // 3, samples=update * 683, values={
                    "ppo/approx_kl": rng.uniform(0, 0.03), "losses/entropy": rng.uniform(1, 4),
                    "perf/sps": rng.uniform(300, 400)}))  # fmt: skip
            now = time.monotonic()
            if now - last_status > 1.0:
                last_status = now
                pub.publish("status", p.Status(state="training", update=update // 3, samples=update * 683,
                                             weights_version=1, showcase="playing",
                                             move_interval_s=1 / move_rate))  # fmt: skip
            if now - last_eval > eval_every_s:
                last_eval, evals = now, evals + 1
                burst_game("evaluation", evals)
        o = game.outcome
        publish("game_end", p.GameEnd(game_id=gid, result=o.result, reason=o.reason, plies=game.ply,
                                    final_sfen=game.sfen(), kif=to_kif(game)))  # fmt: skip


# --- the driver ----------------------------------------------------------------------------------------


class Soak:
    def __init__(self, hours: float, compression: float, kill_every_min: float, viewers: int, seed: int):
        self.hours, self.compression = hours, compression
        self.wall_s = hours * 3600 / compression
        self.kill_every_s = kill_every_min * 60 / compression
        self.viewers, self.seed = viewers, seed
        self.port = _free_port()
        self.data = Path(tempfile.mkdtemp(prefix="soak-"))
        self.server: subprocess.Popen | None = None
        self.trainer: subprocess.Popen | None = None
        self.started = 0.0
        self.rss: dict[int, int] = defaultdict(int)  # stream hour -> peak server RSS (kB)
        self.latency: dict[int, list[float]] = defaultdict(list)
        self.archive_bytes: dict[int, int] = {}
        self.events: list[str] = []
        self.votes_sent: dict[str, set[str]] = defaultdict(set)  # poll id -> users whose vote was counted
        self.chat_lines = 0
        self.kills = self.restarts = self.polls = 0
        self.viewer_sessions = 0
        self.dropped: dict[str, int] = {}

    def hour(self) -> int:
        return int((time.monotonic() - self.started) * self.compression // 3600)

    # -- processes ------------------------------------------------------------------------------------------
    def start_server(self) -> None:
        env = {**os.environ, "SHOWCASE_TRAINER_TOKEN": TOKEN, "SHOWCASE_PREDICT_WINDOW_S": "4",
               "SHOWCASE_REVEAL_S": "1", "SHOWCASE_CHAT_USER_LIMIT": "50",
               "SHOWCASE_ANALYSIS_NODES": "0"}  # fmt: skip
        self.server = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--port", str(self.port), "--data-dir", str(self.data)],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.data / "server.log", "a"),  # noqa: SIM115
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.1)

    def stop_server(self) -> None:
        self.server.send_signal(signal.SIGTERM)
        self.server.wait(60)

    def start_trainer(self, n: int) -> None:
        code = (
            "import sys; from server.bench_soak import run_trainer;"
            f" run_trainer('ws://127.0.0.1:{self.port}/ws/trainer', {self.seed * 1000 + n},"
            f" {self.compression / 2.0}, {300 / self.compression}, 9)"
        )  # a move every 2 s and an evaluation game every 5 minutes, stream time
        self.trainer = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.DEVNULL,
            stderr=open(self.data / "trainer.log", "a"),  # noqa: SIM115
        )

    # -- clients --------------------------------------------------------------------------------------------
    async def http(self, method: str, path: str, **kwargs):
        import httpx

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            return await client.request(method, path, **kwargs)

    async def viewer_loop(self, k: int, stop: asyncio.Event) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        rng = random.Random(self.seed * 7919 + k)
        while not stop.is_set():
            stay = rng.uniform(5, 60) / max(1.0, self.compression / 24)
            try:
                async with connect(f"ws://127.0.0.1:{self.port}/ws", proxy=None, max_size=2**24) as ws:
                    self.viewer_sessions += 1
                    end = time.monotonic() + stay
                    while time.monotonic() < end and not stop.is_set():
                        try:
                            text = await asyncio.wait_for(ws.recv(), 1.0)
                        except TimeoutError:
                            continue
                        if text.startswith('{"t":"move"'):
                            ts = json.loads(text)["ts"]
                            self.latency[self.hour()].append(time.time() * 1000 - ts)
                        elif text.startswith('{"t":"status"'):  # the publisher's own drop counts
                            for kind, n in (json.loads(text)["d"].get("dropped") or {}).items():
                                self.dropped[kind] = max(self.dropped.get(kind, 0), n)
            except (OSError, ConnectionClosed, InvalidHandshake):
                pass  # a server restart drops everyone: come back
            await asyncio.sleep(rng.uniform(0.2, 2.0))

    async def rounds(self, stop: asyncio.Event) -> None:
        """A prediction round every ~5 stream minutes, flooded with votes and chatter."""
        token = (self.data / "admin_token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        rng = random.Random(self.seed)
        while not stop.is_set():
            await asyncio.sleep(300 / self.compression)
            try:
                r = await self.http("POST", "/api/polls", json={"kind": "predict"}, headers=auth)
                if r.status_code != 201:
                    continue
                poll_id = r.json()["poll_id"]
                self.polls += 1
                await asyncio.sleep(0.5)  # the hold reaches the trainer and its move comes back
                current = (await self.http("GET", "/api/polls/current")).json()
                if current.get("state") != "open":
                    continue
                from showcase_core.shogi.game import Game

                legal = Game((await self.http("GET", f"/api/polls/{poll_id}")).json()["sfen"]).legal_usi()
                users = [f"viewer{rng.randrange(300)}" for _ in range(120)]
                for user in users:  # each user may vote several times: the last one counts, once
                    text = f"!predict {rng.choice(legal)}" if rng.random() < 0.7 else "PogChamp what a game"
                    r = await self.http("POST", "/api/chat", json={"user": user, "text": text}, headers=auth)
                    self.chat_lines += 1
                    reply = r.json().get("reply") if r.status_code == 200 else None
                    if reply and reply.startswith("counted"):
                        self.votes_sent[poll_id].add(f"local:{user}")
            except OSError as exc:
                self.events.append(f"round: {exc!r}"[:200])
            except Exception as exc:  # a restart mid-round: the round is cancelled, go on
                self.events.append(f"round: {exc!r}"[:200])

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                status = Path(f"/proc/{self.server.pid}/status").read_text()
                rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
                h = self.hour()
                self.rss[h] = max(self.rss[h], rss)
                health = (await self.http("GET", "/healthz")).json()
                self.archive_bytes[h] = health["archive"]["bytes"]
            except (OSError, ValueError, KeyError, StopIteration, httpx_errors()) as exc:
                # The server is restarting; the next sample will do. Kept for the report.
                if len(self.events) < 50:
                    self.events.append(f"sample: {exc!r}"[:120])
            await asyncio.sleep(2.0)

    # -- the stream -----------------------------------------------------------------------------------------
    async def main(self) -> dict:
        self.start_server()
        trainers = 0
        self.start_trainer(trainers)
        self.started = time.monotonic()
        stop = asyncio.Event()
        tasks = [asyncio.create_task(self.viewer_loop(k, stop)) for k in range(self.viewers)]
        tasks += [asyncio.create_task(self.rounds(stop)), asyncio.create_task(self.sample(stop))]
        restarts_at = [self.wall_s / 3, 2 * self.wall_s / 3]
        next_kill = self.kill_every_s
        while (elapsed := time.monotonic() - self.started) < self.wall_s or restarts_at:
            await asyncio.sleep(1.0)
            if elapsed > next_kill:
                next_kill += self.kill_every_s
                self.trainer.send_signal(signal.SIGKILL)
                self.trainer.wait(30)
                self.kills += 1
                trainers += 1
                await asyncio.sleep(1.0)
                self.start_trainer(trainers)
            if restarts_at and elapsed > restarts_at[0]:
                restarts_at.pop(0)
                self.stop_server()
                self.restarts += 1
                self.start_server()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.trainer.send_signal(signal.SIGKILL)
        self.trainer.wait(30)
        self.stop_server()
        self.start_server()  # a last start closes what the last kill left open, as on the next stream
        self.stop_server()
        return self.report()

    def report(self) -> dict:
        conn = sqlite3.connect(self.data / "showcase.sqlite3")
        open_games = conn.execute("SELECT COUNT(*) FROM games WHERE ended_at IS NULL").fetchone()[0]
        results = dict(
            conn.execute("SELECT COALESCE(result, 'none'), COUNT(*) FROM games GROUP BY 1").fetchall()
        )
        gaps = conn.execute(
            "SELECT COUNT(*) FROM games g WHERE"
            " g.plies != (SELECT COUNT(*) FROM moves m WHERE m.game_id = g.id)"
            " OR g.plies != COALESCE((SELECT MAX(ply) FROM moves m WHERE m.game_id = g.id), 0)"
        ).fetchone()[0]
        stored = defaultdict(set)
        for poll_id, user in conn.execute("SELECT poll_id, user_id FROM votes"):
            stored[poll_id].add(user)
        polls = dict(conn.execute("SELECT outcome, COUNT(*) FROM polls GROUP BY 1").fetchall())
        moves = conn.execute("SELECT COUNT(*) FROM moves").fetchone()[0]
        conn.close()
        vote_mismatch = sum(1 for p, users in self.votes_sent.items() if stored.get(p, set()) != users)
        hours = sorted(set(self.rss) | set(self.latency))
        per_hour = [
            {"hour": h + 1, "server_rss_mb": round(self.rss.get(h, 0) / 1024, 1),
             "archive_mb": round(self.archive_bytes.get(h, 0) / 2**20, 2),
             "moves_seen": len(self.latency.get(h, [])),
             "latency_ms_p50": _percentile(self.latency.get(h, []), 0.5),
             "latency_ms_p99": _percentile(self.latency.get(h, []), 0.99)}
            for h in hours if h < self.hours
        ]  # fmt: skip
        sizes = [h["archive_mb"] for h in per_hour]
        growth = [b - a for a, b in zip([0.0, *sizes], sizes, strict=False)]
        return {
            "benchmark": "soak",
            "stream_hours": self.hours,
            "compression": self.compression,
            "wall_minutes": round(self.wall_s / 60, 1),
            "trainer_kills": self.kills,
            "server_restarts": self.restarts,
            "viewer_sessions": self.viewer_sessions,
            "polls_opened": self.polls,
            "chat_lines": self.chat_lines,
            "per_hour": per_hour,
            "archive_mb_added_per_hour": [round(g, 2) for g in growth],
            "reconciliation": {
                "games_by_result": results,
                "games_left_in_progress": open_games,
                "games_missing_a_move": gaps,
                "moves_archived": moves,
                "polls_by_outcome": polls,
                "polls_with_votes_checked": len(self.votes_sent),
                "votes_counted_by_chat": sum(len(u) for u in self.votes_sent.values()),
                "votes_stored": sum(len(u) for u in stored.values()),
                "polls_whose_stored_votes_differ": vote_mismatch,
            },
            "publisher_dropped_and_counted": self.dropped,
            "client_errors": self.events[:10],
            "data_dir": str(self.data),
        }


def bench_soak(hours: float, compression: float, kill_every_min: float, viewers: int, seed: int = 0) -> dict:
    return asyncio.run(Soak(hours, compression, kill_every_min, viewers, seed).main())
