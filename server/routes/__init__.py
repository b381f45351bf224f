"""One small router per resource; `services` is the typed dependency they share."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from server.app import Services


def services(conn: HTTPConnection) -> Services:
    return conn.app.state.services
