"""Place one scripted call and observe it from the caller's end.

Each turn has a moment the bot's reply is timed from: the end of speech in
the audio sent (read from the audio itself), the last key pressed, or the start
of a silence; the first prompt (the greeting) is timed from the stream's start.
The reply is the first bot prompt whose audio starts after the turn began. A
prompt that began before the caller had finished and was then cleared is the
bot taking back an early start: it is noted (a cut-off all the same, unless the
turn expects it) and the caller waits for the answer that follows, as a person
would, instead of talking on into it. A turn waits until the previous reply
has been heard to the end (its mark echoed) unless it barges in, in which case
it starts ``barge_in_ms`` into it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from voicebot.caller import BotUtterance, PhoneCaller, caller_for, loud_samples, read_wav_8k
from voicebot.caller.tokens import ServerTokens
from voicebot.scenarios.line import LineNoise, Speaker, over_the_line, speak
from voicebot.scenarios.model import Call, Line, Turn

KEY_GAP_SECS = 0.25  # between the keys of a multi-digit dtmf turn
HEARD_TIMEOUT_SECS = 60.0  # longest prompt a caller is expected to listen to
RECORD_WAIT_SECS = 3.0  # the server finishes the call record as the stream closes
CLEAR_GRACE_SECS = 1.0  # after the caller's last word, how long the clear of an early start may take to arrive


@dataclass
class CallerAudio:
    """A say/play turn's audio as sent, and how much of it is speech."""

    pcm: bytes
    speech_samples: int


@dataclass
class TurnObservation:
    turn: Turn
    began_at: float | None = None  # when the caller started the action
    timed_from: float | None = None  # the moment the reply's latency counts from
    reply: BotUtterance | None = None
    reply_index: int | None = None
    stopped_bot: bool = False  # a clear arrived while this turn barged in
    withdrawn: BotUtterance | None = None  # a prompt begun before the caller had finished, then cleared
    call_ended: bool = False  # the call closed before the bot replied (or before the turn could start)
    problem: str | None = None  # why the turn could not be played as written

    @property
    def latency_ms(self) -> float | None:
        if self.reply is None or self.reply.first_audio_at is None or self.timed_from is None:
            return None
        return (self.reply.first_audio_at - self.timed_from) * 1000

    @property
    def early_ms(self) -> float | None:
        """How long before the caller's last word the bot began speaking (a cut-off), if it did."""
        began = [u.first_audio_at for u in (self.withdrawn, self.reply) if u is not None and u.first_audio_at]
        if self.timed_from is None or not began or min(began) >= self.timed_from:
            return None
        return (self.timed_from - min(began)) * 1000


@dataclass
class CallObservation:
    call: Call
    call_id: str = ""
    turns: list[TurnObservation] = field(default_factory=list)
    record: dict[str, Any] | None = None
    problem: str | None = None  # the call could not be placed, or went off script
    duration_secs: float = 0.0
    underruns: int = 0  # times the caller's playout of bot audio ran dry mid-prompt
    underrun_secs: float = 0.0
    close_code: int | None = None  # how the server ended the stream (1013: refused, over capacity)


def script(call: Call) -> list[Turn]:
    """The call's turns, starting with listening to the greeting (implied when the file does not say it)."""
    if call.turns and call.turns[0].action == "listen":
        return list(call.turns)
    return [Turn(), *call.turns]


def prepare_audio(turns: list[Turn], voice: Speaker) -> dict[int, CallerAudio]:
    """Synthesise or read every say/play turn before dialling, so the caller never keeps the bot waiting."""
    audio: dict[int, CallerAudio] = {}
    for i, turn in enumerate(turns):
        if turn.say is not None:
            pcm = speak(voice, turn.say)
        elif turn.play is not None:
            pcm = read_wav_8k(turn.play)
        else:
            continue
        audio[i] = CallerAudio(pcm, loud_samples(pcm))
    return audio


async def place_call(
    call: Call,
    url: str,
    http: str | None,
    voice: Speaker,
    *,
    linger_secs: float | None = None,
    prompts_end_on_pause: bool = False,
    tokens: ServerTokens = ServerTokens(),
    audio: dict[int, CallerAudio] | None = None,
) -> CallObservation:
    """Play ``call`` against the server at ``url`` (ws base) and fetch its record from ``http``.

    After the script the caller waits for the bot to end the call, at most
    ``linger_secs`` (default: what is left of the call's timeout), then hangs
    up. ``prompts_end_on_pause`` is for servers that send no marks. ``audio``: the
    caller's speech rendered beforehand (:func:`prepare_audio`), else rendered here.
    """
    observation = CallObservation(call)
    turns = script(call)
    if audio is None:
        audio = await asyncio.to_thread(prepare_audio, turns, voice)
    phone = caller_for(call.platform, url, caller=call.ani or "", token=tokens.media)
    observation.call_id = phone.call_sid
    phone.prompts_end_on_pause = phone.prompts_end_on_pause or prompts_end_on_pause
    noise = LineNoise(call.line.noise_dbfs, call.line.band_limit) if call.line.noise_dbfs is not None else None
    if noise is not None:
        phone.idle = noise.frame
    started = time.perf_counter()
    try:
        async with phone:
            await asyncio.wait_for(_play_turns(phone, turns, call, audio, noise, observation), call.timeout_secs)
            remaining = max(1.0, call.timeout_secs - (time.perf_counter() - started))
            try:
                await phone.wait_closed(remaining if linger_secs is None else min(linger_secs, remaining))
            except TimeoutError:
                await phone.hang_up()
    except TimeoutError:
        observation.problem = f"the call was still going after {call.timeout_secs:g} s; the caller hung up"
    except (OSError, websockets.InvalidURI, websockets.InvalidHandshake) as exc:
        observation.problem = f"cannot reach voicebot at {phone.stream_url}: {exc}"
        return observation
    observation.duration_secs = time.perf_counter() - started
    observation.close_code = phone.close_code
    observation.underruns = sum(u.underruns for u in phone.utterances)
    observation.underrun_secs = sum(u.underrun_secs for u in phone.utterances)
    if http is not None:
        observation.record = await fetch_record(http, observation.call_id, tokens)
    return observation


async def _play_turns(
    phone: PhoneCaller,
    turns: list[Turn],
    call: Call,
    audio: dict[int, CallerAudio],
    noise: LineNoise | None,
    obs: CallObservation,
) -> None:
    previous: TurnObservation | None = None
    for i, turn in enumerate(turns):
        if phone.closed.is_set():
            obs.turns.append(TurnObservation(turn, call_ended=True, problem="the call had already ended"))
            continue
        if previous is not None and previous.reply is not None:
            if turn.barge_in_ms is None:
                await _until_heard(phone, previous.reply)
            else:
                await _until_into(phone, previous.reply, turn.barge_in_ms)
        current = TurnObservation(turn)
        after_index = previous.reply_index if previous and previous.reply_index is not None else -1
        clears_before = phone.clears
        await _act(phone, audio.get(i), call.line.merged(turn.line), noise, current, first=previous is None)
        await _await_reply(phone, current, after_index)
        current.stopped_bot = phone.clears > clears_before
        obs.turns.append(current)
        previous = current
    if previous is not None and previous.reply is not None:
        await _until_heard(phone, previous.reply)


async def _act(
    phone: PhoneCaller,
    audio: CallerAudio | None,
    line: Line,
    noise: LineNoise | None,
    obs: TurnObservation,
    first: bool,
) -> None:
    """Do the turn's action; speech goes over ``line`` (the call's, with the turn's changes)."""
    turn = obs.turn
    obs.began_at = time.perf_counter()
    match turn.action:
        case "say" | "play":
            assert audio is not None, "a say or play turn has its audio rendered before the call"
            if line.noise_dbfs is not None:  # the same hiss on the same words, however long the call has run
                noise = LineNoise(line.noise_dbfs, line.band_limit, seed=len(audio.pcm))
            pcm = over_the_line(audio.pcm, line, noise)
            await phone.say(pcm, speech_samples=audio.speech_samples)
            obs.timed_from = phone.speech_ended_at
        case "dtmf":
            for n, key in enumerate(turn.dtmf or ""):
                if n:
                    await asyncio.sleep(KEY_GAP_SECS)
                await phone.press(key)
            obs.timed_from = time.perf_counter()
        case "silence":
            await asyncio.sleep(turn.silence or 0.0)
        case "listen":
            obs.timed_from = phone.started_at if first else None


async def _await_reply(phone: PhoneCaller, obs: TurnObservation, after_index: int) -> None:
    """The first prompt after ``after_index`` whose audio began once this turn had begun.

    A prompt begun before the caller finished is not the reply if the bot takes
    it back (a clear, within :data:`CLEAR_GRACE_SECS` of the last word): the
    reply is the next one. A turn that expects the take-back also skips a
    prompt begun early that was never cleared.
    """
    deadline = time.perf_counter() + obs.turn.timeout_secs
    while time.perf_counter() < deadline:
        for index in range(after_index + 1, len(phone.utterances)):
            utterance = phone.utterances[index]
            began = utterance.first_audio_at
            if began is None or began < (obs.began_at or 0.0):
                continue
            if obs.timed_from is not None and began < obs.timed_from:
                if utterance.cleared:
                    obs.withdrawn = obs.withdrawn or utterance
                    continue
                if obs.turn.taken_back:
                    continue
                heard = utterance.mark is not None and utterance.mark in phone.marks_echoed
                if not heard and time.perf_counter() < obs.timed_from + CLEAR_GRACE_SECS:
                    break  # a clear may still be on its way
            obs.reply, obs.reply_index = utterance, index
            return
        if phone.closed.is_set():
            obs.call_ended, obs.problem = True, "the call ended before the bot replied"
            return
        await asyncio.sleep(0.02)
    obs.problem = f"no reply from the bot within {obs.turn.timeout_secs:g} s"


async def _until_heard(phone: PhoneCaller, utterance: BotUtterance) -> None:
    """Until the caller has heard the whole prompt: its mark echoed, it was cut off, or the call ended."""
    deadline = time.perf_counter() + HEARD_TIMEOUT_SECS
    while time.perf_counter() < deadline and not phone.closed.is_set():
        if utterance.cleared or (utterance.mark is not None and utterance.mark in phone.marks_echoed):
            return
        await asyncio.sleep(0.02)


async def _until_into(phone: PhoneCaller, utterance: BotUtterance, ms: int) -> None:
    began = utterance.first_audio_at or time.perf_counter()
    await asyncio.sleep(max(0.0, began + ms / 1000 - time.perf_counter()))


async def fetch_record(http: str, call_id: str, tokens: ServerTokens = ServerTokens()) -> dict[str, Any] | None:
    """The server's call record, once it has an outcome (or after a short wait, as it stands)."""
    record = None
    deadline = time.perf_counter() + RECORD_WAIT_SECS
    async with httpx.AsyncClient(timeout=5.0, headers=tokens.api_headers) as client:
        while True:
            try:
                response = await client.get(f"{http}/api/calls/{call_id}")
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                record = response.json()
                if record.get("outcome"):
                    return record
            if time.perf_counter() > deadline:
                return record
            await asyncio.sleep(0.1)
