"""The server's one settings object: defaults, then a `.env`-style file, then `SHOWCASE_*` variables,
then command-line flags; validated at start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # `showcase.env` in the working directory (optional) holds SHOWCASE_* lines; the environment wins.
    model_config = SettingsConfigDict(env_prefix="SHOWCASE_", env_file="showcase.env", extra="ignore")

    host: str = "127.0.0.1"
    """Loopback by default: expose it deliberately (e.g. 0.0.0.0 behind a firewall) for a remote trainer."""
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("data")
    trainer_token: str | None = None
    """Token the trainer must present; `up` makes a fresh one per start when unset."""
    allowed_origins: list[str] = []
    """Extra Origins allowed on the websockets besides this server's own (e.g. an OBS overlay host)."""
    max_request_bytes: int = Field(64 * 1024, ge=1024)
    viewer_queue: int = Field(512, ge=8)
    """Messages a viewer may fall behind before it is disconnected."""
    snapshot_moves: int = Field(600, ge=1)
    snapshot_metric_points: int = Field(300, ge=1)
    send_timeout_s: float = Field(5.0, gt=0)

    # Scale-out: several web workers sharing one stream through Redis (server/bus.py)
    redis_url: str | None = None
    """e.g. redis://127.0.0.1:6379/0 or unix:///path/redis.sock. Set on the primary, its stream also goes
    out through Redis; a viewer worker relays it from there. Unset: one process, as before.
    `python -m server up --workers N` starts its own redis-server when this is unset."""
    redis_prefix: str = Field("showcase", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    """Channel names start with this (one Redis can carry several showcases)."""
    role: Literal["primary", "viewer"] = "primary"
    """primary: the trainer link, polls, chat, control and archive writes (exactly one). viewer: the
    viewer feed, the pages and the archive's read routes, relayed from the primary through Redis."""
    primary_url: str | None = None
    """Where a viewer worker sends people for what only the primary does (control, polls, the trainer
    link); shown in its refusals, e.g. http://127.0.0.1:8000."""
    worker_name: str | None = None
    """A viewer worker's name in logs and /healthz (default: its port)."""

    # Archive retention (applied in the background; see server/retention.py)
    keep_sampled_days: float = Field(7.0, ge=0)
    """Self-play and evaluation games older than this are deleted (0 = kept until the size limit)."""
    keep_days: float = Field(0.0, ge=0)
    """Showcase games and closed polls older than this are deleted (0 = no age limit)."""
    max_archive_mb: float = Field(0.0, ge=0)
    """Above this many MB in use, the oldest sampled games go, then the oldest showcase games (0 = no
    limit). Open games, games a milestone links to, milestones, metrics and scores always stay."""
    retention_every_s: float = Field(600.0, ge=10)
    load_every_s: float = Field(5.0, ge=0.2, le=600)
    """How often the server samples its own CPU and memory for the status strip (`server_load`)."""

    # OBS (optional; obs-websocket v5, built into OBS 28+: Tools > WebSocket Server Settings)
    obs_url: str | None = None
    """e.g. ws://127.0.0.1:4455; unset = no OBS control."""
    obs_password: SecretStr | None = None
    """The obs-websocket server password (SHOWCASE_OBS_PASSWORD); never shown or logged."""
    obs_poll_scene: str | None = None
    """Switch OBS to this scene when a prediction round opens, and back to the scene it was on after
    the reveal; unset = no scene switching."""
    obs_refresh_between_games: bool = True
    """Reload the browser sources (refreshnocache) when a new showcase game starts."""
    obs_refresh_sources: list[str] = []
    """Which browser sources to reload, by input name; empty = every browser source."""

    # Chat and polls
    twitch_channel: str | None = None
    """Twitch channel whose chat plays along (read anonymously unless an OAuth token is set)."""
    twitch_nick: str | None = None
    """The bot account that posts results (needed with `twitch_oauth_token`)."""
    twitch_oauth_token: str | None = None
    """`oauth:...` token with chat:read and chat:edit for `twitch_nick`; keep it in showcase.env."""
    twitch_url: str = "wss://irc-ws.chat.twitch.tv:443"
    twitch_chat: Literal["irc", "eventsub"] = "irc"
    """`irc`: anonymous or OAuth IRC, nothing to register. `eventsub`: the logged-in path (EventSub
    WebSocket to read, Helix to post) with a token from `python -m server twitch-login`."""
    twitch_client_id: str | None = None
    """The public client id of your Twitch application (dev.twitch.tv/console, client type Public),
    for the device login and the EventSub path."""
    twitch_id_url: str = "https://id.twitch.tv"
    twitch_api_url: str = "https://api.twitch.tv/helix"
    twitch_eventsub_url: str = "wss://eventsub.wss.twitch.tv/ws"
    predict_window_s: float = Field(30.0, gt=0, le=600)
    """Seconds a prediction round stays open (plus `stream_delay_s`)."""
    strategy_window_s: float = Field(60.0, gt=0, le=1800)
    challenge_approval_s: float = Field(300.0, gt=0, le=3600)
    """How long a parameter challenge's result waits for the streamer; then it is rejected."""
    stream_delay_s: float = Field(0.0, ge=0, le=120)
    """The stream's delay: viewers see the position this much later, so voting stays open longer."""
    predict_every_moves: int = Field(0, ge=0)
    """Open a prediction round every N showcase moves (0: only when the streamer opens one)."""
    hold_timeout_s: float = Field(15.0, gt=0)
    reveal_s: float = Field(8.0, ge=0, le=120)
    """Seconds the reveal stays on screen before the next round can open."""
    points_exact: int = Field(10, ge=0)
    points_top5: int = Field(3, ge=0)
    """Points for a prediction that is not the AI's move but is in its top 5."""
    chat_user_limit: int = Field(5, ge=1)
    chat_user_window_s: float = Field(10.0, gt=0)
    """Each user's commands beyond `chat_user_limit` per `chat_user_window_s` are ignored."""
    highlights_per_s: int = Field(4, ge=1)
    chat_shared: bool = False
    """Count Shared Chat messages mirrored from partner channels (votes, commands); off: ignored."""
    chat_ignore_users: list[str] = ["nightbot", "streamelements", "moobot", "fossabot", "streamlabs"]
    """Accounts (logins) whose lines are ignored: other bots. Set it to [] to hear everyone."""
    chat_command_cooldown_s: float = Field(15.0, ge=0)
    """A channel-wide answer (!help, !top) is given at most this often."""

    # Live engine analysis (optional: without the engine the pages say so)
    analysis_engine: str = "fairy-stockfish"
    """The analysis engine's program (a name looked up on PATH and in `engine_dirs`, or a path)."""
    engine_dirs: list[str] = ["/usr/games", "/usr/local/games"]
    """Where engine programs are looked for after PATH (Debian's /usr/games is not on root's PATH)."""
    analysis_nodes: int = Field(20000, ge=0, le=10_000_000)
    """Nodes per search (each move takes one or two); 0 turns live analysis off. The winning-chance
    conversion in showcase_core/engines/ladder.json was fitted at 20,000."""
    analysis_live_backlog: int = Field(4, ge=1, le=1000)
    analysis_archive_limit: int = Field(5000, ge=1)
    leaderboard_size: int = Field(10, ge=1, le=100)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "showcase.sqlite3"

    @property
    def twitch_token_path(self) -> Path:
        return self.data_dir / "twitch_token.json"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin_token"


def load_admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token from the data directory, created (0600) on first start; (token, created)."""
    path = settings.admin_token_path
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token, False
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True
