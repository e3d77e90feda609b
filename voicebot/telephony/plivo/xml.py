"""Plivo XML: stream the call to the bot, then hand over or hang up when the bot lets go.

``keepCallAlive`` keeps the call in the ``<Stream>`` until the bot closes it;
Plivo then runs the ``<Redirect>``, whose answer (:func:`after_stream_xml`) dials
the agent, puts the caller in a queue conference with hold music, or hangs up.
"""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from voicebot.config import TransferSettings
from voicebot.telephony.markup import xml_document
from voicebot.tools.transfer import TransferTarget


def answer_xml(
    public_url: str, public_ws_url: str, caller: str, dialed: str, extra: Mapping[str, str] | None = None
) -> str:
    """Stream the call to the bot; caller, dialed number and ``extra`` arrive as the start's ``extra_headers``."""
    headers = ",".join(f"{k}={v}" for k, v in {"from": caller, "to": dialed, **(extra or {})}.items())
    return xml_document(
        '<Stream bidirectional="true" keepCallAlive="true" contentType="audio/x-mulaw;rate=8000" '
        f"extraHeaders={quoteattr(headers)}>{escape(public_ws_url + '/plivo/media')}</Stream>",
        f'<Redirect method="POST">{escape(public_url + "/plivo/after-stream")}</Redirect>',
    )


def after_stream_xml(handover: TransferTarget | None, settings: TransferSettings, public_url: str) -> str:
    if handover is None:
        return xml_document("<Hangup/>")
    if handover.mode == "enqueue":
        wait = quoteattr(public_url + "/plivo/hold")
        return xml_document(
            f'<Conference waitSound={wait} startConferenceOnEnter="false" endConferenceOnExit="false">'
            f"{escape(handover.target)}</Conference>"
        )
    if handover.target.startswith("sip:"):
        endpoint = f"<User>{escape(handover.target)}</User>"
    else:
        endpoint = f"<Number>{''.join(c for c in handover.target if c.isdigit())}</Number>"
    return xml_document(f'<Dial timeout="{settings.dial_timeout_secs}">{endpoint}</Dial>')


def hold_xml(public_url: str) -> str:
    """The queue conference's wait sound: hold music, then the hold prompt in the bot's voice."""
    return xml_document(
        f"<Play>{escape(public_url + '/media/hold-music.wav')}</Play>",
        f"<Play>{escape(public_url + '/prompts/hold.wav')}</Play>",
    )
