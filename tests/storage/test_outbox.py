"""The outbox: durable before the first attempt, retried across restarts, parked never dropped."""

import asyncio
import json

import pytest

from tests.http_receiver import HTTPReceiver
from voicebot.storage.outbox import Outbox, OutboxStore, PermanentError
from voicebot.tools.screen_pop import ScreenPopWebhook


async def until(predicate, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def fast_outbox(store: OutboxStore, handlers, **kwargs) -> Outbox:
    return Outbox(store, handlers, backoff_base_secs=0.05, backoff_max_secs=0.2, **kwargs)


async def test_an_item_is_stored_before_its_first_attempt(backend):
    box = fast_outbox(backend.outbox_store(), {"note": lambda p: asyncio.sleep(0)})
    await box.enqueue("note", {"text": "hi"})  # worker not started: nothing attempted yet
    [item] = await box.items("pending")
    assert item.payload == {"text": "hi"} and item.attempts == 0
    await box.aclose()


async def test_failures_are_retried_with_backoff_until_done(backend):
    receiver = HTTPReceiver(status=lambda n: 503 if n <= 2 else 204)
    webhook = ScreenPopWebhook(receiver.url, "k")
    box = fast_outbox(backend.outbox_store(), {"screen_pop": webhook.post})
    box.start()
    await box.enqueue("screen_pop", {"id": "pop-1"})

    async def done():
        return (await box.counts())["done"] == 1

    await until(done)
    assert len(receiver.requests) == 3
    assert [json.loads(r["body"])["id"] for r in receiver.requests] == ["pop-1"] * 3
    await box.aclose()
    await webhook.aclose()
    receiver.close()


async def test_a_permanent_error_parks_the_item_with_its_error(backend):
    async def reject(payload):
        raise PermanentError("422 RecordInvalid")

    box = fast_outbox(backend.outbox_store(), {"note": reject})
    box.start()
    await box.enqueue("note", {"n": 1})

    async def parked():
        return (await box.counts())["parked"] == 1

    await until(parked)
    [item] = await box.items("parked")
    assert item.attempts == 1 and "422 RecordInvalid" in item.last_error
    await box.aclose()


async def test_too_many_attempts_park_the_item(backend):
    async def down(payload):
        raise ConnectionError("CRM down")

    box = fast_outbox(backend.outbox_store(), {"note": down}, max_attempts=3)
    box.start()
    await box.enqueue("note", {"n": 1})

    async def parked():
        return (await box.counts())["parked"] == 1

    await until(parked)
    [item] = await box.items("parked")
    assert item.attempts == 3 and "CRM down" in item.last_error
    await box.aclose()


async def test_pending_items_survive_a_restart_and_are_delivered_after_it(backend):
    delivered = []

    async def failing(payload):
        raise ConnectionError("down")

    first = fast_outbox(backend.outbox_store(), {"note": failing})
    first.start()
    await first.enqueue("note", {"n": 1})

    async def attempted():
        return any(i.attempts >= 1 for i in await first.items("pending"))

    await until(attempted)
    await first.aclose()  # the process stops with the item still pending

    async def working(payload):
        delivered.append(payload)

    second = fast_outbox(backend.outbox_store(), {"note": working})
    second.start()

    async def done():
        return (await second.counts())["done"] == 1

    await until(done)
    assert delivered == [{"n": 1}]
    await second.aclose()


async def test_a_slow_item_does_not_hold_up_the_next(backend):
    release = asyncio.Event()
    order = []

    async def handler(payload):
        if payload["slow"]:
            await release.wait()
        order.append(payload["n"])

    box = fast_outbox(backend.outbox_store(), {"x": handler})
    box.start()
    await box.enqueue("x", {"n": 1, "slow": True})
    await box.enqueue("x", {"n": 2, "slow": False})

    async def second_done():
        return order == [2]

    await until(second_done)
    release.set()

    async def both():
        return (await box.counts())["done"] == 2

    await until(both)
    await box.aclose()


async def test_a_parked_item_can_be_put_back_in_line(backend):
    calls = []

    async def flaky(payload):
        calls.append(1)
        if len(calls) == 1:
            raise PermanentError("bad token")

    box = fast_outbox(backend.outbox_store(), {"x": flaky})
    box.start()
    item_id = await box.enqueue("x", {})

    async def parked():
        return (await box.counts())["parked"] == 1

    await until(parked)
    assert await box.retry_parked(item_id)

    async def done():
        return (await box.counts())["done"] == 1

    await until(done)
    await box.aclose()


async def test_unknown_kinds_are_refused_at_once(backend):
    box = fast_outbox(backend.outbox_store(), {})
    with pytest.raises(ValueError):
        await box.enqueue("nope", {})
    await box.aclose()


async def test_server_processes_sharing_one_outbox_deliver_each_item_once(backend):
    """Two outboxes on one store, as two workers or two nodes run them: each item is claimed by one."""
    delivered: list[int] = []

    async def slow_note(payload):
        await asyncio.sleep(0.02)
        delivered.append(payload["n"])

    first = fast_outbox(backend.outbox_store("node-a"), {"note": slow_note})
    second = fast_outbox(backend.outbox_store("node-b"), {"note": slow_note})
    for n in range(40):
        await first.enqueue("note", {"n": n})
    first.start()
    second.start()

    async def all_done():
        return (await first.counts()).get("done", 0) == 40

    await until(all_done)
    assert sorted(delivered) == list(range(40))
    await first.aclose()
    await second.aclose()


async def test_an_item_whose_claimant_died_is_taken_over_when_its_claim_runs_out(backend):
    """A node that claimed an item and died mid-attempt leaves it pending; another node delivers it, once."""
    dead = backend.outbox_store("node-a", claim_secs=0.5)
    writer = fast_outbox(dead, {"note": lambda p: asyncio.sleep(0)})
    await writer.enqueue("note", {"n": 1})
    [claimed] = await dead.claim((), 10)  # node A takes the item, then dies before any result
    assert await dead.claim((), 10) == []  # held: nobody else may take it now

    delivered = []

    async def note(payload):
        delivered.append(payload)

    survivor = fast_outbox(backend.outbox_store("node-b"), {"note": note}, idle_secs=0.1)
    survivor.start()

    async def done():
        return (await survivor.counts())["done"] == 1

    await until(done)
    assert delivered == [{"n": 1}]
    [item] = await survivor.items("done")
    assert item.id == claimed.id and item.attempts == 1
    await survivor.aclose()
    await writer.aclose()
