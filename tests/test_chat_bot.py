"""Chat that behaves like a good bot, through a real server and the loopback fake Twitch: Shared Chat
mirrors and other bots are not counted, moderators drive the show, channel-wide answers cool down."""

import asyncio

import httpx
from fake_irc import FakeTwitchIrc
from test_polls import admin, say, scene, until
from test_server import Running

from server.chat.irc import parse_line, privmsg_to_chat

CHANNEL = "shogishow"
ROOM = "12345"  # the fake's room-id for the channel


def test_shared_chat_tags_mark_a_mirrored_message():
    line = (
        "@badges=;display-name=Guest;room-id=12345;source-room-id=999;user-id=7;tmi-sent-ts=1 "
        ":guest!guest@guest.tmi.twitch.tv PRIVMSG #shogishow :!predict 7g7f"
    )
    mirrored = privmsg_to_chat(parse_line(line))
    ours = privmsg_to_chat(parse_line(line.replace("source-room-id=999", "source-room-id=12345")))
    plain = privmsg_to_chat(parse_line(line.replace("source-room-id=999;", "")))
    assert mirrored.shared_from == "999" and mirrored.login == "guest"
    assert ours.shared_from is None and plain.shared_from is None  # our own room in a shared session


def run_round(tmp_path, chat_lines, **settings):
    """Open a predict round, let the fake Twitch say `chat_lines` (login, text, tags) and then a
    marker vote, and return (the tally once the marker is in, /healthz)."""
    with (
        FakeTwitchIrc() as irc,
        Running(
            tmp_path, twitch_channel=CHANNEL, twitch_url=irc.url, predict_window_s=600, **settings
        ) as srv,
    ):

        def health():
            return httpx.get(f"{srv.http}/healthz").json()

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                await until(lambda: health()["chat"]["twitch"]["state"] == "joined")
                assert (await http.post("/api/polls", json={"kind": "predict"})).status_code == 201
                await viewer.wait("poll_open")
                answer = show.pending["move"]["usi"]
                for login, text, tags in chat_lines:
                    irc.chat(CHANNEL, login, text.format(answer=answer), **tags)
                irc.chat(CHANNEL, "marker", "7g7f" if answer != "7g7f" else "2g2f")  # chat keeps order
                marker = "7g7f" if answer != "7g7f" else "2g2f"

                def has_marker():
                    tallies = viewer.messages("poll_tally")
                    return tallies and any(c["key"] == marker for c in tallies[-1]["d"]["choices"])

                await until(has_marker)
                return viewer.messages("poll_tally")[-1]["d"], health()

        return asyncio.run(go())


def test_mirrors_and_bot_accounts_are_not_votes_unless_the_streamer_opts_in(tmp_path):
    lines = [
        ("viewer_a", "!predict {answer}", {}),
        ("guest_b", "!predict {answer}", {"source_room_id": "999"}),  # mirrored from a partner
        ("own_c", "!predict {answer}", {"source_room_id": ROOM}),  # ours, in a shared session
        ("Nightbot", "!predict {answer}", {}),
    ]
    tally, health = run_round(tmp_path / "off", lines)
    opted, health_opted = run_round(tmp_path / "on", lines, chat_shared=True, chat_ignore_users=[])
    assert tally["total_votes"] == 3  # viewer_a, own_c and the marker
    assert health["chat"]["ignored"]["shared_chat"] == 1 and health["chat"]["ignored"]["ignored_user"] == 1
    assert opted["total_votes"] == 5
    assert health_opted["chat"]["ignored"]["shared_chat"] == 0


def test_moderators_pause_resume_open_and_skip_rounds_and_others_cannot(tmp_path):
    with FakeTwitchIrc() as irc, Running(tmp_path, twitch_channel=CHANNEL, twitch_url=irc.url) as srv:

        async def go():
            async with scene(srv, tmp_path) as (viewer, show, http):
                health = lambda: httpx.get(f"{srv.http}/healthz").json()  # noqa: E731
                await until(lambda: health()["chat"]["twitch"]["state"] == "joined")
                irc.chat(CHANNEL, "rando", "!pause")
                irc.chat(CHANNEL, "rando", "!predictround 30")
                await until(lambda: health()["chat"]["ignored"]["not_a_mod"] == 2)
                assert show.controls == []
                irc.chat(CHANNEL, "mod_m", "!pause", mod="1", badges="moderator/1")
                irc.chat(CHANNEL, CHANNEL, "!resume", badges="broadcaster/1")
                await until(lambda: [c["action"] for c in show.controls] == ["pause", "resume"])
                irc.chat(CHANNEL, "mod_m", "!predictround 45", mod="1", badges="moderator/1")
                message = await viewer.wait("poll_open")
                opened = {**message["d"], "sent_ms": message["ts"]}
                irc.chat(CHANNEL, "mod_m", "!skip", mod="1", badges="moderator/1")
                closed = (await viewer.wait("poll_closed"))["d"]
                polls = (await http.get("/api/polls")).json()["polls"]
                return opened, closed, polls

        opened, closed, polls = asyncio.run(go())
    window = (opened["closes_at_ms"] - opened["sent_ms"]) / 1000  # 45 s asked for, less the hold
    assert opened["kind"] == "predict" and 40 <= window <= 45
    assert closed["poll_id"] == opened["poll_id"] and closed["outcome"] == "cancelled"
    assert polls[0]["reason"] == "skipped by a moderator"


def test_channel_wide_answers_cool_down_but_votes_and_the_streamer_do_not(tmp_path):
    with (
        FakeTwitchIrc() as irc,
        Running(tmp_path, twitch_channel=CHANNEL, twitch_url=irc.url, chat_command_cooldown_s=600) as srv,
    ):

        def ignored():
            return httpx.get(f"{srv.http}/healthz").json()["chat"]["ignored"]

        async def go():
            async with httpx.AsyncClient(base_url=srv.http, headers=admin(tmp_path)) as http:
                await until(
                    lambda: httpx.get(f"{srv.http}/healthz").json()["chat"]["twitch"]["state"] == "joined"
                )
                for login in ("v1", "v2", "v3"):
                    irc.chat(CHANNEL, login, "!help")
                irc.chat(CHANNEL, "v4", "!top")
                irc.chat(CHANNEL, "v5", "!top")
                await until(lambda: ignored()["cooldown"] == 3)
                # The local box is the streamer: never cooled down, and sees the moderator commands.
                return [await say(http, "streamer", "!help") for _ in range(2)]

        local = asyncio.run(go())
        counts = ignored()
    assert counts["cooldown"] == 3 and counts["rate_limited"] == 0  # !help once, !top once
    assert local[0] == local[1] and "!pause" in local[0]
