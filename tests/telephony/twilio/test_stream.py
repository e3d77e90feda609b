"""The Media Streams serializer: marks and stop understood, bad messages skipped not fatal."""

import base64
import json

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame

from voicebot.pipeline.frames import CallerHungUpFrame, MarkEchoFrame
from voicebot.telephony.stream import ProtocolError, StreamStart
from voicebot.telephony.twilio.stream import TwilioMediaSerializer, parse_start


@pytest.fixture
async def serializer():
    s = TwilioMediaSerializer(StreamStart(call_id="CA1", stream_id="MZ1", caller="", dialed=""))
    s._sample_rate = 16000
    return s


def media(payload: str, **extra) -> str:
    return json.dumps(
        {"event": "media", "streamSid": "MZ1", "media": {"track": "inbound", "payload": payload, **extra}}
    )


async def test_audio_is_decoded_and_resampled_to_the_pipeline_rate(serializer):
    # The streaming resampler holds back a little audio at first: send half a second.
    frames = [await serializer.deserialize(media(base64.b64encode(b"\xff" * 160).decode())) for _ in range(25)]
    audio = [f for f in frames if f is not None]
    assert audio and all(isinstance(f, InputAudioRawFrame) and f.sample_rate == 16000 for f in audio)
    assert sum(len(f.audio) for f in audio) > 0.4 * 16000 * 2


async def test_mark_echo_and_stop_and_dtmf(serializer):
    mark = await serializer.deserialize(json.dumps({"event": "mark", "mark": {"name": "utt-3"}}))
    assert isinstance(mark, MarkEchoFrame) and mark.mark == "utt-3"
    assert isinstance(await serializer.deserialize(json.dumps({"event": "stop", "stop": {}})), CallerHungUpFrame)
    dtmf = await serializer.deserialize(json.dumps({"event": "dtmf", "dtmf": {"digit": "9"}}))
    assert isinstance(dtmf, InputDTMFFrame) and dtmf.button.value == "9"


@pytest.mark.parametrize(
    "message",
    [
        "{not json",
        b"\x00\x01binary",
        "[1, 2, 3]",
        json.dumps({"event": "media"}),
        json.dumps({"event": "media", "media": {"payload": 42}}),
        media("!!!not base64!!!"),
        json.dumps({"event": "mark", "mark": {}}),
        json.dumps({"event": "dtmf", "dtmf": {"digit": "X"}}),
        json.dumps({"event": "no-such-event"}),
    ],
)
async def test_malformed_messages_are_skipped_and_counted(serializer, message):
    assert await serializer.deserialize(message) is None


async def test_outbound_track_audio_is_ignored(serializer):
    assert await serializer.deserialize(media(base64.b64encode(b"\xff" * 160).decode(), track="outbound")) is None


def test_start_gives_caller_and_dialed_numbers():
    start = parse_start(
        {
            "event": "start",
            "start": {
                "streamSid": "MZ1",
                "callSid": "CA1",
                "customParameters": {"from": "+14155552671", "to": "+18005550100"},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )
    assert (start.call_id, start.caller, start.dialed) == ("CA1", "+14155552671", "+18005550100")


@pytest.mark.parametrize(
    "message",
    [
        {"event": "start"},
        {"event": "start", "start": {"callSid": "CA1"}},
        {"event": "start", "start": {"streamSid": "MZ1"}},
        {
            "event": "start",
            "start": {
                "streamSid": "MZ1",
                "callSid": "CA1",
                "mediaFormat": {"encoding": "audio/l16", "sampleRate": 16000},
            },
        },
        {"event": "start", "start": {"streamSid": "MZ1", "callSid": "CA1", "customParameters": ["x"]}},
    ],
)
def test_a_start_we_cannot_serve_is_a_protocol_error(message):
    with pytest.raises(ProtocolError):
        parse_start(message)
