"""How each platform takes bot audio: sent ahead only where the platform itself says when it was heard."""

from __future__ import annotations

import dataclasses

import pytest

from voicebot.pipeline.transport import Playout
from voicebot.telephony.registry import PLATFORMS


def test_audio_goes_ahead_only_on_platforms_that_buffer_clear_and_echo_marks():
    ahead = {p.name for p in PLATFORMS if p.playout.lead_ms}
    assert ahead == {"twilio", "telnyx", "plivo", "exotel"}
    assert all(not p.playback_marks for p in PLATFORMS if p.name in ahead)


def test_a_platform_without_mark_echoes_cannot_be_given_a_lead():
    vonage = next(p for p in PLATFORMS if p.name == "vonage")
    with pytest.raises(ValueError, match="vonage: a platform without mark echoes"):
        dataclasses.replace(vonage, playout=Playout.buffered(chunk_ms=20))
