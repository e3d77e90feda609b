"""ACS media frames as Microsoft's samples write them, in every casing, and what the bot sends back."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame, InterruptionFrame, OutputAudioRawFrame

from tests.standins.acs import ISSUER, RESOURCE_ID, AcsStandIn
from voicebot.telephony.acs.stream import AcsMediaSerializer
from voicebot.telephony.acs.tokens import AcsTokenVerifier, InvalidToken
from voicebot.telephony.stream import StreamStart

FRAME = b"\x01\x02" * 320  # 20 ms at 16 kHz


@pytest.fixture
async def serializer():
    made = AcsMediaSerializer(StreamStart("call-1", "sub-1", "+14155552671", "+18331234567", "L16", 16000))
    await made.setup(SimpleNamespace(audio_in_sample_rate=16000))  # the one field it reads of the pipeline's setup
    return made


@pytest.mark.parametrize("kind, key, data", [("AudioData", "audioData", "data"), ("audioData", "AudioData", "Data")])
async def test_audio_in_either_casing_becomes_16_khz_input(serializer, kind, key, data):
    message = {"kind": kind, key: {data: base64.b64encode(FRAME).decode(), "silent": False, "participantRawID": "4:+1"}}
    frame = await serializer.deserialize(json.dumps(message))
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 16000 and len(frame.audio) > 0


async def test_keys_and_bad_frames(serializer):
    digit = await serializer.deserialize(json.dumps({"kind": "DtmfData", "dtmfData": {"data": "5"}}))
    assert isinstance(digit, InputDTMFFrame) and digit.button.value == "5"
    for bad in ('{"kind": "AudioData", "audioData": {"data": "%%%"}}', "not json", '{"kind": "Mystery"}',
                '{"kind": "DtmfData", "dtmfData": {"data": "x"}}'):  # fmt: skip
        assert await serializer.deserialize(bad) is None
    assert serializer.skipped == 4


async def test_bot_audio_goes_out_as_16_khz_audio_data_and_barge_in_as_stop_audio(serializer):
    sent = [await serializer.serialize(OutputAudioRawFrame(b"\x00\x10" * 160, 8000, 1)) for _ in range(5)]
    out = [json.loads(message) for message in sent if message]  # the resampler may hold the first frame back
    assert out and all(m["Kind"] == "AudioData" and m["StopAudio"] is None for m in out)
    audio = b"".join(base64.b64decode(m["AudioData"]["Data"]) for m in out)
    assert 4 * 640 <= len(audio) <= 5 * 640  # 20 ms frames, resampled up from 8 kHz
    stop = json.loads(await serializer.serialize(InterruptionFrame()))
    assert stop == {"Kind": "StopAudio", "AudioData": None, "StopAudio": {}}


async def test_acs_jwts_are_checked_for_signature_issuer_and_audience():
    acs = AcsStandIn()
    verifier = AcsTokenVerifier(acs.url + "/calling/keys", ISSUER, RESOURCE_ID)
    try:
        assert (await verifier.verify(f"Bearer {acs.mint()}"))["aud"] == RESOURCE_ID
        for bad in (acs.mint(audience="other"), acs.mint(iss="https://evil.example"), acs.mint(lifetime=-600), "x.y.z"):
            with pytest.raises(InvalidToken):
                await verifier.verify(f"Bearer {bad}")
        with pytest.raises(InvalidToken):
            await verifier.verify(None)
    finally:
        await verifier.aclose()
        acs.close()
