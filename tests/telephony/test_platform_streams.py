"""Telnyx, Plivo, Exotel and Vonage streams: who is calling, what is heard, and what is skipped."""

from __future__ import annotations

import json

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame, OutputTransportMessageFrame

from voicebot.caller.wires import WIRES
from voicebot.pipeline.frames import CallerHungUpFrame, MarkEchoFrame
from voicebot.telephony.exotel import stream as exotel
from voicebot.telephony.plivo import stream as plivo
from voicebot.telephony.stream import ProtocolError
from voicebot.telephony.telnyx import stream as telnyx
from voicebot.telephony.vonage import stream as vonage

JANE = "+14155552671"
MODULES = {"telnyx": telnyx, "plivo": plivo, "exotel": exotel, "vonage": vonage}
SERIALIZERS = {
    "telnyx": telnyx.TelnyxMediaSerializer,
    "plivo": plivo.PlivoMediaSerializer,
    "exotel": exotel.ExotelMediaSerializer,
    "vonage": vonage.VonageMediaSerializer,
}


def start_of(platform: str):
    """The platform's opening messages, as its wire sends them, through our parser."""
    wire = WIRES[platform](caller=JANE, dialed="+18005550100")
    parse = MODULES[platform].parse_start
    starts = [parse(json.loads(m)) for m in wire.opening()]
    return wire, [s for s in starts if s is not None][-1]


async def serializer_for(platform: str):
    wire, start = start_of(platform)
    s = SERIALIZERS[platform](start)
    s._sample_rate = 16000
    return wire, s


@pytest.mark.parametrize("platform", sorted(MODULES))
def test_the_start_gives_the_call_and_the_caller_number(platform):
    wire, start = start_of(platform)
    assert (start.call_id, start.caller, start.dialed) == (wire.call_id, JANE, "+18005550100")


@pytest.mark.parametrize("platform", sorted(MODULES))
async def test_caller_audio_and_digits_arrive_as_frames(platform):
    wire, s = await serializer_for(platform)
    frames = [await s.deserialize(wire.media(b"\x10\x00" * 160, i * 20)) for i in range(25)]
    audio = [f for f in frames if f is not None]
    assert audio and all(isinstance(f, InputAudioRawFrame) and f.sample_rate == 16000 for f in audio)
    dtmf = await s.deserialize(wire.dtmf("1"))
    assert isinstance(dtmf, InputDTMFFrame) and dtmf.button.value == "1"


@pytest.mark.parametrize("platform", ["telnyx", "plivo", "exotel"])
async def test_marks_go_out_and_their_echo_comes_back(platform):
    wire, s = await serializer_for(platform)
    out = await s.serialize(OutputTransportMessageFrame(message=s.mark_message("utt-4")))
    assert wire.parse(out).name == "utt-4"
    echo = await s.deserialize(wire.mark_echo("utt-4"))
    assert isinstance(echo, MarkEchoFrame) and echo.mark == "utt-4"


async def test_vonage_marks_stay_off_the_wire():
    _, s = await serializer_for("vonage")
    assert await s.serialize(OutputTransportMessageFrame(message=s.mark_message("utt-1"))) is None


@pytest.mark.parametrize("platform", ["telnyx", "exotel"])
async def test_stop_is_a_hang_up(platform):
    wire, s = await serializer_for(platform)
    assert isinstance(await s.deserialize(wire.stop()), CallerHungUpFrame)


@pytest.mark.parametrize("platform", sorted(MODULES))
@pytest.mark.parametrize(
    "message",
    ["{not json", "[1, 2]", json.dumps({"event": "media"}), json.dumps({"event": "media", "media": {"payload": 7}})],
)
async def test_malformed_messages_are_skipped_not_fatal(platform, message):
    _, s = await serializer_for(platform)
    assert await s.deserialize(message) is None


async def test_odd_length_vonage_audio_is_skipped():
    _, s = await serializer_for("vonage")
    assert await s.deserialize(b"\x00" * 641) is None and s.skipped == 1


@pytest.mark.parametrize(
    ("platform", "message"),
    [
        ("telnyx", {"event": "start", "stream_id": "s", "start": {"media_format": {"encoding": "PCMU"}}}),
        (
            "telnyx",
            {
                "event": "start",
                "stream_id": "s",
                "start": {"call_control_id": "v3:x", "media_format": {"encoding": "OPUS"}},
            },
        ),
        ("plivo", {"event": "start", "start": {"streamId": "s"}}),
        ("plivo", {"event": "media", "media": {}}),
        ("exotel", {"event": "start", "start": {"call_sid": "c", "media_format": {"sample_rate": "44100"}}}),
        ("vonage", {"event": "websocket:connected", "content-type": "audio/l16;rate=16000"}),
        ("vonage", {"event": "websocket:connected", "content-type": "audio/opus", "call_uuid": "u"}),
    ],
)
def test_a_start_we_cannot_serve_is_a_protocol_error(platform, message):
    with pytest.raises(ProtocolError):
        MODULES[platform].parse_start(message)


def test_plivo_extra_headers_may_be_pairs_or_json():
    assert plivo.extra_headers("from=+1415,to=+1800") == {"from": "+1415", "to": "+1800"}
    assert plivo.extra_headers('{"from": "+1415"}') == {"from": "+1415"}
    assert plivo.extra_headers(None) == {}
