"""What the telephony platforms' REST clients (Twilio, Telnyx, Vonage) raise when a command fails."""

from __future__ import annotations


class PlatformAPIError(Exception):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status
