"""Property-based: nothing a platform sends can make a stream parser or serializer raise.

Every media stream's ``start`` parser and serializer is fed arbitrary JSON,
valid messages with one field replaced by anything, text that is not JSON, and
binary frames. A parser may refuse the start only with the errors the call
handler turns into a clean close; a serializer answers each message with a
frame or with nothing (skipped), or, where the protocol says so (Genesys),
with a protocol-violation frame that ends the call cleanly.

CI runs the ``ci`` profile (the same 200 inputs per property every run, so a
failure is a regression, not luck); ``HYPOTHESIS_PROFILE=full`` draws 2,000
fresh ones per property (docs/reliability.md has the figures).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipecat.frames.frames import Frame

from voicebot.caller.wires import WIRES
from voicebot.telephony.exotel import stream as exotel
from voicebot.telephony.genesys.stream import GenesysMediaSerializer, parse_open
from voicebot.telephony.plivo import stream as plivo
from voicebot.telephony.stream import ProtocolError
from voicebot.telephony.telnyx import stream as telnyx
from voicebot.telephony.twilio import stream as twilio
from voicebot.telephony.vonage import stream as vonage

JANE = "+14155552671"
MODULES = {"twilio": twilio, "telnyx": telnyx, "plivo": plivo, "exotel": exotel, "vonage": vonage}
SERIALIZERS = {
    "twilio": twilio.TwilioMediaSerializer,
    "telnyx": telnyx.TelnyxMediaSerializer,
    "plivo": plivo.PlivoMediaSerializer,
    "exotel": exotel.ExotelMediaSerializer,
    "vonage": vonage.VonageMediaSerializer,
}
# The one refusal a start parser may raise; serve_media turns it into a clean close (voicebot/telephony/media.py).
REFUSALS = ProtocolError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a JSON value that one mutation can replace."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += paths(child, (*prefix, i))
    return found


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(copy[path[0]], path[1:], new)
    return copy


def wire_messages(platform: str) -> list[dict]:
    """The real messages of a call on this platform: its opening, media, a digit, a mark echo, the stop."""
    wire = WIRES[platform](caller=JANE, dialed="+18005550100")
    raw = [*wire.opening(), wire.media(b"\x10\x00" * 160, 20), wire.dtmf("5"), wire.mark_echo("utt-1"), wire.stop()]
    return [json.loads(m) for m in raw if isinstance(m, str)]


def mutations(platform: str):
    return st.sampled_from(wire_messages(platform)).flatmap(
        lambda message: st.tuples(st.sampled_from(paths(message)), json_values).map(
            lambda change: replaced(message, *change)
        )
    )


def start_of(platform: str):
    wire = WIRES[platform](caller=JANE, dialed="+18005550100")
    starts = [MODULES[platform].parse_start(json.loads(m)) for m in wire.opening()]
    return [s for s in starts if s is not None][0]


def parses_or_refuses(platform: str, message: Any) -> None:
    if not isinstance(message, dict):
        return  # read_start refuses anything but a JSON object before a parser sees it
    try:
        MODULES[platform].parse_start(message)
    except REFUSALS:
        pass


@pytest.mark.parametrize("platform", sorted(MODULES))
@given(
    message=st.dictionaries(
        st.sampled_from(["event", "start", "media", "sequenceNumber", "streamSid"]) | st.text(max_size=8),
        json_values,
        max_size=6,
    )
)
def test_a_start_parser_takes_any_json_object_or_refuses_it_cleanly(platform, message):
    parses_or_refuses(platform, message)


@pytest.mark.parametrize("platform", sorted(MODULES))
@given(data=st.data())
def test_a_start_parser_takes_any_mangled_real_message_or_refuses_it_cleanly(platform, data):
    parses_or_refuses(platform, data.draw(mutations(platform)))


@pytest.mark.parametrize("platform", sorted(SERIALIZERS))
@given(data=st.data())
async def test_a_serializer_answers_any_message_with_a_frame_or_a_skip(platform, data):
    serializer = SERIALIZERS[platform](start_of(platform))
    serializer._sample_rate = 16000
    message = data.draw(
        st.one_of(
            mutations(platform).map(json.dumps),
            json_values.map(json.dumps),
            st.text(max_size=200),
            st.binary(max_size=400),
        )
    )
    frame = await serializer.deserialize(message)
    assert frame is None or isinstance(frame, Frame)


@given(data=st.data())
def test_a_genesys_open_is_parsed_or_refused_cleanly(data):
    text = data.draw(st.one_of(json_values.map(json.dumps), st.text(max_size=200)))
    try:
        parse_open(text)
    except ProtocolError:  # what serve_media turns into a disconnect
        pass


@given(messages=st.lists(st.one_of(json_values.map(json.dumps), st.text(max_size=100), st.binary(max_size=400))))
async def test_genesys_messages_become_frames_or_end_the_call_cleanly(messages):
    serializer = GenesysMediaSerializer()
    serializer._sample_rate = 16000
    for message in messages:
        frame = await serializer.deserialize(message)
        assert frame is None or isinstance(frame, Frame)
