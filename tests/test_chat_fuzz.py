"""Fuzz: 10,000 random and hostile chat lines through the real IRC parser and the real poll engine
(real SQLite store, real hub). Nothing escapes as an exception and no invalid vote is counted."""

import asyncio
import random

from test_server import held_move, hello

from server import store as st
from server.chat import MAX_TEXT
from server.chat.irc import IrcParseError, escape_tag, parse_line, privmsg_to_chat
from server.config import Settings
from server.hub import Hub
from server.live import LiveState
from server.polls import PollEngine
from server.store import Store
from showcase_core.shogi.game import Game

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "!predict <b>7g7f</b>",
    "!predict 7g7f\r\nPRIVMSG #chan :owned",
    "!predict \x00\x01\x02",
    "!vote 1; DROP TABLE votes;--",
    "!predict ' OR 1=1 --",
    "!predict " + "７六歩" * 100,
    "!predict G-5h",  # ambiguous at the start
    "!predict 5a5b",  # White's king, Black to move
    "!predict P*5e",  # no pawn in hand
    "!predict 7g7f+",  # a pawn cannot promote there
    "\u202eevil\u202c",
    "!PREDICT 7G7F",
    "!predict",
    "!score",
    "!top",
    "!help",
    "!unknowncommand arg",
]


def random_line(rng: random.Random, legal: list[str]) -> str:
    """One raw IRC line as Twitch might send it, or as an attacker might craft it."""
    kind = rng.random()
    if kind < 0.15:  # random bytes decoded as the client would
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))).decode("utf-8", "replace")
    if kind < 0.18:  # a 64 KB line
        return "@a=" + "x" * 65536 + " :u!u@u PRIVMSG #c :" + "y" * 100
    user = rng.choice(["alice", "bob", "<b>carol</b>", "d\\save", "e;f", "x" * 40, "\u202eevil"])
    text = rng.choice(
        [
            rng.choice(HOSTILE),
            f"!predict {rng.choice(legal)}",
            rng.choice(legal),
            "".join(chr(rng.randrange(32, 0x3000)) for _ in range(rng.randrange(0, 40))),
            "!predict "
            + "".join(rng.choice("0123456789abcdefghiPLNSGBRK*+-x ") for _ in range(rng.randrange(6))),
            "a" * rng.choice([499, 500, 501, 5000]),
        ]
    )
    tags = {
        "display-name": user,
        "user-id": str(rng.randrange(50)) if rng.random() < 0.9 else "",
        "tmi-sent-ts": rng.choice(["1700000000000", "NaN", "", "-1"]),
        "mod": rng.choice(["0", "1", ""]),
        "emote-only": rng.choice(["0", "1"]),
    }
    tag_text = ";".join(f"{k}={escape_tag(v)}" for k, v in tags.items())
    if rng.random() < 0.1:
        tag_text += ";broken\\"  # a lone trailing backslash
    login = user.lower().replace(" ", "")
    return f"@{tag_text} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #c :{text}"


def test_ten_thousand_hostile_lines_never_crash_and_count_only_legal_votes(tmp_path):
    rng = random.Random(7)
    start = Game()
    legal = start.legal_usi()

    async def go():
        settings = Settings(data_dir=tmp_path, chat_user_limit=1_000_000, predict_window_s=600)
        store = Store(tmp_path / "fuzz.sqlite3").open()
        live = LiveState()
        live.apply("hello", hello())
        live.trainer["connected"] = True
        game = {"game_id": "g", "kind": "showcase", "start_sfen": start.sfen(), "black": "a", "white": "a",
                "weights_version": 1}  # fmt: skip
        live.apply("game_start", game)
        controls = []

        async def send_control(control):
            controls.append(control)
            return True

        engine = PollEngine(settings=settings, store=store, hub=Hub(), live=live, send_control=send_control)
        await engine.start()
        await engine.open_predict()
        pending = held_move(start, "g", ply=1)
        pending["poll_id"] = engine.current.id
        await engine.on_trainer_message("pending_move", pending)
        assert engine.state == "open"
        parsed = handled = 0
        for _ in range(10_000):
            line = random_line(rng, legal)
            try:
                msg = parse_line(line)
            except IrcParseError:
                continue
            parsed += 1
            chat = privmsg_to_chat(msg)
            if chat is None:
                continue
            assert len(chat.text) <= MAX_TEXT and "\r" not in chat.text and "\n" not in chat.text
            assert "\u202e" not in chat.display_name and len(chat.display_name) <= 25
            reply = await engine.on_chat(chat)
            assert reply is None or isinstance(reply, str)
            handled += 1
        await store.flush()
        votes = dict(engine.current.votes)
        stored = await store.read(lambda c: st.get_poll(c, poll_id=engine.current.id))
        await engine.close_now()
        board = await store.read(lambda c: st.leaderboard(c, limit=100))
        store.close()
        return parsed, handled, votes, stored, board

    parsed, handled, votes, stored, board = asyncio.run(go())
    assert parsed > 7000 and handled > 7000  # most lines reached the engine
    assert votes, "the legal votes in the mix were counted"
    assert all(usi in legal for _, usi in votes.values())  # only legal moves of the held position
    assert set(stored["votes"]) <= set(legal) and stored["total_votes"] == len(votes)
    assert sum(e["total"] for e in board) == len(votes)
