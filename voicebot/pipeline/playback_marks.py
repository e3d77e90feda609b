"""Mark echoes for platforms that have none (Genesys AudioHook, Vonage).

The output transport sends audio at the pace it plays, so a mark reaching the
end of the pipeline means the caller has (all but) heard what came before it.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipeline.frames import MarkEchoFrame
from voicebot.telephony.stream import LOCAL_MARK_KEY


def local_mark(name: str) -> dict[str, Any]:
    """A mark that stays in the process: serializers drop it, :class:`PlaybackMarks` echoes it."""
    return {LOCAL_MARK_KEY: name}


class PlaybackMarks(FrameProcessor):
    """Placed after the output transport: echoes each local mark back up the pipeline."""

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        message = getattr(frame, "message", None)
        if isinstance(message, dict) and LOCAL_MARK_KEY in message and direction is FrameDirection.DOWNSTREAM:
            await self.push_frame(MarkEchoFrame(mark=message[LOCAL_MARK_KEY]), FrameDirection.UPSTREAM)
            return
        await self.push_frame(frame, direction)
