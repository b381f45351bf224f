"""Twitch IRC: the line format, and the real client against the loopback fake Twitch server."""

import asyncio
import time

import pytest
from fake_irc import FakeTwitchIrc

from server.chat.irc import (
    IrcParseError,
    SlidingWindow,
    TwitchChat,
    escape_tag,
    format_line,
    parse_line,
    privmsg_to_chat,
    unescape_tag,
)

REAL_PRIVMSG = (
    "@badge-info=subscriber/8;badges=moderator/1,subscriber/6;color=#0D4200;display-name=Ronni\\sthe\\:Great;"
    "emote-only=1;emotes=25:0-4;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=1;room-id=1337;subscriber=1;"
    "tmi-sent-ts=1507246572675;turbo=0;user-id=1337;user-type=mod "
    ":ronni!ronni@ronni.tmi.twitch.tv PRIVMSG #ronni :Kappa"
)


def test_a_real_privmsg_parses_with_its_tags_unescaped():
    msg = parse_line(REAL_PRIVMSG)
    assert msg.command == "PRIVMSG" and msg.params == ["#ronni", "Kappa"] and msg.nick == "ronni"
    assert msg.tags["display-name"] == "Ronni the;Great" and msg.tags["emote-only"] == "1"
    chat = privmsg_to_chat(msg)
    assert chat.user_id == "1337" and chat.display_name == "Ronni the;Great" and chat.text == "Kappa"
    assert chat.is_mod and chat.ts_ms == 1507246572675 and chat.source == "twitch"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("a\\sb", "a b"),
        ("semi\\:colon", "semi;colon"),
        ("back\\\\slash", "back\\slash"),
        ("cr\\rlf\\n", "cr\rlf\n"),
        ("unknown\\q", "unknownq"),
        ("trailing\\", "trailing"),
        ("", ""),
    ],
)
def test_tag_unescaping_follows_ircv3(raw, value):
    assert unescape_tag(raw) == value


def test_escape_and_unescape_round_trip():
    for text in ["a b;c\\d\r\n", "日本語 ;;", "\\s"]:
        assert unescape_tag(escape_tag(text)) == text


def test_other_lines_and_bad_lines():
    ping = parse_line("PING :tmi.twitch.tv")
    assert ping.command == "PING" and ping.trailing == "tmi.twitch.tv" and ping.prefix is None
    welcome = parse_line(":tmi.twitch.tv 001 justinfan123 :Welcome, GLHF!")
    assert welcome.command == "001" and welcome.params == ["justinfan123", "Welcome, GLHF!"]
    action = privmsg_to_chat(parse_line(":a!a@a.tmi.twitch.tv PRIVMSG #c :\x01ACTION waves\x01"))
    assert action.text == "waves" and action.user_id == "nick:a"  # no tags: the nick stands in
    for bad in ["", "@only-tags", ":prefix-only", "@a=b :p", "bad\rline", "!!! nope"]:
        with pytest.raises(IrcParseError):
            parse_line(bad)


def test_outgoing_lines_refuse_injection():
    assert format_line("PRIVMSG", "#c", "hello there") == "PRIVMSG #c :hello there"
    assert format_line("JOIN", "#c") == "JOIN #c"
    for text in ["hi\r\nPRIVMSG #c :owned", "a\nb", "nul\0"]:
        with pytest.raises(ValueError):
            format_line("PRIVMSG", "#c", text)


def test_sliding_window_allows_limit_per_window():
    window = SlidingWindow(3, 30.0)
    for t in (0.0, 1.0, 2.0):
        assert window.wait_time(t) == 0
        window.record(t)
    assert window.wait_time(5.0) == pytest.approx(25.0)  # the 4th waits for the 1st to age out
    assert window.wait_time(30.0) == 0


def run_client(chat: TwitchChat, body, timeout=20):
    """Run the client against the fake while `body(received)` (a coroutine) drives the test."""
    received = []

    async def handler(message):
        received.append(message)
        return None

    async def go():
        task = asyncio.create_task(chat.run(handler))
        try:
            await asyncio.wait_for(body(received), timeout)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    return received


async def until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_anonymous_login_joins_and_reads_tagged_chat():
    with FakeTwitchIrc() as irc:
        chat = TwitchChat("#ShogiShow", url=irc.url)

        async def body(received):
            await until(lambda: chat.state == "joined")
            irc.chat("shogishow", "viewer_1", "!predict 7g7f", display_name="<b>V1</b>", user_id="42")
            irc.chat("shogishow", "viewer_2", "Kappa Kappa", emote_only="1", emotes="25:0-4,6-10")
            await until(lambda: len(received) == 2)

        received = run_client(chat, body)
        assert not chat.can_post and chat.nick.startswith("justinfan") and chat.nick[9:].isdigit()
        assert irc.sent("CAP") == ["CAP REQ :twitch.tv/tags twitch.tv/commands"]
        assert irc.sent("PASS") == []  # anonymous: no password at all
        assert irc.sent("NICK") == [f"NICK {chat.nick}"] and irc.sent("JOIN") == ["JOIN #shogishow"]
    first, second = received
    assert (first.user_id, first.display_name, first.text) == ("42", "<b>V1</b>", "!predict 7g7f")
    assert second.text == "Kappa Kappa" and not second.is_mod


def test_oauth_login_posts_and_a_wrong_token_is_reported():
    with FakeTwitchIrc(tokens={"s3cret": "showbot"}) as irc:
        chat = TwitchChat("shogishow", url=irc.url, nick="ShowBot", oauth_token="oauth:s3cret")

        async def body(_):
            await until(lambda: chat.state == "joined")
            assert await chat.say("The AI played ７六歩\r\nPRIVMSG #x :injected")
            await until(lambda: len(irc.sent("PRIVMSG")) == 1)

        run_client(chat, body)
        assert irc.sent("PASS") == ["PASS oauth:s3cret"] and irc.sent("NICK") == ["NICK showbot"]
        # CR/LF became spaces: one line, nothing injected.
        assert irc.sent("PRIVMSG") == ["PRIVMSG #shogishow :The AI played ７六歩  PRIVMSG #x :injected"]

        wrong = TwitchChat("shogishow", url=irc.url, nick="showbot", oauth_token="nope")

        async def refused(_):
            await until(lambda: wrong.state == "auth failed")

        run_client(wrong, refused)
        assert wrong.last_notice == "Login authentication failed"
    with pytest.raises(ValueError):
        TwitchChat("shogishow", oauth_token="oauth:x")  # posting needs the bot's nick
    with pytest.raises(ValueError):
        TwitchChat("no spaces allowed")


def test_ping_is_answered_and_reconnect_is_followed():
    with FakeTwitchIrc() as irc:
        chat = TwitchChat("shogishow", url=irc.url)

        async def body(received):
            await until(lambda: chat.state == "joined")
            irc.ping()
            await until(lambda: irc.sent("PONG") == ["PONG :tmi.twitch.tv"])
            irc.reconnect()
            await until(lambda: irc.connections == 2 and irc.joined("shogishow") == 1)
            irc.chat("shogishow", "after", "still here")
            await until(lambda: [m.text for m in received] == ["still here"])

        run_client(chat, body)
        assert chat.connections == 2 and irc.sent("JOIN") == ["JOIN #shogishow"] * 2


def test_posting_keeps_under_the_rate_limit():
    with FakeTwitchIrc(tokens={"tok": "showbot"}) as irc:
        # Twitch allows 20 lines per 30 s; the same rule scaled down: 3 lines per 0.5 s.
        chat = TwitchChat("shogishow", url=irc.url, nick="showbot", oauth_token="tok", rate_limit=(3, 0.5))

        async def body(_):
            await until(lambda: chat.state == "joined")
            for i in range(8):
                assert await chat.say(f"line {i}")
            await until(lambda: len(irc.sent("PRIVMSG")) == 8)

        run_client(chat, body)
        times = list(chat.posted)  # when the client sent each line (arrival times bunch up under load)
        assert [line for _, line in irc.lines if line.startswith("PRIVMSG")] == [
            f"PRIVMSG #shogishow :line {i}" for i in range(8)
        ]
        # No window of 0.5 s holds more than 3 lines.
        assert len(times) == 8 and all(times[i + 3] - times[i] >= 0.5 for i in range(len(times) - 3))


def test_a_handler_error_does_not_end_chat():
    with FakeTwitchIrc() as irc:
        chat = TwitchChat("shogishow", url=irc.url)
        seen = []

        async def handler(message):
            seen.append(message.text)
            if message.text == "boom":
                raise RuntimeError("the store is busy")
            return None

        async def go():
            task = asyncio.create_task(chat.run(handler))
            await until(lambda: chat.state == "joined")
            irc.chat("shogishow", "a", "boom")
            irc.chat("shogishow", "b", "still counted")
            await until(lambda: seen == ["boom", "still counted"])
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(asyncio.wait_for(go(), 20))
    assert chat.connections == 1  # the same connection carried on


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A certificate for 127.0.0.1 made by openssl, as server and client TLS contexts."""
    import ssl
    import subprocess

    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))  # verifies the chain and the host name
    return server, client


def test_the_real_wss_path_logs_in_reads_and_posts_over_tls(self_signed):
    server_tls, client_tls = self_signed
    with FakeTwitchIrc(tokens={"tok123": "mybot"}, ssl=server_tls) as irc:
        assert irc.url.startswith("wss://")
        chat = TwitchChat(
            "shogishow", url=irc.url, nick="MyBot", oauth_token="oauth:tok123", ssl_context=client_tls
        )

        async def body(received):
            await until(lambda: chat.state == "joined")
            irc.chat("shogishow", "viewer", "!predict 7g7f", user_id="9")
            await until(lambda: len(received) == 1)
            assert await chat.say("round over")
            await until(lambda: any(line.endswith(":round over") for line in irc.sent("PRIVMSG")))

        received = run_client(chat, body)
        assert irc.sent("PASS") == ["PASS oauth:tok123"]
    assert received[0].text == "!predict 7g7f" and received[0].user_id == "9"


def test_a_certificate_the_client_does_not_trust_is_refused_and_retried(self_signed):
    import ssl

    server_tls, _ = self_signed
    with FakeTwitchIrc(ssl=server_tls) as irc:
        chat = TwitchChat(
            "shogishow", url=irc.url, ssl_context=ssl.create_default_context(), max_backoff_s=0.2
        )

        async def body(received):
            await until(lambda: chat.state == "disconnected")  # the handshake failed, not silently accepted

        run_client(chat, body)
        assert irc.sessions == [] and chat.connections == 0
