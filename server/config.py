"""The server's one settings object: defaults, then a `.env`-style file, then `SHOWCASE_*` variables,
then command-line flags; validated at start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field
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

    @property
    def db_path(self) -> Path:
        return self.data_dir / "showcase.sqlite3"

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
