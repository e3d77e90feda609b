"""What a Webex conversation owes each turn RPC: the rules of the one-FINAL-per-RPC model, without speech models."""

from __future__ import annotations

import pytest

from voicebot.telephony.webex.conversation import Event, WebexConversation, listening_config
from voicebot.telephony.webex.proto import byova_pb2

GREETING, REPLY, LAST = [b"greeting.wav"], [b"reply.wav"], [b"goodbye.wav"]


@pytest.fixture
def conversation() -> WebexConversation:
    return WebexConversation("conv-1", listening_config(6.0))


def drain(rpc) -> list[tuple[byova_pb2.VoiceVAResponse | None, bool]]:
    sent = []
    while not rpc.outgoing.empty():
        sent.append(rpc.outgoing.get_nowait())
    return sent


def kinds(response: byova_pb2.VoiceVAResponse | None) -> list[str]:
    return [Event.EventType.Name(e.event_type) for e in response.output_events] if response else ["superseded"]


async def test_a_reply_on_an_audio_rpc_follows_start_and_end_of_input_as_its_one_final(conversation):
    rpc = conversation.open("audio")
    conversation.speech_started()
    conversation.speech_started()  # one START_OF_INPUT per turn, however often the caller starts again
    conversation.reply(REPLY)
    sent = drain(rpc)
    assert [kinds(r) for r, _ in sent] == [["START_OF_INPUT"], ["END_OF_INPUT"], []]
    assert [last for _, last in sent] == [False, False, True]
    final = sent[-1][0]
    assert [p.audio_content for p in final.prompts] == REPLY and all(p.is_barge_in_enabled for p in final.prompts)
    assert final.input_mode == byova_pb2.INPUT_VOICE_DTMF and final.input_handling_config.dtmf_config.dtmf_input_length
    assert final.input_handling_config.speech_timers.no_input_timeout_msec == 8000  # after our own 6 s re-prompt


async def test_the_greeting_rpc_gets_no_speech_events(conversation):
    rpc = conversation.open("start")
    conversation.speech_started()
    conversation.reply(GREETING)
    assert [kinds(r) for r, _ in drain(rpc)] == [[]]


async def test_what_the_bot_says_between_rpcs_waits_for_the_next_one_in_order(conversation):
    conversation.open("start")
    conversation.reply(GREETING)
    conversation.reply(REPLY)  # answered: both wait
    conversation.reply([b"more.wav"])
    rpc = conversation.open("audio")
    [(response, last)] = drain(rpc)
    assert last and [p.audio_content for p in response.prompts] == [b"reply.wav", b"more.wav"]
    conversation.reply([b"next.wav"])
    assert drain(rpc) == []  # that RPC is answered; the next reply waits again


async def test_a_caller_who_talks_before_webex_returns_withdraws_the_waiting_reply(conversation):
    conversation.reply(REPLY)
    conversation.withdraw()
    assert drain(conversation.open("audio")) == []


async def test_the_last_prompt_leaves_with_the_hand_off_in_a_terminal_only_response(conversation):
    rpc = conversation.open("audio")
    conversation.hold_closing(LAST)
    assert drain(rpc) == []  # held for the event that goes with it
    transfer = Event(event_type=Event.TRANSFER_TO_AGENT, name="transfer_to_agent")
    conversation.let_go(transfer, summary="Jane Doe called.", transcript="caller: agent")
    conversation.let_go(Event(event_type=Event.SESSION_END))  # decided once
    sent = drain(rpc)
    assert [kinds(r) for r, _ in sent] == [["END_OF_INPUT"], ["TRANSFER_TO_AGENT"]]
    terminal = sent[-1][0]
    assert [p.audio_content for p in terminal.prompts] == LAST and not terminal.prompts[0].is_barge_in_enabled
    assert not terminal.HasField("input_handling_config") and terminal.input_mode == 0
    assert terminal.session_summary.text == "Jane Doe called." and terminal.session_transcript.text == "caller: agent"
    assert conversation.terminal is terminal


async def test_a_hand_off_decided_between_rpcs_is_owed_to_the_next_and_withdrawing_spares_it(conversation):
    conversation.reply(REPLY)
    conversation.let_go(Event(event_type=Event.SESSION_END))
    conversation.withdraw()
    assert conversation.owed is not None
    [(response, last)] = drain(conversation.open("no_input"))
    assert last and kinds(response) == ["SESSION_END"] and len(response.prompts) == 1
    assert conversation.owed is None


async def test_a_newer_rpc_supersedes_an_older_one_still_waiting(conversation):
    older = conversation.open("audio")
    newer = conversation.open("audio")
    assert drain(older) == [(None, False)]
    conversation.reply(REPLY)
    assert [kinds(r) for r, _ in drain(newer)] == [["END_OF_INPUT"], []]


async def test_an_answer_webex_dropped_goes_out_on_its_next_rpc(conversation):
    rpc = conversation.open("audio")
    conversation.reply(REPLY)
    response, _ = drain(rpc)[-1]
    conversation.closed(rpc)
    conversation.undelivered(response)
    [(again, last)] = drain(conversation.open("audio"))
    assert last and [p.audio_content for p in again.prompts] == REPLY


async def test_a_released_rpc_closes_without_an_answer(conversation):
    rpc = conversation.open("audio")
    conversation.release()
    assert drain(rpc) == [(None, False)]


def chunk_of(response) -> bytes:
    assert response.response_type == byova_pb2.VoiceVAResponse.CHUNK
    [prompt] = response.prompts
    return prompt.audio_content


async def test_in_chunk_mode_a_reply_streams_after_end_of_input_and_its_final_carries_no_audio(conversation):
    rpc = conversation.open("audio")
    conversation.speech_started()
    conversation.chunk(b"\x01" * 200, barge_in=True)
    conversation.chunk(b"\x02" * 200, barge_in=True)
    conversation.reply([])
    sent = drain(rpc)
    assert [kinds(r) for r, _ in sent] == [["START_OF_INPUT"], ["END_OF_INPUT"], [], [], []]
    assert [chunk_of(r) for r, _ in sent[2:4]] == [b"\x01" * 200, b"\x02" * 200]
    final, last = sent[-1]
    assert last and final.response_type == byova_pb2.VoiceVAResponse.FINAL and not final.prompts
    assert final.input_mode == byova_pb2.INPUT_VOICE_DTMF


async def test_a_caller_who_talks_over_streamed_audio_starts_a_new_turn_on_the_same_rpc(conversation):
    rpc = conversation.open("audio")
    conversation.speech_started()
    conversation.chunk(b"\x01" * 200, barge_in=True)
    conversation.withdraw()  # the caller barged in: the reply stops, the RPC stays open for the next one
    conversation.speech_started()
    conversation.chunk(b"\x03" * 200, barge_in=True)
    conversation.reply([])
    assert [kinds(r) for r, _ in drain(rpc)] == [
        ["START_OF_INPUT"], ["END_OF_INPUT"], [], ["START_OF_INPUT"], ["END_OF_INPUT"], [], []
    ]  # fmt: skip


async def test_chunks_rendered_before_webex_comes_back_go_out_first_on_its_next_rpc(conversation):
    conversation.chunk(b"\x01" * 200, barge_in=False)
    rpc = conversation.open("audio")
    conversation.let_go(Event(event_type=Event.SESSION_END))
    sent = drain(rpc)
    assert chunk_of(sent[0][0]) == b"\x01" * 200 and kinds(sent[-1][0]) == ["SESSION_END"] and sent[-1][1]
