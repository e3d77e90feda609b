"""At start-up, calls a killed server left open are closed and noted (``serve --workers`` does it in the parent)."""

from voicebot.config import load_settings
from voicebot.server.recovery import recover_data_dir
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import Turn, utcnow
from voicebot.storage.sqlite.outbox import SQLiteOutboxStore
from voicebot.storage.sqlite.records import SQLiteCallStore


async def test_open_calls_are_closed_and_their_notes_queued(tmp_path):
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    store = SQLiteCallStore(settings.calls_path)
    await store.start_call("CA-cut", "twilio", None, "+14155552671", "+14155552671", None)
    await store.set_caller("CA-cut", {"id": "cust-1", "name": "Jane Doe"}, {"id": "case-1"}, {"status": "found"})
    await store.add_turn("CA-cut", Turn(role="caller", text="my router keeps dropping", started_at=utcnow()))
    await store.start_call("CA-done", "twilio", None, None, None, None)
    await store.finish("CA-done", "completed", "caller_done")
    await store.aclose()

    assert await recover_data_dir(settings) == 1
    assert await recover_data_dir(settings) == 0  # once only

    store = SQLiteCallStore(settings.calls_path)
    cut, done = await store.get("CA-cut"), await store.get("CA-done")
    await store.aclose()
    assert (cut.outcome, cut.outcome_reason) == ("error", "server_stopped")
    assert (done.outcome, done.outcome_reason) == ("completed", "caller_done")
    box = Outbox(SQLiteOutboxStore(settings.outbox_path), {}, kinds=("crm_note",))
    [note] = await box.items("pending")
    await box.aclose()
    assert note.kind == "crm_note" and note.payload["case_id"] == "case-1"
    assert "my router keeps dropping" in note.payload["body"]
