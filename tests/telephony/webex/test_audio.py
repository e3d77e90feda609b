"""Caller audio as Webex sends it, and prompts as Webex plays them."""

from __future__ import annotations

import audioop
import io
import struct

import numpy as np
import pytest
import soundfile

from voicebot.telephony.webex.audio import (
    MAX_PROMPT_BYTES,
    CallerAudio,
    Encoding,
    UnsupportedAudio,
    chunks,
    mulaw_encode,
    mulaw_wav,
    prompt_files,
)
from voicebot.telephony.webex.proto import byova_pb2


def tone(seconds: float, rate: int = 8000, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def chunk(payload: bytes, encoding: int = 0, rate: int = 0) -> byova_pb2.VoiceInput:
    return byova_pb2.VoiceInput(caller_audio=payload, encoding=encoding, sample_rate_hertz=rate)


def test_mu_law_matches_the_reference_coder_on_every_sample():
    every = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    assert mulaw_encode(every) == audioop.lin2ulaw(every.tobytes(), 2)


def test_a_prompt_is_a_whole_8_khz_mu_law_wav_a_standard_reader_opens():
    pcm = tone(0.5).tobytes()
    wav = mulaw_wav(pcm)
    info = soundfile.info(io.BytesIO(wav))
    assert (info.format, info.subtype, info.samplerate, info.channels, info.frames) == ("WAV", "ULAW", 8000, 1, 4000)
    assert struct.unpack("<H", wav[20:22])[0] == 7  # WAVE_FORMAT_MULAW
    decoded, _ = soundfile.read(io.BytesIO(wav), dtype="int16")
    assert np.abs(decoded.astype(int) - tone(0.5)).max() < 300  # mu-law's step at this level


def test_long_speech_is_split_into_prompts_within_webexs_64_kb():
    sentences = [tone(12.0).tobytes(), tone(1.0).tobytes()]
    files = prompt_files(sentences)
    assert len(files) == 3 and all(len(f) <= MAX_PROMPT_BYTES for f in files)
    frames = sum(soundfile.info(io.BytesIO(f)).frames for f in files)
    assert frames == 13 * 8000


def test_undeclared_audio_is_mu_law_at_8_khz_and_comes_out_at_16_khz():
    decoder = CallerAudio()
    ulaw = audioop.lin2ulaw(tone(1.0).tobytes(), 2)
    out = b"".join(decoder.decode(chunk(ulaw[i : i + 160])) for i in range(0, len(ulaw), 160))
    assert 14800 <= len(out) // 2 <= 16000  # the resampler holds back a few milliseconds for the next chunk
    spectrum = np.abs(np.fft.rfft(np.frombuffer(out, dtype=np.int16)[800:14800]))
    assert abs(np.argmax(spectrum) * 16000 / 14000 - 440) < 5


def test_a_declaration_holds_for_the_bare_chunks_after_it():
    decoder = CallerAudio()
    assert decoder.decode(chunk(b"", Encoding.LINEAR16_FORMAT, 16000)) == b""
    pcm = tone(0.02, 16000).tobytes()
    assert decoder.decode(chunk(pcm)) == pcm  # 16 kHz linear passes as it is


def test_the_few_bytes_webex_opens_with_are_not_audio():
    assert CallerAudio().decode(chunk(b"\x7f\x7f\x7f")) == b""


@pytest.mark.parametrize(("encoding", "rate"), [(7, 8000), (Encoding.MULAW_FORMAT, 44100)])
def test_audio_we_cannot_decode_is_refused_with_the_reason(encoding, rate):
    with pytest.raises(UnsupportedAudio):
        CallerAudio().decode(chunk(b"\xff" * 160, encoding, rate))


def test_a_law_decodes_as_the_reference_decoder_does():
    decoder = CallerAudio()
    decoder.decode(chunk(b"", Encoding.ALAW_FORMAT, 16000))
    alaw = bytes(range(256)) * 2
    assert decoder.decode(chunk(alaw)) == audioop.alaw2lin(alaw, 2)


def test_a_sentence_becomes_raw_mu_law_chunks_between_100_bytes_and_64_kb():
    long = chunks(tone(20.0).tobytes())  # 160 000 bytes of mu-law
    assert len(long) == 3 and all(100 <= len(c) <= MAX_PROMPT_BYTES for c in long)
    assert b"".join(long) == audioop.lin2ulaw(tone(20.0).tobytes(), 2) and not long[0].startswith(b"RIFF")
    [tiny] = chunks(tone(0.005).tobytes())
    assert len(tiny) == 100  # padded with mu-law silence to Webex's minimum
