"""The addresses a platform reaches us at, for the URLs we hand it (stream, after-stream, hold music)."""

from __future__ import annotations

from fastapi import Request

from voicebot.server.state import runtime_of


def public_url(request: Request) -> str:
    """The configured public URL, else the one this request came in on."""
    configured = runtime_of(request).settings.server.public_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    return f"{proto}://{host}"


def requested_url(request: Request) -> str:
    """The URL the platform called, as it signed it: our public base, then this request's path and query."""
    return public_url(request) + request.url.path + (f"?{request.url.query}" if request.url.query else "")


def ws_url(http_url: str) -> str:
    return "wss://" + http_url[8:] if http_url.startswith("https://") else "ws://" + http_url.removeprefix("http://")
