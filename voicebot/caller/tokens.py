"""What a client presents to a voicebot server that has secrets (README, Security)."""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.config import AccessSettings


@dataclass(frozen=True, slots=True)
class ServerTokens:
    media: str = ""  # the server's access.media_secret: opens any media stream
    api: str = ""  # the server's access.token: reads call records and metrics from /api

    @classmethod
    def from_settings(cls, access: AccessSettings, media: str | None = None, api: str | None = None) -> ServerTokens:
        """Given tokens, else the ones in the settings (``VOICEBOT_ACCESS__*``, as the server reads them)."""
        secret = access.media_secret.get_secret_value() if access.media_secret else ""
        token = access.token.get_secret_value() if access.token else ""
        return cls(media=media or secret, api=api or token)

    @property
    def api_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api}"} if self.api else {}
