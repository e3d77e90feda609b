"""Where a reply's time goes: the server's own account of each turn it answered, in a run's call records.

Each answered caller turn leaves a ``reply_timing`` event (see
:class:`~voicebot.pipeline.conversation.ReplyTiming`): from the caller's last
voice, when the VAD heard it, when the transcript that ended the turn was
asked for, how long it queued and ran, when the turn was judged and ended,
when the reply was decided and when its first audio went out. Means of the
segments add up to the mean of the whole, so a run's latency can be read as a
sum; what the caller measures beyond it is the line and the caller's playout.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from voicebot.pipeline.conversation import ReplyTiming
from voicebot.pipeline.turns import TurnTiming

SEGMENTS = (
    ("vad_ms", "VAD behind"),
    ("to_ask_ms", "until asked"),
    ("queued_ms", "queued"),
    ("stt_ms", "Whisper"),
    ("judging_ms", "judging"),
    ("holding_ms", "holding"),
    ("deciding_ms", "deciding"),
    ("speaking_ms", "first audio"),
)


@dataclass(frozen=True)
class TimeSpent:
    """Mean ms per segment over ``turns`` answered turns; they add up to :attr:`server_ms`."""

    turns: int
    vad_ms: float  # the last voice's audio arrived, until the VAD heard it
    to_ask_ms: float  # until the transcript that ended the turn was asked for
    queued_ms: float  # it waited for an inference worker
    stt_ms: float  # Whisper ran
    judging_ms: float  # the dialogue's draft, Smart Turn, and the loop getting back to it
    holding_ms: float  # the turn's shape said wait longer
    deciding_ms: float  # the dialogue chose the reply (and the CRM, if asked)
    speaking_ms: float  # its first audio rendered (or found rendered) and handed to the phone side
    server_p50_ms: float
    server_p95_ms: float

    @property
    def server_ms(self) -> float:
        return sum(getattr(self, key) for key, _ in SEGMENTS)

    def line(self, caller_mean_ms: float | None = None) -> str:
        parts = " + ".join(f"{label} {getattr(self, key):.0f}" for key, label in SEGMENTS)
        text = f"{parts} = {self.server_ms:.0f} ms at the server (mean of {self.turns} turns"
        text += f"; p50 {self.server_p50_ms:.0f}, p95 {self.server_p95_ms:.0f})"
        if caller_mean_ms is not None:
            text += f"; at the caller {caller_mean_ms:.0f} (line and playout {caller_mean_ms - self.server_ms:+.0f})"
        return text


def reply_timings(records: Iterable[dict[str, Any]]) -> list[ReplyTiming]:
    """The ``reply_timing`` events of call records as ``GET /api/calls/{id}`` returns them."""
    timings = []
    for record in records:
        for event in record.get("events", []):
            if event["kind"] == "reply_timing":
                data = dict(event["data"])
                timings.append(ReplyTiming(**{**data, "turn": TurnTiming(**data["turn"])}))
    return timings


def time_spent(timings: list[ReplyTiming]) -> TimeSpent | None:
    if not timings:
        return None
    rows = [_segments(t) for t in timings]
    totals = [sum(row) for row in rows]
    means = [round(statistics.fmean(column), 1) for column in zip(*rows, strict=True)]
    quantiles = statistics.quantiles(totals, n=20, method="inclusive") if len(totals) > 1 else totals * 19
    p50, p95 = round(statistics.median(totals), 1), round(quantiles[18], 1)
    vad, to_ask, queued, stt, judging, holding, deciding, speaking = means
    return TimeSpent(len(rows), vad, to_ask, queued, stt, judging, holding, deciding, speaking, p50, p95)


def _segments(timing: ReplyTiming) -> tuple[float, ...]:
    turn = timing.turn
    ran = turn.asked_ms + turn.queued_ms + turn.stt_ms
    return (
        turn.vad_behind_ms or 0.0,
        turn.asked_ms,
        turn.queued_ms,
        turn.stt_ms,
        turn.judged_ms - ran,
        turn.ended_ms - turn.judged_ms,
        timing.decided_ms - turn.ended_ms,
        timing.sent_ms - timing.decided_ms,
    )
