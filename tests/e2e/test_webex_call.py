"""Whole calls over Webex Contact Center BYOVA: a real server process, the Webex side played by an independent client.

The server verifies every RPC's token against a loopback identity broker
(``tests/standins/idbroker.py``) as it would Webex's; the client
(``tests/e2e/webex_client.py``) encodes the wire by field number from the spec.
Callers speak through the telephone line model: Piper, and espeak-ng accents.
"""

from __future__ import annotations

import asyncio
import audioop

import grpc
import httpx
import pytest
from grpc import aio

from tests.e2e.conftest import WEBHOOK_SECRET, free_port, record, screen_pop, start_server, stop_server
from tests.e2e.webex_client import WebexHarness, request, wav_audio
from tests.standins.idbroker import DATASOURCE_URL, IdBroker
from tests.standins.tls import LocalCA
from voicebot.bench.understanding import EspeakCaller
from voicebot.scenarios.hearing import says, transcribe_8k
from voicebot.scenarios.line import LineNoise, over_the_line, speak
from voicebot.scenarios.model import Line

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
UNKNOWN = "+15005550006"


@pytest.fixture(scope="module")
def broker():
    standin = IdBroker()
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def webex(tmp_path_factory, webhook, broker):
    """``voicebot serve`` with Webex on, trusting only the loopback broker, for the registered data source."""
    grpc_port = free_port()
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-webex"),
        {
            "VOICEBOT_WEBEX__GRPC_PORT": str(grpc_port),
            "VOICEBOT_WEBEX__DATASOURCE_URL": DATASOURCE_URL,
            "VOICEBOT_WEBEX__AUDIENCE": "voicebot-audience",
            "VOICEBOT_WEBEX__ISSUERS": f'["{broker.issuer}"]',
            "VOICEBOT_SCREEN_POP__WEBHOOK_URL": webhook.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VOICEBOT_DIALOGUE__SILENCE_TIMEOUT_SECS": "3",
        },
    )
    urls["grpc"] = f"127.0.0.1:{grpc_port}"
    yield urls
    stop_server(proc, log)


def on_the_line(pcm16: bytes, noise_dbfs: float | None = -45.0, after_secs: float = 0.0) -> bytes:
    """What Webex streams of a caller who listens ``after_secs`` and then says ``pcm16`` (8 kHz), in mu-law.

    The line is band-limited and, with ``noise_dbfs``, hisses throughout, between words as well.
    """
    line = Line(band_limit=True, noise_dbfs=noise_dbfs)
    noise = LineNoise(noise_dbfs, band_limited=True, seed=7) if noise_dbfs is not None else None
    quiet = b"\x00\x00" * int(8000 * after_secs)
    tail = b"\x00\x00" * 8000 * 2
    return audioop.lin2ulaw(over_the_line(quiet + pcm16 + tail, line, noise), 2)


def reply(responses) -> tuple[object, bytes, bool]:
    """A reply as Webex receives it in CHUNK mode: its FINAL, its audio as 16-bit PCM, and whether it may be
    talked over. Before the FINAL come events (START/END_OF_INPUT) and CHUNKs of raw 8 kHz mu-law (no WAV
    header, 100 B to 64 KB each); the FINAL itself carries no audio."""
    *before, final = responses
    assert final.type == "FINAL" and not final.prompts, "in CHUNK mode the FINAL carries no audio"
    streamed = [r for r in before if r.type == "CHUNK"]
    assert all(not r.prompts for r in before if r.type != "CHUNK"), "audio only in CHUNKs"
    pcm = b""
    for chunk in streamed:
        [prompt] = chunk.prompts
        assert 100 <= len(prompt.audio) <= 65536 and not prompt.audio.startswith(b"RIFF")
        pcm += audioop.ulaw2lin(prompt.audio, 2)
    barge_in = {p.barge_in for r in streamed for p in r.prompts}
    assert len(barge_in) <= 1, "one reply, one barge-in setting"
    return final, pcm, barge_in == {True}


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / 8000


async def greeted(harness: WebexHarness, parameters: dict[str, str]) -> tuple[bytes, float]:
    """The greeting's audio and length. Transcribe it once the caller has answered: that takes seconds on a slow
    machine, and a caller kept silent that long would be answering the bot's silence re-prompt."""
    welcome, pcm, barge_in = reply(await harness.start(parameters))
    assert welcome.events == [] and barge_in
    assert welcome.input_mode == "INPUT_VOICE_DTMF" and welcome.handling is not None
    assert welcome.handling["dtmf"][3] == 1  # dtmf_input_length: one key per RPC, as the menu is one key
    return pcm, seconds(pcm)


async def test_a_webex_caller_is_greeted_by_name_then_escalated_with_the_case_for_the_agent(
    webex, webhook, broker, whisper, caller_voice
):
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        assert await harness.list_agents() == [{"id": "voicebot", "name": "voicebot", "default": True}]
        greeting, playing = await greeted(harness, {"ani": JANE, "entry_point": "support"})
        said = "I'd like to speak to an agent, please."
        # The caller waits for the greeting to finish, as callers do, then answers.
        turn, _ = await harness.say(on_the_line(speak(caller_voice, said), after_secs=playing))
    heard = transcribe_8k(whisper, greeting)
    assert says(heard, "Hi Jane") and says(heard, "keeps dropping the connection")
    kinds = [r.event_types for r in turn]
    assert kinds[0] == ["START_OF_INPUT"] and kinds[1] == ["END_OF_INPUT"] and kinds[-1] == ["TRANSFER_TO_AGENT"]
    escalation, pcm, barge_in = reply(turn)
    assert escalation.input_mode is None and escalation.handling is None  # terminal: no input mode or config
    assert not barge_in  # a hand-off's prompt is not talked over
    assert says(transcribe_8k(whisper, pcm), "connecting you to an agent")
    metadata = escalation.events[0].metadata
    assert metadata["case_number"] == "CAS-01234" and metadata["customer_name"] == "Jane Doe"
    assert metadata["reason"] == "caller_requested_agent" and metadata["transfer_target"] == "support"
    assert all(isinstance(v, str) for v in metadata.values())  # flat strings, for a Parse activity's JSONPath
    assert escalation.summary and "Jane Doe called about case CAS-01234" in escalation.summary
    assert escalation.transcript and said in escalation.transcript

    rec = record(webex, harness.conversation_id)
    assert rec["platform"] == "webex" and rec["ani_e164"] == JANE and rec["outcome"] == "transferred"
    assert [t["role"] for t in rec["turns"]] == ["bot", "caller", "bot"]
    assert rec["turns"][1]["text"] == said
    assert not any(e["kind"] == "barge_in" for e in rec["events"])  # the caller waited for the greeting
    pop = screen_pop(webhook, harness.conversation_id)
    assert pop["id"] == metadata["screen_pop_id"] and pop["call"]["platform"] == "webex"
    assert pop["action"]["url"] == metadata["screen_pop_url"]
    # The post-call note is on the case, with what the caller said.
    for _ in range(50):
        page = httpx.get(f"{webex['http']}/crm/cases/{metadata['case_id']}").text
        if harness.conversation_id in page:
            break
        await asyncio.sleep(0.1)
    assert harness.conversation_id in page


async def test_a_formant_voiced_caller_who_says_goodbye_leaves_through_the_handled_exit(webex, broker, whisper):
    # espeak-ng, not Piper; tiny.en hears this one the same in every rendering tried (it mishears faster en-gb).
    caller = EspeakCaller("en-us", 140)
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        greeting, playing = await greeted(harness, {"callerNumber": JANE})
        turn, _ = await harness.say(on_the_line(caller("No thank you, goodbye."), -45.0, after_secs=playing))
    assert says(transcribe_8k(whisper, greeting), "Hi Jane")
    ending = turn[-1]
    assert ending.event_types == ["SESSION_END"] and ending.events[0].name == "resolved"
    assert ending.input_mode is None and ending.handling is None
    assert record(webex, harness.conversation_id)["outcome"] == "completed"


async def test_a_caller_who_talks_over_the_greeting_barges_in_and_is_answered(webex, broker, whisper, caller_voice):
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        _, playing = await greeted(harness, {"ani": JANE})
        said = "What's the status of my case?"
        # One second into a greeting of several: Webex streams the caller's audio while its prompt plays.
        turn, _ = await harness.say(on_the_line(speak(caller_voice, said), after_secs=1.0))
        assert playing > 4.0
        assert [r.event_types for r in turn[:2]] == [["START_OF_INPUT"], ["END_OF_INPUT"]]
        answer, pcm, _ = reply(turn)
        assert answer.events == [] and says(transcribe_8k(whisper, pcm), "in progress")
        await harness.hang_up()
    rec = record(webex, harness.conversation_id)
    greeting = rec["turns"][0]
    assert greeting["role"] == "bot" and greeting["interrupted"]
    assert any(e["kind"] == "barge_in" for e in rec["events"])
    assert [t["text"] for t in rec["turns"] if t["role"] == "caller"] == [said]


async def test_keys_work_as_on_any_line(webex, broker, whisper):
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        await greeted(harness, {"ani": JANE})
        again, pcm, _ = reply(await harness.keys("9"))
        assert again.events == [] and again.input_mode == "INPUT_VOICE_DTMF"
        assert says(transcribe_8k(whisper, pcm), "keeps dropping the connection")
        escalation, _, _ = reply(await harness.keys("1"))
    assert escalation.event_types == ["TRANSFER_TO_AGENT"]
    rec = record(webex, harness.conversation_id)
    assert rec["outcome"] == "transferred" and [d["digit"] for d in rec["dtmf"]] == ["9", "1"]


async def test_a_caller_the_crm_does_not_know_is_told_and_escalated_in_the_first_answer(webex, broker, whisper):
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        first, pcm, _ = reply(await harness.start({"ani": UNKNOWN}))
    assert first.event_types == ["TRANSFER_TO_AGENT"] and first.input_mode is None
    metadata = first.events[0].metadata
    assert metadata["reason"] == "unknown_caller" and "customer_name" not in metadata
    assert says(transcribe_8k(whisper, pcm), "agent")
    assert record(webex, harness.conversation_id)["ani_e164"] == UNKNOWN


async def test_silence_is_reprompted_without_giving_up_and_a_hang_up_is_noted(webex, broker, whisper):
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        await greeted(harness, {"ani": JANE})
        reprompt, pcm, _ = reply(await harness.no_input())
        assert pcm and reprompt.events == []  # not a NO_INPUT event: that would end the activity
        assert reprompt.input_mode == "INPUT_VOICE_DTMF"
        assert await harness.hang_up() == [harness.responses[-1]]
        assert harness.responses[-1].prompts == [] and harness.responses[-1].events == []
    rec = record(webex, harness.conversation_id)
    assert rec["outcome"] == "abandoned" and rec["outcome_reason"] == "caller_hung_up"
    assert any(e["kind"] == "silence" for e in rec["events"])


async def test_a_turn_for_a_conversation_the_server_never_held_goes_to_an_agent(webex, broker):
    async with WebexHarness(webex["grpc"], broker.mint, conversation_id="never-started") as harness:
        [answer] = await harness.no_input()
    assert answer.event_types == ["TRANSFER_TO_AGENT"]
    assert answer.events[0].metadata["reason"] == "conversation_not_held"


PROCESS_CALLER_INPUT = "/com.cisco.wcc.ccai.media.v1.VoiceVirtualAgent/ProcessCallerInput"


async def refused(target: str, metadata: tuple[tuple[str, str], ...], *messages: bytes) -> grpc.StatusCode:
    """The status a ``ProcessCallerInput`` RPC ends with after ``messages``; it must end in an error.

    Asked with the blocking client, which reports the server's status; grpc's asyncio client reports INTERNAL instead
    when a write lands after the server has already refused the RPC (grpc/grpc#36066).
    """

    def call() -> grpc.StatusCode:
        with grpc.insecure_channel(target) as channel:
            try:
                for _ in channel.stream_stream(PROCESS_CALLER_INPUT)(iter(messages), metadata=metadata, timeout=30):
                    pass
            except grpc.RpcError as exc:
                return exc.code()
        raise AssertionError("the RPC ended without an error")

    return await asyncio.to_thread(call)


async def test_every_rpc_needs_the_data_sources_token_and_bad_requests_end_only_their_rpc(webex, broker, whisper):
    start = request("c-1", "org", "voicebot", event=1)
    for metadata in ((), (("authorization", broker.mint(aud="someone-else")),)):
        assert await refused(webex["grpc"], metadata, start) is grpc.StatusCode.UNAUTHENTICATED
    signed = (("authorization", broker.mint()),)
    no_id = request("", "org", "voicebot", event=1)
    assert await refused(webex["grpc"], signed, no_id) is grpc.StatusCode.INVALID_ARGUMENT
    assert await refused(webex["grpc"], signed, b"\x0a\xff\xff") is grpc.StatusCode.INVALID_ARGUMENT
    async with WebexHarness(webex["grpc"], broker.mint) as harness:
        greeting, _ = await greeted(harness, {"ani": JANE})
        await harness.hang_up()
    assert says(transcribe_8k(whisper, greeting), "Hi Jane")
    assert record(webex, harness.conversation_id)["outcome"] == "abandoned"
    assert "Traceback" not in webex["log"].read_text()


async def test_the_health_checks_webex_may_probe_answer_without_a_token(webex):
    async with aio.insecure_channel(webex["grpc"]) as channel:
        for service in ("grpc.health.v1.Health", "com.cisco.wcc.ccai.v1.Health"):
            reply = await channel.unary_unary(f"/{service}/Check")(b"")
            assert reply == b"\x08\x01", service  # status = SERVING
    ping = httpx.get(webex["http"] + "/voiceva/v1/ping").json()
    assert ping["serviceState"] == "online" and ping["serviceType"] == "REQUIRED"


def test_webex_reaches_the_bot_over_mutual_tls_only(tmp_path, broker):
    """Webex connects over TLS; with ``webex.client_ca`` it must present a certificate that CA signed."""
    ca = LocalCA(tmp_path)
    server_cert = ca.issue("bot", server=True)
    webex_cert = ca.issue("insight-orchestrator", server=False)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    grpc_port = free_port()
    proc, log, _ = start_server(
        data_dir,
        {
            "VOICEBOT_WEBEX__GRPC_PORT": str(grpc_port),
            "VOICEBOT_WEBEX__DATASOURCE_URL": DATASOURCE_URL,
            "VOICEBOT_WEBEX__ISSUERS": f'["{broker.issuer}"]',
            "VOICEBOT_WEBEX__TLS_CERT": str(server_cert.cert),
            "VOICEBOT_WEBEX__TLS_KEY": str(server_cert.key),
            "VOICEBOT_WEBEX__CLIENT_CA": str(ca.cert),
        },
    )
    target = f"127.0.0.1:{grpc_port}"
    trusted = ca.cert.read_bytes()
    mutual = grpc.ssl_channel_credentials(trusted, webex_cert.key.read_bytes(), webex_cert.cert.read_bytes())

    async def agents(credentials) -> list:
        async with WebexHarness(target, broker.mint, credentials=credentials) as harness:
            return await asyncio.wait_for(harness.list_agents(), 10)

    try:
        assert asyncio.run(agents(mutual))[0]["id"] == "voicebot"
        for anonymous in (grpc.ssl_channel_credentials(trusted), None):
            with pytest.raises(aio.AioRpcError) as refused:
                asyncio.run(agents(anonymous))
            assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        stop_server(proc, log)


async def test_in_wav_mode_each_reply_is_one_final_with_whole_mu_law_wav_prompts(tmp_path, whisper):
    grpc_port = free_port()
    settings = {"VOICEBOT_WEBEX__GRPC_PORT": str(grpc_port), "VOICEBOT_WEBEX__REPLY_MODE": "wav"}
    proc, log, _ = start_server(tmp_path, settings)
    try:
        async with WebexHarness(f"127.0.0.1:{grpc_port}") as harness:  # local, so no token
            [welcome] = await harness.start({"ani": JANE})
            await harness.hang_up()
    finally:
        stop_server(proc, log)
    assert welcome.type == "FINAL" and welcome.input_mode == "INPUT_VOICE_DTMF"
    pcm = b""
    for prompt in welcome.prompts:
        fmt, channels, rate, data = wav_audio(prompt.audio)
        assert (fmt, channels, rate) == (7, 1, 8000) and len(prompt.audio) <= 65536 and prompt.barge_in
        pcm += audioop.ulaw2lin(data, 2)
    assert says(transcribe_8k(whisper, pcm), "Hi Jane")
