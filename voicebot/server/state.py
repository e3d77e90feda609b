"""The process's Runtime as routes reach it, typed.

Routes import this, not :mod:`voicebot.server.runtime`, which imports the
platforms' clients and so, through their packages, the routes themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from voicebot.server.runtime import Runtime


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The Runtime ``create_app`` put on the app's state, from any of its requests or websockets."""
    return cast("Runtime", connection.app.state.runtime)
