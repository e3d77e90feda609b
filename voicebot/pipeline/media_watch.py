"""Ends a call whose media stream went quiet: no message from the platform for ``limits.idle_secs``.

Every platform sends audio continuously, silence included, so a stream that
stops sending is half-open (a dead peer, a network that dropped it) and the
call would otherwise hold its place until the socket timed out, if ever.
"""

from __future__ import annotations

import asyncio
import time

from pipecat.frames.frames import CancelFrame, EndFrame, Frame, InputAudioRawFrame, StartFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipeline.frames import ProtocolViolationFrame


class MediaIdleWatch(FrameProcessor):
    """Runs in direct mode: noting a frame's time is not worth a queue and a task switch per frame."""

    def __init__(self, idle_secs: float, **kwargs):
        super().__init__(enable_direct_mode=True, **kwargs)
        self._idle_secs = idle_secs
        self._last_audio = time.monotonic()
        self._watch: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._last_audio = time.monotonic()
        elif isinstance(frame, StartFrame):
            self._last_audio = time.monotonic()
            self._watch = self.create_task(self._watch_media(), "media idle watch")
        elif isinstance(frame, (EndFrame, CancelFrame)) and self._watch is not None:
            await self.cancel_task(self._watch)
            self._watch = None
        await self.push_frame(frame, direction)

    async def _watch_media(self):
        while (remaining := self._last_audio + self._idle_secs - time.monotonic()) > 0:
            await asyncio.sleep(remaining)
        self._watch = None
        await self.push_frame(ProtocolViolationFrame(reason=f"no media for {self._idle_secs:g} s"))
