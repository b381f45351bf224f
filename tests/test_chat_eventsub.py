"""The logged-in Twitch path against the loopback fake of id.twitch.tv, Helix and EventSub: the device
login, a 0600 token validated and refreshed, chat read and answered, moderators and Shared Chat as
with IRC, duplicates dropped, and a session_reconnect followed without resubscribing."""

import asyncio
import os
import stat
import subprocess
import sys

import httpx
import pytest
from fake_twitch_api import CLIENT_ID, FakeTwitchApi
from test_polls import scene, until
from test_server import Running

from server.chat.eventsub import Token, TwitchAuth, TwitchAuthError


def auth_for(fake, path, http):
    return TwitchAuth(CLIENT_ID, path, id_url=fake.id_url, http=http)


def test_the_device_login_stores_a_0600_token_that_validates_and_refreshes(tmp_path):
    path = tmp_path / "data" / "twitch_token.json"
    shown = []

    async def go(fake):
        async with httpx.AsyncClient() as http:
            auth = auth_for(fake, path, http)
            token = await auth.device_flow(lambda *a: shown.append(a))
            first = token.access_token
            fake.expire(first)  # Twitch no longer accepts it: validation refreshes it
            again = await auth_for(fake, path, http).validate()
            fake.expire(again.access_token)
            fake.refresh_tokens.clear()  # and now the refresh token is refused too
            with pytest.raises(TwitchAuthError, match="refused to refresh"):
                await auth_for(fake, path, http).validate()
            return token, first, again

    with FakeTwitchApi(pending_polls=2) as fake:
        token, first, again = asyncio.run(go(fake))
        polls = [c for c in fake.calls if c == ("POST", "/oauth2/token")]
    assert shown[0][0] == "ABCD-EFGH" and shown[0][1].startswith("https://www.twitch.tv/activate")
    assert len(polls) >= 3 + 1 + 1  # two "authorization_pending", the token, a refresh, a refused one
    assert (token.login, token.user_id) == ("mybot", "2222") and set(token.scopes) == {
        "user:read:chat",
        "user:write:chat",
    }
    assert again.access_token != first and again.login == "mybot"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Token.load(path).access_token == again.access_token  # the refreshed one was stored


def test_twitch_login_command_prints_the_code_and_stores_the_token(tmp_path):
    with FakeTwitchApi(pending_polls=1) as fake:
        env = {**os.environ, "SHOWCASE_TWITCH_CLIENT_ID": CLIENT_ID, "SHOWCASE_TWITCH_ID_URL": fake.id_url}
        done = subprocess.run(
            [sys.executable, "-m", "server", "twitch-login", "--data-dir", str(tmp_path / "data")],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        missing = subprocess.run(
            [sys.executable, "-m", "server", "twitch-login", "--data-dir", str(tmp_path / "x")],
            capture_output=True, text=True, env={**env, "SHOWCASE_TWITCH_CLIENT_ID": ""}, timeout=60,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "enter the code ABCD-EFGH" in done.stdout and "Logged in as mybot" in done.stdout
    assert Token.load(tmp_path / "data" / "twitch_token.json").login == "mybot"
    assert missing.returncode == 2 and "SHOWCASE_TWITCH_CLIENT_ID" in missing.stderr


def test_eventsub_chat_plays_along_through_the_server(tmp_path):
    with FakeTwitchApi() as fake:
        issued = fake.issue()
        Token(
            access_token=issued["access_token"], refresh_token=issued["refresh_token"], expires_at=0.0
        ).save(tmp_path / "data" / "twitch_token.json")
        settings = {"twitch_channel": "shogishow", "twitch_chat": "eventsub", "twitch_client_id": CLIENT_ID,
                    "twitch_id_url": fake.id_url, "twitch_api_url": fake.api_url,
                    "twitch_eventsub_url": fake.eventsub_url, "predict_window_s": 600}  # fmt: skip
        with Running(tmp_path, **settings) as srv:

            def health():
                return httpx.get(f"{srv.http}/healthz").json()

            async def go():
                async with scene(srv, tmp_path) as (_viewer, show, _http):
                    await until(lambda: health()["chat"]["twitch"]["state"] == "joined")
                    fake.chat("Viewer1", "!help")
                    await until(lambda: len(fake.sent) == 1)
                    fake.chat("Guest", "!help", source="9999")  # a Shared Chat mirror
                    fake.chat("Dup", "!pause", badges=("moderator",), message_id="same-id")
                    fake.chat("Dup", "!pause", badges=("moderator",), message_id="same-id")  # delivered twice
                    await until(lambda: [c["action"] for c in show.controls] == ["pause"])
                    fake.reconnect()
                    await until(lambda: fake.welcomed[-1:] == ["reconnect=1"])
                    fake.chat("TheStreamer", "!resume", badges=("broadcaster",))
                    await until(lambda: [c["action"] for c in show.controls] == ["pause", "resume"])
                    fake.chat("rando", "!pause")
                    await until(lambda: health()["chat"]["ignored"]["not_a_mod"] == 1)
                    return health()

            h = asyncio.run(go())
        subs = list(fake.subscriptions)
        sent = list(fake.sent)
    assert sent[0]["message"].startswith("@Viewer1 !predict") and sent[0]["broadcaster_id"] == "1111"
    assert sent[0]["sender_id"] == "2222"
    assert len(subs) == 1  # the reconnect kept the subscription: no second one
    assert subs[0]["type"] == "channel.chat.message" and subs[0]["condition"] == {
        "broadcaster_user_id": "1111", "user_id": "2222"}  # fmt: skip
    assert h["chat"]["ignored"]["shared_chat"] == 1
    assert h["chat"]["twitch"]["state"] == "joined" and h["chat"]["twitch"]["can_post"] is True
