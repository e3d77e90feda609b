"""Who may use an endpoint that is not a phone platform's: a shared secret, or else loopback only."""

from __future__ import annotations

import hmac
import ipaddress

from pydantic import SecretStr


def allowed(secret: SecretStr | None, given: str, client_host: str | None) -> bool:
    """With a configured secret, the caller must present it (compared in constant time);
    without one, only clients on this machine get in."""
    if secret is not None:
        return hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
    try:
        return ipaddress.ip_address(client_host or "").is_loopback
    except ValueError:
        return False
