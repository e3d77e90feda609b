"""Who may come in: operators with a token, media streams with a call token, else this machine only.

Two secrets guard the two kinds of way in:

- ``access.token`` for the operator surface (``/agent``, ``/phone``, ``/api/*``,
  ``/crm/*``, ``/cif/*``, ``/metrics``): presented as ``?token=``, ``Authorization: Bearer`` or the cookie
  a valid ``?token=`` sets, so links between those pages keep working.
- ``access.media_secret`` for media websockets: our own webhook answers a call
  with a token for that call id (HMAC-SHA256 of the id), passed back as a
  stream ``<Parameter>`` (Twilio), an extra header (Plivo, Vonage) or the
  stream URL's ``?token=`` (Telnyx, or any platform configured by hand, which
  may also present the secret itself). A token for one call opens no other.

Without the secret, a way in answers only clients on the loopback address that
came directly (no proxy's forwarding headers), so ``voicebot serve`` bound to a
public address refuses everyone until a secret is set. Every comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Mapping

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

OPERATOR_PATHS = ("/agent", "/phone", "/api", "/crm", "/cif", "/metrics")
COOKIE = "voicebot_token"
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def is_local(client_host: str | None, headers: Mapping[str, str]) -> bool:
    """A client on this machine that did not come through a proxy (which would make everyone look local)."""
    if any(name in headers for name in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(client_host or "").is_loopback
    except ValueError:
        return False


def allowed(secret: SecretStr | None, given: str, client_host: str | None, headers: Mapping[str, str]) -> bool:
    """With a configured secret, the client must present it; without one, only local clients get in."""
    if secret is not None:
        return hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
    return is_local(client_host, headers)


def call_token(secret: SecretStr, call_id: str) -> str:
    """The token our webhook hands a platform for one call's media stream."""
    return hmac.new(secret.get_secret_value().encode(), call_id.encode(), hashlib.sha256).hexdigest()


def media_allowed(
    secret: SecretStr | None, call_id: str, given: str, client_host: str | None, headers: Mapping[str, str]
) -> bool:
    """A media stream opens with this call's token or the secret itself; without a secret, local clients only."""
    if secret is None:
        return is_local(client_host, headers)
    expected = call_token(secret, call_id).encode()
    return hmac.compare_digest(given.encode(), expected) or allowed(secret, given, client_host, headers)


def stream_parameters(secret: SecretStr | None, call_id: str) -> dict[str, str]:
    """What a webhook answer adds to the stream it opens: the call's token, when media streams need one."""
    return {"token": call_token(secret, call_id)} if secret is not None and call_id else {}


def _is_operator_path(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in OPERATOR_PATHS)


class OperatorAccess:
    """ASGI middleware in front of the operator surface; the phone platforms' endpoints have their own checks."""

    def __init__(self, app: ASGIApp, token: SecretStr | None):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_operator_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        from_query = request.query_params.get("token", "")
        bearer = request.headers.get("authorization", "")
        given = from_query or (bearer[7:] if bearer.lower().startswith("bearer ") else "")
        client = request.client.host if request.client else None
        if allowed(self.token, given, client, request.headers) or self._cookie_ok(request):
            if self.token is not None and from_query:
                send = _setting_cookie(send, _cookie_value(self.token))
            await self.app(scope, receive, send)
            return
        if self.token is not None:
            response = JSONResponse({"detail": "token required (access.token)"}, status_code=401)
        else:
            response = JSONResponse(
                {"detail": "set access.token to use this from another machine or through a proxy"}, status_code=403
            )
        log.warning("refused %s %s: no valid token, or not a local client", request.method, scope["path"])
        await response(scope, receive, send)

    def _cookie_ok(self, request: Request) -> bool:
        cookie = request.cookies.get(COOKIE, "")
        return self.token is not None and hmac.compare_digest(cookie.encode(), _cookie_value(self.token).encode())


def _cookie_value(token: SecretStr) -> str:
    """What the cookie holds: derived from the token, so the token itself is not stored in the browser."""
    return hmac.new(token.get_secret_value().encode(), b"voicebot operator cookie", hashlib.sha256).hexdigest()


def _setting_cookie(send: Send, value: str) -> Send:
    """Remember a token given in the URL, so the pages it links to open too (and it can leave the address bar)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            cookie = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())]}
        await send(message)

    return sending
