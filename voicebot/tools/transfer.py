"""Agent transfer on Twilio: where a caller goes and the TwiML that sends them there.

Transfer without REST credentials works through ``<Connect action=...>``: the
bot closes the media stream and Twilio asks ``/twilio/after-stream`` what to do
next; the answer depends on how the bot ended the call.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

from voicebot.config import TransferSettings
from voicebot.tools.screen_pop import TransferTarget


def transfer_target(settings: TransferSettings) -> TransferTarget:
    if settings.mode == "dial":
        return TransferTarget("dial", settings.agent_number)
    return TransferTarget("enqueue", settings.queue)


def _response(*verbs: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>\n<Response>' + "".join(verbs) + "</Response>"


def connect_twiml(public_url: str, public_ws_url: str, caller: str, dialed: str) -> str:
    """The voice webhook's answer: stream the call to the bot, then ask what's next."""
    return _response(
        f"<Connect action={quoteattr(public_url + '/twilio/after-stream')}>"
        f"<Stream url={quoteattr(public_ws_url + '/twilio/media')}>"
        f'<Parameter name="from" value={quoteattr(caller)}/>'
        f'<Parameter name="to" value={quoteattr(dialed)}/>'
        "</Stream></Connect>"
    )


def after_stream_twiml(
    outcome: str | None, transfer: dict[str, Any] | None, settings: TransferSettings, public_url: str
) -> str:
    """What Twilio does once the bot closed the stream: hand over or hang up.

    A call the bot did not finish (no record, a dropped stream, an error) goes to
    an agent: a caller is never left in silence or cut off by a fault of ours.
    """
    if outcome in ("completed", "abandoned"):
        return _response("<Hangup/>")
    mode = (transfer or {}).get("mode", settings.mode)
    target = (transfer or {}).get("target") or (settings.agent_number if mode == "dial" else settings.queue)
    if mode == "dial":
        return _response(f'<Dial timeout="{settings.dial_timeout_secs}"><Number>{escape(target)}</Number></Dial>')
    wait_url = public_url + "/twilio/hold"
    return _response(f'<Enqueue waitUrl={quoteattr(wait_url)} waitUrlMethod="GET">{escape(target)}</Enqueue>')


def hold_twiml(public_url: str) -> str:
    """The Enqueue wait URL's answer: the hold music, looping."""
    return _response(f'<Play loop="0">{escape(public_url + "/media/hold-music.wav")}</Play>')
