"""Keys, topic names, outbox updates and the consumer policy, without I/O."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from aiokafka.errors import (
    InvalidTopicError,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RecordListTooLargeError,
    UnknownTopicOrPartitionError,
)
from faststream.kafka import KafkaBroker
from pymongo.errors import ServerSelectionTimeoutError

from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import ContractError, decode_as
from shared.contracts.scheduler import CancelTimer
from shared.errors import PermanentError, is_unavailable, is_unpublishable
from shared.keys import key_for
from shared.locks import KeyedLocks
from shared.outbox_documents import OUTBOX, PENDING_SINCE, merge_updates, outbox_update, with_outbox
from shared.processed_events import InMemoryProcessedEvents
from shared.records import HEADER_ERROR, HEADER_ERROR_TYPE, OutgoingRecord
from shared.settings import ConsumerSettings
from shared.topics import (
    POS_UPDATES_PATTERN,
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


def test_the_pos_updates_pattern_takes_each_stores_updates_topic_and_not_its_dead_letters() -> None:
    pattern = re.compile(POS_UPDATES_PATTERN)  # as aiokafka compiles it, then `match`es topics
    assert pattern.match(pos_updates_topic("client-1", "store_2"))
    assert not pattern.match(dlq_topic(pos_updates_topic("client-1", "store_2")))
    assert not pattern.match(pos_orders_topic("client-1", "store_2"))


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


async def test_a_permanent_error_is_dead_lettered_without_retrying_nor_recording_it() -> None:
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
    assert not await processed.contains("unit", str(message.event_id)), "a replay is handled"


@pytest.mark.parametrize(
    "failure",
    [RecursionError("maximum recursion depth exceeded"), ValueError("int too long"), KeyError()],
)
async def test_whatever_a_decoder_raises_dead_letters_the_message_at_once(
    failure: Exception,
) -> None:
    def decode(value: bytes) -> CancelTimer:
        raise failure

    sink, processed = RecordingSink(), InMemoryProcessedEvents()
    consumer = IdempotentConsumer(
        Subscription("unit", decode, handler_never_called),
        processed=processed,
        dead_letters=sink,
        settings=ConsumerSettings(attempts=3),
    )
    await consumer.handle(received(cancel_timer()))
    [dead] = sink.records
    assert dead.headers[HEADER_ERROR_TYPE] == type(failure).__name__


async def handler_never_called(message: CancelTimer, received: ReceivedRecord) -> None:
    raise AssertionError("an unreadable message reached the handler")


async def test_an_answer_to_the_sender_that_fails_does_not_keep_the_message_from_the_dlq() -> None:
    async def answer(error: ContractError, received: ReceivedRecord) -> None:
        raise ValueError("the answer itself is invalid")

    sink = RecordingSink()
    consumer = IdempotentConsumer(
        Subscription(
            "unit",
            lambda value: decode_as(value, CancelTimer),
            handler_never_called,
            answer_malformed=answer,
        ),
        processed=InMemoryProcessedEvents(),
        dead_letters=sink,
        settings=ConsumerSettings(attempts=3),
    )
    await consumer.handle(dataclasses.replace(received(cancel_timer()), value=b"[" * 1000))
    [dead] = sink.records
    assert dead.headers[HEADER_ERROR_TYPE] == "ContractError"


async def test_a_validation_error_of_a_handler_reaches_the_dlq_without_the_input() -> None:
    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        CancelTimer.model_validate({"timerId": "+5511999998888 Maria"})

    sink = RecordingSink()
    await consumer_with(handler, sink, InMemoryProcessedEvents()).handle(received(cancel_timer()))
    [dead] = sink.records
    assert "ValidationError" in dead.headers[HEADER_ERROR]
    assert "Maria" not in dead.headers[HEADER_ERROR]


def test_null_and_binary_header_values_are_read_as_text() -> None:
    record = ConsumerRecord(
        topic="t",
        partition=0,
        offset=1,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=None,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=(("null", None), ("binary", b"\xff\xfeok"), ("text", "ção".encode())),
    )
    assert ReceivedRecord.of(record).headers == {
        "null": "",
        "binary": "\\xff\\xfeok",
        "text": "ção",
    }
    assert ReceivedRecord.of(record).value == b""


async def test_a_pattern_subscription_dedupes_event_ids_per_topic() -> None:
    handled: list[str] = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        handled.append(received.topic)

    consumer = IdempotentConsumer(
        Subscription("unit", lambda value: decode_as(value, CancelTimer), handler, pattern="t.*"),
        processed=InMemoryProcessedEvents(),
        dead_letters=RecordingSink(),
        settings=ConsumerSettings(attempts=3),
    )
    message = received(cancel_timer())
    for topic in ("t.store-1", "t.store-2", "t.store-1"):
        await consumer.handle(dataclasses.replace(message, topic=topic))
    assert handled == ["t.store-1", "t.store-2"]


async def test_messages_a_handler_takes_once_by_itself_leave_no_processed_record() -> None:
    handled: list[str] = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        handled.append(message.timer_id)

    processed = InMemoryProcessedEvents()
    consumer = IdempotentConsumer(
        Subscription(
            "unit",
            lambda value: decode_as(value, CancelTimer),
            handler,
            takes_once=lambda message: message.timer_id == "self-deduped",
        ),
        processed=processed,
        dead_letters=RecordingSink(),
        settings=ConsumerSettings(attempts=3),
    )
    by_itself = cancel_timer().model_copy(update={"timer_id": "self-deduped"})
    recorded = cancel_timer()
    for message in (by_itself, by_itself, recorded, recorded):
        await consumer.handle(received(message))
    assert handled == ["self-deduped", "self-deduped", recorded.timer_id]
    assert processed.ids == {("unit", str(recorded.event_id))}


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


async def test_holding_the_free_locks_skips_held_ones_and_makes_later_holders_wait() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    release_busy = asyncio.Event()

    async def busy() -> None:
        async with locks.hold("busy"):
            await release_busy.wait()

    async def writer() -> None:
        async with locks.hold("free"):
            order.append("writer in")

    holder = asyncio.create_task(busy())
    await asyncio.sleep(0)
    async with locks.holding_free(["free", "busy", "free", "other"]) as held:
        assert held == ["free", "other"]
        waiting = asyncio.create_task(writer())
        await asyncio.sleep(0)
        assert order == []  # "free" is held here
        order.append("batch done")
    await waiting
    release_busy.set()
    await holder
    assert order == ["batch done", "writer in"]
    async with locks.holding_free(["free", "busy"]) as held:
        assert held == ["free", "busy"]  # every lock released and forgotten
    assert locks._locks == {}


async def test_a_shutdown_step_that_hangs_is_given_up_after_its_bound(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from shared import runtime

    monkeypatch.setattr(runtime, "STOP_STEP_S", 0.05)
    hung = asyncio.Event()

    await runtime._bounded("the Kafka clients", hung.wait())

    assert not hung.is_set()
    assert "stopping the Kafka clients took over" in caplog.text


def test_each_member_of_a_subscription_waits_at_the_broker_as_long_as_its_settings_say() -> None:
    broker = KafkaBroker()

    async def handle(message: CancelTimer, received: ReceivedRecord) -> None:
        pass

    subscription = Subscription[CancelTimer](
        "timers", lambda value: decode_as(value, CancelTimer), handle, topics=("timers",)
    )
    consumer = IdempotentConsumer(
        subscription,
        processed=InMemoryProcessedEvents(),
        dead_letters=RecordingSink(),
        settings=ConsumerSettings(workers=2, fetch_max_wait_ms=250),
    )

    subscribe(broker, consumer)

    members = list(broker.subscribers)
    assert len(members) == 2
    # FastStream hands these to each member's AIOKafkaConsumer.
    waits = [member._connection_args["fetch_max_wait_ms"] for member in members]  # type: ignore[attr-defined]
    assert waits == [250, 250]
