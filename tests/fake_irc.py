"""The loopback Twitch IRC the chat tests talk to (server/chat/loopback.py, shared with the chat
benchmark)."""

from server.chat.loopback import HOST, FakeTwitchIrc, Session

__all__ = ["HOST", "FakeTwitchIrc", "Session"]
