"""TwiML, and how a Twilio transfer is carried out.

There are two ways. Without REST credentials, the bot closes the media stream
and Twilio asks ``/twilio/after-stream`` (the ``<Connect action>``) what to do
next. With them, the live call is updated with the transfer TwiML at once.
:class:`TwilioHandover` is the one place that chooses; the dialogue only says
"transfer, for this reason".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

from voicebot.config import TransferSettings
from voicebot.storage.records import TransferRecord
from voicebot.telephony.markup import xml_document
from voicebot.telephony.twilio.api import TwilioAPIError, TwilioCalls
from voicebot.tools.transfer import TransferTarget, after_stream_target

log = logging.getLogger(__name__)


def connect_twiml(
    public_url: str, public_ws_url: str, caller: str, dialed: str, extra: Mapping[str, str] | None = None
) -> str:
    """The voice webhook's answer: stream the call to the bot (with ``extra`` parameters), then ask what's next."""
    parameters = {"from": caller, "to": dialed, **(extra or {})}
    return xml_document(
        f"<Connect action={quoteattr(public_url + '/twilio/after-stream')}>"
        f"<Stream url={quoteattr(public_ws_url + '/twilio/media')}>"
        + "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items())
        + "</Stream></Connect>"
    )


def after_stream_twiml(handover: TransferTarget | None, settings: TransferSettings, public_url: str) -> str:
    """What Twilio does once the bot closed the stream: hand over or hang up."""
    if handover is None:
        return xml_document("<Hangup/>")
    if handover.mode == "dial":
        number = escape(handover.target)
        return xml_document(f'<Dial timeout="{settings.dial_timeout_secs}"><Number>{number}</Number></Dial>')
    wait_url = public_url + "/twilio/hold"
    return xml_document(
        f'<Enqueue waitUrl={quoteattr(wait_url)} waitUrlMethod="GET">{escape(handover.target)}</Enqueue>'
    )


def hold_twiml(public_url: str) -> str:
    """The Enqueue wait URL's answer: hold music, then the hold prompt in the bot's voice.

    Twilio requests the wait URL again when its TwiML ends, so the two alternate
    for as long as the caller waits.
    """
    music = escape(public_url + "/media/hold-music.wav")
    prompt = escape(public_url + "/prompts/hold.wav")
    return xml_document(f"<Play>{music}</Play><Play>{prompt}</Play>")


def transfer_twiml(transfer: TransferRecord, settings: TransferSettings, public_url: str) -> str:
    """TwiML that puts the caller through to their transfer target (after-stream, or a REST update)."""
    return after_stream_twiml(after_stream_target("transferred", transfer, settings), settings, public_url)


class TwilioHandover:
    """Carries out a Twilio transfer: a REST update of the live call, or the stream close."""

    def __init__(self, settings: TransferSettings, calls: TwilioCalls | None, public_url: str):
        self.settings = settings
        self.calls = calls
        self.public_url = public_url

    async def transfer(self, call_sid: str, transfer: TransferRecord) -> str:
        """Returns how it was done: ``rest``, or ``stream_close`` (also when REST fails)."""
        if self.calls is None:
            return "stream_close"
        try:
            await self.calls.redirect(call_sid, transfer_twiml(transfer, self.settings, self.public_url))
        except TwilioAPIError as exc:
            log.error("call %s: REST transfer failed, falling back to the stream close: %s", call_sid, exc)
            return "stream_close"
        return "rest"
