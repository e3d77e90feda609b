"""What the XML-answering platforms (Twilio's TwiML, Plivo's XML) and the SIP hand-offs share."""

from __future__ import annotations

from fastapi.responses import Response

# The SIP header a hand-off carries the screen pop's id in (Telnyx, Vonage), for a desktop that reads it.
POP_HEADER = "X-Voicebot-Screen-Pop"


def xml_document(*elements: str) -> str:
    """A ``<Response>`` document around ``elements`` (already escaped)."""
    return '<?xml version="1.0" encoding="UTF-8"?>\n<Response>' + "".join(elements) + "</Response>"


def xml_reply(document: str) -> Response:
    return Response(document, media_type="application/xml")
