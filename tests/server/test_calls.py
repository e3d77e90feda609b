"""The call registry: every platform's calls are counted in against the limit and out when they end."""

from __future__ import annotations

import pytest

from voicebot.server.calls import CallRegistry
from voicebot.server.metrics import Counters


def test_calls_are_admitted_up_to_the_limit_and_the_next_is_refused_and_counted():
    calls = CallRegistry(2, Counters())
    with calls.admitted("twilio", "CA1") as first, calls.admitted("genesys", "g-1") as second:
        assert first is not None and second is not None
        with calls.admitted("vonage", "v-1") as third:
            assert third is None
        assert calls.in_progress == 2
    assert calls.in_progress == 0
    assert calls.counters.snapshot() == {"calls_refused": 1}


def test_a_call_that_fails_is_still_counted_out():
    calls = CallRegistry(1, Counters())
    with pytest.raises(RuntimeError), calls.admitted("twilio", "CA1"):
        raise RuntimeError("pipeline failed")
    with calls.admitted("twilio", "CA2") as place:
        assert place is not None


def test_no_call_is_admitted_while_draining():
    calls = CallRegistry(5, Counters())
    calls.draining = True
    with calls.admitted("twilio", "CA1") as place:
        assert place is None


async def test_a_shutdown_hands_every_running_call_to_an_agent_with_its_reason():
    calls = CallRegistry(5, Counters())
    handed: list[tuple[str, str]] = []

    def hand_over_to(call_id):
        async def hand_over(reason):
            handed.append((call_id, reason))

        return hand_over

    with calls.admitted("twilio", "CA1") as one, calls.admitted("exotel", "ex-1") as two, calls.admitted("plivo", "p"):
        one.hand_over, two.hand_over = hand_over_to("CA1"), hand_over_to("ex-1")  # the third has no pipeline yet
        await calls.hand_over_all("server_shutdown")
    assert sorted(handed) == [("CA1", "server_shutdown"), ("ex-1", "server_shutdown")]
