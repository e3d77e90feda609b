"""Prompts in the bot's voice that platforms fetch by URL (the hold prompt between hold music)."""

from __future__ import annotations

import asyncio
import io
import wave

from fastapi import APIRouter, Request
from fastapi.responses import Response

from voicebot.server.state import runtime_of

router = APIRouter(prefix="/prompts")


@router.get("/hold.wav")
async def hold_prompt(request: Request) -> Response:
    """The "your call is important" prompt (synthesised once, then cached by the voice)."""
    runtime = runtime_of(request)
    pcm = await asyncio.to_thread(runtime.services.voice.synthesize, runtime.settings.transfer.hold_prompt)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(runtime.services.voice.sample_rate)
        w.writeframes(pcm)
    return Response(buffer.getvalue(), media_type="audio/wav")
