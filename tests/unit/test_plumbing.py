"""Keys, topic names, outbox updates and the consumer policy, without I/O."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiokafka.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordListTooLargeError,
    UnknownTopicOrPartitionError,
)
from pymongo.errors import ServerSelectionTimeoutError

from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.errors import PermanentError, is_unavailable, is_unpublishable
from shared.keys import key_for
from shared.locks import KeyedLocks
from shared.outbox import OUTBOX, PENDING_SINCE, merge_updates, outbox_update, with_outbox
from shared.processed_events import InMemoryProcessedEvents
from shared.records import HEADER_ERROR, OutgoingRecord
from shared.settings import ConsumerSettings
from shared.topics import (
    STORES_CONFIG,
    TopicNameError,
    dlq_topic,
    is_legal_topic,
    pos_orders_topic,
    pos_updates_topic,
    store_of_pos_topic,
)
from tests import builders
from tests.sinks import RecordingSink

NOW = datetime(2026, 5, 24, 15, 30, tzinfo=UTC)


def cancel_timer(client_id: str = "client-1") -> CancelTimer:
    return builders.cancel_timer(
        "order-1:confirmation", occurred_at=NOW, correlation_id="turn-1", client_id=client_id
    )


def test_every_topic_is_keyed_by_restaurant_except_the_store_config_topic() -> None:
    assert key_for("orders.events", "client-1", "store-9") == b"client-1"
    assert key_for(STORES_CONFIG, "client-1", "store-9") == b"client-1:store-9"
    with pytest.raises(ValueError, match="clientId"):
        key_for("orders.events", "")


def test_pos_topics_name_the_store_and_give_it_back() -> None:
    assert pos_orders_topic("client-1", "store_2") == "pos.client-1.store_2.orders"
    assert pos_updates_topic("client-1", "store_2") == "pos.client-1.store_2.updates"
    assert store_of_pos_topic("pos.client-1.store_2.updates") == ("client-1", "store_2")
    assert dlq_topic("orders.events") == "orders.events.dlq"


@pytest.mark.parametrize("bad", ["", "a.b", "a b", "x" * 101, "ção"])
def test_ids_that_cannot_be_part_of_a_topic_name_are_refused(bad: str) -> None:
    with pytest.raises(TopicNameError):
        pos_orders_topic(bad, "store")


@pytest.mark.parametrize("name", ["orders.events", "pos.client-1.store_2.orders", "a" * 249])
def test_kafka_accepts_these_topic_names(name: str) -> None:
    assert is_legal_topic(name)


@pytest.mark.parametrize("name", ["", ".", "..", "orders events", "pedidos/ção", "a" * 250])
def test_kafka_refuses_these_topic_names(name: str) -> None:
    assert not is_legal_topic(name)


@pytest.mark.parametrize(
    "error", [MessageSizeTooLargeError(), RecordListTooLargeError(), InvalidTopicError()]
)
def test_a_record_kafka_refuses_for_good_is_unpublishable_not_unavailable(
    error: Exception,
) -> None:
    assert is_unpublishable(error)
    assert not is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        KafkaConnectionError(),
        KafkaTimeoutError(),
        NotLeaderForPartitionError(),
        UnknownTopicOrPartitionError(),
        RuntimeError("anything unforeseen"),
    ],
)
def test_an_unreachable_broker_or_an_unknown_error_may_pass_later(error: Exception) -> None:
    assert not is_unpublishable(error)


def test_a_record_carries_the_key_and_the_metadata_headers() -> None:
    message = cancel_timer()
    record = OutgoingRecord.of("scheduler.commands", message)
    assert record.key == b"client-1"
    assert record.headers == {
        "event-type": "CancelTimer",
        "event-id": str(message.event_id),
        "event-version": "1",
        "correlation-id": "turn-1",
    }
    assert OutgoingRecord.from_document(record.to_document()) == record


def test_outbox_records_join_the_state_update_of_the_same_document() -> None:
    record = OutgoingRecord.of("orders.events", cancel_timer())
    update = merge_updates({"$set": {"status": "CONFIRMED"}}, outbox_update([record], NOW))
    assert update == {
        "$set": {"status": "CONFIRMED"},
        "$push": {OUTBOX: {"$each": [record.to_document()]}},
        "$min": {PENDING_SINCE: NOW},
    }
    assert with_outbox({"_id": "o"}, [record], NOW)[PENDING_SINCE] == NOW
    assert outbox_update([], NOW) == {}
    assert with_outbox({"_id": "o"}, [], NOW) == {"_id": "o"}


def test_merging_updates_that_set_one_field_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        merge_updates({"$set": {"status": "A"}}, {"$set": {"status": "B"}})


def consumer_with(handler, sink: RecordingSink, processed: InMemoryProcessedEvents):  # type: ignore[no-untyped-def]
    return IdempotentConsumer(
        Subscription("unit", lambda value: decode_as(value, CancelTimer), handler),
        processed=processed,
        dead_letters=sink,
        settings=ConsumerSettings(attempts=3, transient_max_elapsed_s=1),
    )


def received(message: CancelTimer) -> ReceivedRecord:
    record = OutgoingRecord.of("scheduler.commands", message)
    return ReceivedRecord("scheduler.commands", 0, 7, record.key, record.value, record.headers)


async def test_a_permanent_error_is_dead_lettered_without_retrying() -> None:
    calls = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        calls.append(message.timer_id)
        raise PermanentError("order belongs to another store")

    sink, processed = RecordingSink(), InMemoryProcessedEvents()
    message = cancel_timer()
    await consumer_with(handler, sink, processed).handle(received(message))
    assert len(calls) == 1
    [dead] = sink.records
    assert dead.topic == "scheduler.commands.dlq"
    assert dead.headers[HEADER_ERROR] == "PermanentError: order belongs to another store"
    assert await processed.contains("unit", str(message.event_id))


async def test_an_unreachable_database_leaves_the_message_for_redelivery_not_the_dlq() -> None:
    calls = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        calls.append(message.timer_id)
        raise ServerSelectionTimeoutError("no server")

    sink, processed = RecordingSink(), InMemoryProcessedEvents()
    message = cancel_timer()
    with pytest.raises(ServerSelectionTimeoutError):
        await consumer_with(handler, sink, processed).handle(received(message))
    assert len(calls) == 3
    assert sink.records == []
    assert not await processed.contains("unit", str(message.event_id))


async def test_a_handler_that_fails_once_is_retried_and_succeeds() -> None:
    calls = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        calls.append(message.timer_id)
        if len(calls) == 1:
            raise RuntimeError("flaky")

    sink, processed = RecordingSink(), InMemoryProcessedEvents()
    await consumer_with(handler, sink, processed).handle(received(cancel_timer()))
    assert len(calls) == 2
    assert sink.records == []


async def test_writes_under_one_key_take_turns_and_other_keys_do_not_wait() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    release_first = asyncio.Event()

    async def first() -> None:
        async with locks.hold(("orders", "o-1")):
            order.append("first in")
            await release_first.wait()
            order.append("first out")

    async def second() -> None:
        async with locks.hold(("orders", "o-1")):
            order.append("second in")

    async def other() -> None:
        async with locks.hold(("orders", "o-2")):
            order.append("other in")

    tasks = [asyncio.create_task(first())]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(second()), asyncio.create_task(other())]
    await asyncio.sleep(0)
    assert order == ["first in", "other in"]
    release_first.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "other in", "first out", "second in"]
    assert locks._locks == {}
