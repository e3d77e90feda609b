"""The end of a Webex call's pipeline: the bot's speech becomes prompts for the open RPC.

There is no audio stream back to Webex (the voice speaks at 8 kHz, as Webex
plays). In CHUNK mode each sentence goes to the open RPC as soon as it is
rendered, and the utterance's mark becomes its FINAL; in WAV mode the
utterance, up to its mark, is collected into WAV prompts handed over whole in
the FINAL. Webex says nothing when it has played them, so the mark is echoed
once the audio's own duration has passed, which is when the caller has heard it
(and the silence timer starts). The call's last prompt is echoed at once
instead: it leaves with the hand-off.
"""

from __future__ import annotations

import asyncio

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipeline.frames import ClosingPromptFrame, MarkEchoFrame
from voicebot.telephony.stream import LOCAL_MARK_KEY
from voicebot.telephony.webex.audio import TELEPHONE_RATE, chunks, prompt_files
from voicebot.telephony.webex.conversation import WebexConversation


class WebexOutput(FrameProcessor):
    def __init__(self, conversation: WebexConversation, streaming: bool = True, **kwargs):
        super().__init__(**kwargs)
        self._conversation = conversation
        self._streaming = streaming  # CHUNK mode; False: WAV mode
        self._sentences: list[bytes] = []
        self._closing = False
        self._heard: set[asyncio.Task] = set()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction is FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSAudioRawFrame):
            self._sentences.append(frame.audio)
            if self._streaming:
                if len(self._sentences) == 1:
                    await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)
                for payload in chunks(frame.audio):
                    self._conversation.chunk(payload, barge_in=not self._closing)
        elif isinstance(frame, ClosingPromptFrame):
            self._closing = True
        elif isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame)):
            message = frame.message
            if isinstance(message, dict) and LOCAL_MARK_KEY in message:
                await self._prompt_done(str(message[LOCAL_MARK_KEY]))
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._conversation.speech_started()
        elif isinstance(frame, InterruptionFrame):
            self._sentences = []
            self._conversation.withdraw()
            for task in list(self._heard):
                await self.cancel_task(task)
            self._heard.clear()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            for task in list(self._heard):
                await self.cancel_task(task)
            self._heard.clear()
            await self.push_frame(frame, direction)
        elif not isinstance(frame, (TTSStartedFrame, TTSStoppedFrame)):
            await self.push_frame(frame, direction)

    async def _prompt_done(self, mark: str) -> None:
        sentences, self._sentences = self._sentences, []
        files = [] if self._streaming else prompt_files(sentences)  # streamed: the FINAL carries no audio
        if not self._streaming:
            await self.push_frame(BotStartedSpeakingFrame(), FrameDirection.UPSTREAM)
        if self._closing:
            self._closing = False
            self._conversation.hold_closing(files)
            await self.push_frame(MarkEchoFrame(mark=mark), FrameDirection.UPSTREAM)
            return
        self._conversation.reply(files)
        seconds = sum(len(pcm) for pcm in sentences) / 2 / TELEPHONE_RATE
        task = self.create_task(self._heard_after(mark, seconds), f"prompt {mark} heard")
        self._heard.add(task)
        task.add_done_callback(self._heard.discard)

    async def _heard_after(self, mark: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.push_frame(BotStoppedSpeakingFrame(), FrameDirection.UPSTREAM)
        await self.push_frame(MarkEchoFrame(mark=mark), FrameDirection.UPSTREAM)
