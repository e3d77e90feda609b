"""Underruns: bot audio that reaches the caller later than the playout clock needs it."""

from __future__ import annotations

import pytest

from voicebot.caller import JITTER_BUFFER_SECS, BotUtterance


def test_audio_paced_in_real_time_plays_without_a_gap():
    prompt = BotUtterance()
    for n in range(50):
        prompt.arrived(100.0 + n * 0.04, 0.04)  # 40 ms chunks, each on time
    assert prompt.underruns == 0


def test_a_chunk_later_than_the_jitter_buffer_allows_is_one_underrun_of_its_lateness():
    prompt = BotUtterance()
    prompt.arrived(100.0, 0.04)
    prompt.arrived(100.04, 0.04)
    prompt.arrived(100.08 + JITTER_BUFFER_SECS + 0.2, 0.04)  # 200 ms past when it was due
    prompt.arrived(100.08 + JITTER_BUFFER_SECS + 0.24, 0.04)  # then on time again
    assert prompt.underruns == 1
    assert prompt.underrun_secs == pytest.approx(0.2)


def test_a_burst_ahead_of_time_is_buffered_not_counted():
    prompt = BotUtterance()
    prompt.arrived(100.0, 2.0)  # a whole sentence at once
    prompt.arrived(101.5, 0.04)
    assert prompt.underruns == 0
