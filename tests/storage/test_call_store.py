"""The call store, as either back end keeps it: what a call writes is what an operator reads back."""

from __future__ import annotations

import asyncio

from voicebot.storage.records import TransferRecord, Turn, utcnow

JANE = "+14155552671"


async def a_call(store, call_id: str = "CA-1") -> None:
    await store.start_call(call_id, "twilio", "MZ-1", "(415) 555-2671", JANE, "+18005550100")
    await store.set_caller(call_id, {"id": "cust-1", "name": "Jane Doe"}, {"id": "case-1", "number": "CAS-1"}, {})


async def test_a_call_reads_back_as_it_was_written(backend):
    store = backend.call_store()
    await a_call(store)
    said = await store.add_turn("CA-1", Turn("caller", "my router keeps", utcnow()))
    await store.update_turn(said, text="my router keeps dropping", ended_at=utcnow(), latency_ms=412.5)
    bot = await store.add_turn("CA-1", Turn("bot", "Let me get you an agent.", utcnow()))
    await store.update_turn(bot, interrupted=True)
    await store.add_event("CA-1", "intent", {"intent": "agent", "confidence": 0.91})
    await store.add_event("CA-1", "dtmf", {"digit": "0"})
    await store.add_event("CA-1", "screen_pop", {"payload": {"id": "pop-1"}})
    await store.add_event("CA-1", "crm_lookup", {"ms": 12})
    transfer = TransferRecord("enqueue", "support", "pop-1", "open_case")
    assert await store.finish("CA-1", "transferred", "caller_asked", transfer)

    record = await store.get("CA-1")
    assert (record.platform, record.stream_id, record.ani_raw, record.ani_e164) == (
        "twilio",
        "MZ-1",
        "(415) 555-2671",
        JANE,
    )
    assert record.node == "node-a" and record.dialed == "+18005550100"
    assert record.customer == {"id": "cust-1", "name": "Jane Doe"} and record.case["number"] == "CAS-1"
    assert [(t.role, t.text, t.interrupted) for t in record.turns] == [
        ("caller", "my router keeps dropping", False),
        ("bot", "Let me get you an agent.", True),
    ]
    assert record.turns[0].latency_ms == 412.5 and record.turns[0].ended_at is not None
    assert [i["intent"] for i in record.intents] == ["agent"] and record.dtmf[0]["digit"] == "0"
    assert record.screen_pops[0]["payload"] == {"id": "pop-1"}
    assert [e.kind for e in record.events] == ["crm_lookup"]
    assert (record.outcome, record.outcome_reason, record.transfer) == ("transferred", "caller_asked", transfer)
    assert record.started_at <= record.ended_at
    await store.aclose()


async def test_the_first_outcome_stands(backend):
    store = backend.call_store()
    await a_call(store)
    assert await store.finish("CA-1", "transferred", "caller_asked")
    assert not await store.finish("CA-1", "abandoned", "hangup")  # the socket closing after the transfer
    assert (await store.get("CA-1")).outcome == "transferred"
    assert await store.get("CA-unknown") is None
    await store.aclose()


async def test_relabelled_intents_are_kept_as_taken_back(backend):
    store = backend.call_store()
    await a_call(store)
    first = await store.add_event("CA-1", "intent", {"intent": "done"})
    await store.add_event("CA-1", "intent", {"intent": "agent"})
    await store.relabel_events([first], "intent_taken_back")
    record = await store.get("CA-1")
    assert [i["intent"] for i in record.intents] == ["agent"]
    assert [(e.kind, e.data) for e in record.events] == [("intent_taken_back", {"intent": "done"})]
    await store.aclose()


async def test_a_write_is_completed_even_when_the_call_is_cancelled_mid_write(backend):
    store = backend.call_store()
    await a_call(store)
    write = asyncio.ensure_future(store.add_turn("CA-1", Turn("caller", "goodbye", utcnow())))
    await asyncio.sleep(0)
    write.cancel()  # the caller hung up
    await asyncio.sleep(0.5)
    assert [t.text for t in (await store.get("CA-1")).turns] == ["goodbye"]
    await store.aclose()


async def test_recent_lists_the_newest_first_with_who_called(backend):
    store = backend.call_store()
    for n in range(3):
        await a_call(store, f"CA-{n}")
    recent = await store.recent(2)
    assert [r["id"] for r in recent] == ["CA-2", "CA-1"]
    assert recent[0]["customer_name"] == "Jane Doe" and recent[0]["case_number"] == "CAS-1"
    assert recent[0]["ani_e164"] == JANE and recent[0]["outcome"] is None
    await store.aclose()


async def test_purge_deletes_old_finished_calls_only(backend):
    store = backend.call_store()
    await a_call(store, "CA-old")
    await store.add_turn("CA-old", Turn("caller", "old words", utcnow()))
    await store.finish("CA-old", "completed", "caller_done")
    await a_call(store, "CA-open")
    assert await store.purge("2999-01-01T00:00:00.000+00:00") == 1
    assert await store.get("CA-old") is None
    assert (await store.get("CA-open")).outcome is None  # unfinished: never purged
    await store.aclose()
