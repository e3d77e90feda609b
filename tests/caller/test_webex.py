"""The Webex caller keeps to gRPC's rule for a stream: one pending write or half-close at a time.

gRPC core refuses a second send on a call while one is in flight
(``GRPC_CALL_ERROR_TOO_MANY_OPERATIONS``), which fails the RPC. The caller's
20 ms frames come from its own task, so they meet the turn's declaration and
its half-close; before this rule, two calls at once lost a turn's audio that way.
The RPC below is a stand-in that enforces the rule (a real one fails only when
the timing lines up, which no test can arrange).
"""

from __future__ import annotations

import asyncio

import pytest

from voicebot.caller.webex import WebexCaller


class OneOperationAtATime:
    """A stream RPC that, like gRPC core, fails on a second pending operation and on writes after half-close."""

    def __init__(self) -> None:
        self.busy = False
        self.half_closed = False
        self.written: list[object] = []

    async def _operation(self) -> None:
        if self.busy:
            raise AssertionError("a second operation while one was pending")
        self.busy = True
        await asyncio.sleep(0.01)
        self.busy = False

    async def write(self, request: object) -> None:
        assert not self.half_closed, "a write after the half-close"
        await self._operation()
        self.written.append(request)

    async def done_writing(self) -> None:
        await self._operation()
        self.half_closed = True


@pytest.fixture
def caller() -> WebexCaller:
    return WebexCaller("grpc://127.0.0.1:9")


async def test_frames_sent_together_wait_for_each_other(caller):
    call = OneOperationAtATime()
    caller._audio = call
    await asyncio.gather(*(caller._send(b"\x00" * 320) for _ in range(5)))
    assert len(call.written) == 5


async def test_the_half_close_waits_for_a_frame_in_flight_and_no_frame_follows_it(caller):
    call = OneOperationAtATime()
    caller._audio = call
    await asyncio.gather(caller._send(b"\x00" * 320), caller._stop_streaming(call), caller._send(b"\x00" * 320))
    assert call.half_closed
    assert len(call.written) == 1
    assert caller._audio is None
