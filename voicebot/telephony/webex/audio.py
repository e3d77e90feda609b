"""Audio on the BYOVA wire: caller audio in whatever Webex declares, bot prompts as 8 kHz mu-law WAV files.

Webex's media platform often leaves ``encoding`` and ``sample_rate_hertz`` at
protobuf's zero, and opens a call with a few bytes that are not audio; both are
in the spec (``../shared/specs/webex-byova.md`` 1.4). The bot's audio is 8-bit
mu-law at 8 kHz: raw in CHUNK responses (100 bytes to 64 KB each), or whole
WAV files (format 7) in WAV mode, each within 64 KB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import soxr

from voicebot.telephony.webex.proto import byova_pb2

WHISPER_RATE = 16000
TELEPHONE_RATE = 8000
NOT_AUDIO_BYTES = 15  # Webex sends a few sample bytes at the start of a call; its own simulators skip them
MAX_PROMPT_BYTES = 65536
WAV_HEADER_BYTES = 58  # RIFF + fmt (18) + fact + data headers

Encoding = byova_pb2.VoiceInput.VoiceEncoding
SUPPORTED_RATES = (8000, 16000)


class UnsupportedAudio(ValueError):
    """Caller audio in a format we cannot decode: the chunk is skipped, the call goes on."""


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.uint8)
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    return np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.uint8) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = (codes & 0x0F).astype(np.int32)
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


MULAW_DECODE = _mulaw_table()
SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
ALAW_DECODE = _alaw_table()


def mulaw_encode(pcm: np.ndarray) -> bytes:
    """G.711 mu-law of 16-bit samples, as the reference coder does it (14-bit magnitude, bias 33)."""
    samples = pcm.astype(np.int32) >> 2
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), 8159) + 0x21
    segment = np.searchsorted(SEGMENT_ENDS, magnitude)
    code = np.where(segment < 8, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F), 0x7F)  # 8: clipped
    return (code ^ mask).astype(np.uint8).tobytes()


def mulaw_wav(pcm16: bytes) -> bytes:
    """A WAV file (format 7, 8 kHz mono) holding ``pcm16`` (16-bit at 8 kHz) as mu-law."""
    data = mulaw_encode(np.frombuffer(pcm16, dtype=np.int16))
    fmt = struct.pack("<HHIIHHH", 7, 1, TELEPHONE_RATE, TELEPHONE_RATE, 1, 8, 0)
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"fact"
        + struct.pack("<II", 4, len(data))
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )
    if len(data) % 2:
        body += b"\x00"  # RIFF chunks are word-aligned
    return b"RIFF" + struct.pack("<I", len(body)) + body


MIN_CHUNK_BYTES = 100


def chunks(pcm16: bytes) -> list[bytes]:
    """A sentence as CHUNK payloads: raw mu-law (no header), as few as fit in 64 KB each, none under 100 bytes."""
    data = mulaw_encode(np.frombuffer(pcm16[: len(pcm16) // 2 * 2], dtype=np.int16))
    if len(data) < MIN_CHUNK_BYTES:
        data = data.ljust(MIN_CHUNK_BYTES, b"\xff")  # mu-law silence
    count = -(-len(data) // MAX_PROMPT_BYTES)
    size = -(-len(data) // count)
    return [data[at : at + size] for at in range(0, len(data), size)]


def prompt_files(sentences: list[bytes]) -> list[bytes]:
    """One WAV per sentence (Webex plays prompts in order), each split to stay within :data:`MAX_PROMPT_BYTES`."""
    most = (MAX_PROMPT_BYTES - WAV_HEADER_BYTES) // 2 * 2  # in 16-bit input bytes: one mu-law byte per sample
    files = []
    for pcm in sentences:
        for at in range(0, len(pcm), most * 2):
            files.append(mulaw_wav(pcm[at : at + most * 2]))
    return files


@dataclass
class CallerAudio:
    """Decodes one conversation's caller audio to 16 kHz PCM for the VAD and Whisper.

    A chunk that declares its encoding or rate sets them for the chunks after it
    (Webex's simulator declares once, then sends bare audio); zero means the
    last declared value, and mu-law at 8 kHz before any declaration.
    """

    encoding: int = Encoding.MULAW_FORMAT
    rate: int = TELEPHONE_RATE
    _resampler: soxr.ResampleStream | None = None
    _resampling: tuple[int, int] | None = None

    def decode(self, audio: byova_pb2.VoiceInput) -> bytes:
        """16-bit 16 kHz PCM, empty for a chunk that carries no audio; raises :class:`UnsupportedAudio`."""
        encoding = audio.encoding or self.encoding
        rate = audio.sample_rate_hertz or self.rate
        if encoding not in (Encoding.MULAW_FORMAT, Encoding.ALAW_FORMAT, Encoding.LINEAR16_FORMAT):
            raise UnsupportedAudio(f"encoding {audio.encoding} is not one of LINEAR16, MULAW, ALAW")
        if rate not in SUPPORTED_RATES:
            raise UnsupportedAudio(f"sample rate {rate} Hz (supported: 8000 and 16000)")
        self.encoding, self.rate = encoding, rate
        payload = audio.caller_audio
        if len(payload) <= NOT_AUDIO_BYTES:
            return b""
        if encoding == Encoding.LINEAR16_FORMAT:
            samples = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2")
        else:
            table = MULAW_DECODE if encoding == Encoding.MULAW_FORMAT else ALAW_DECODE
            samples = table[np.frombuffer(payload, dtype=np.uint8)]
        if rate == WHISPER_RATE:
            return samples.astype(np.int16).tobytes()
        return self._resample(samples, rate)

    def _resample(self, samples: np.ndarray, rate: int) -> bytes:
        if self._resampling != (rate, WHISPER_RATE) or self._resampler is None:
            self._resampler = soxr.ResampleStream(rate, WHISPER_RATE, 1, dtype="int16")
            self._resampling = (rate, WHISPER_RATE)
        return self._resampler.resample_chunk(samples.astype(np.int16)).tobytes()
