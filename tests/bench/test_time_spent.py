"""A run's replies, as the server accounts for them, add up to where their time went."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from voicebot.bench.time_spent import SEGMENTS, reply_timings, time_spent
from voicebot.pipeline.conversation import ReplyTiming
from voicebot.pipeline.turns import TurnTiming


def record(*timings: ReplyTiming) -> dict:
    """A call record as ``GET /api/calls/{id}`` returns it, with other events around the timings."""
    events = [{"kind": "barge_in", "at": "2026-12-03T10:00:00Z", "data": {"by": "speech"}}]
    events += [{"kind": "reply_timing", "at": "2026-12-03T10:00:01Z", "data": asdict(t)} for t in timings]
    return {"call_id": "CA1", "events": events}


def reply(turn_id: int, *, behind: float | None, asked: float, queued: float, stt: float, judged: float,
          ended: float, decided: float, sent: float) -> ReplyTiming:  # fmt: skip
    return ReplyTiming(turn_id, TurnTiming("answer", behind, asked, queued, stt, judged, ended), decided, sent)


FAST = reply(1, behind=10, asked=200, queued=0, stt=300, judged=505, ended=505, decided=515, sent=535)
HELD = reply(2, behind=None, asked=200, queued=100, stt=300, judged=610, ended=1100, decided=1110, sent=1200)


def test_the_segments_of_each_reply_add_up_to_its_time_at_the_server():
    spent = time_spent(reply_timings([record(FAST), record(HELD)]))
    assert spent is not None and spent.turns == 2
    assert spent.vad_ms == 5  # one reply's VAD was 10 ms behind; the other's end was dated by a pause
    assert spent.queued_ms == 50 and spent.stt_ms == 300
    assert spent.judging_ms == (5 + 10) / 2  # after Whisper: the draft and the loop
    assert spent.holding_ms == (0 + 490) / 2  # only the held one waited past its judgement
    assert spent.deciding_ms == 10 and spent.speaking_ms == (20 + 90) / 2
    assert spent.server_ms == pytest.approx(((10 + 535) + (0 + 1200)) / 2)
    assert spent.server_p50_ms == pytest.approx((545 + 1200) / 2)


def test_the_caller_s_mean_beyond_the_server_s_is_the_line_and_playout():
    spent = time_spent(reply_timings([record(FAST)]))
    assert spent is not None
    line = spent.line(caller_mean_ms=645)
    assert "= 545 ms at the server" in line and "line and playout +100" in line
    assert all(label in line for _, label in SEGMENTS)


def test_a_run_without_answered_turns_has_no_account():
    assert time_spent(reply_timings([{"call_id": "CA2", "events": []}, {"call_id": "CA3"}])) is None
