"""The embedded outbox on the MongoDB-protocol server, relayed to the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from pymongo.asynchronous.collection import AsyncCollection

from shared.broker import BrokerSink
from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.mongo import Database, Document, connect
from shared.outbox import CLEARED_PER_WRITE, SWEEP_FAILURES_IN_A_ROW, OutboxRelay
from shared.outbox_documents import (
    OUTBOX,
    OUTBOX_INDEX,
    PARKED,
    PENDING_SINCE,
    merge_updates,
    outbox_update,
    with_outbox,
)
from shared.records import HEADER_EVENT_ID, OutgoingRecord
from shared.settings import ConsumerSettings, MongoSettings, OutboxSettings
from tests import builders
from tests.conftest import NewTopics
from tests.integration.kafka_helpers import (
    CountingProcessedEvents,
    Record,
    at_least,
    headers_of,
    read_all,
    read_until,
    running_broker,
    small_records_topic,
)
from tests.integration.test_kafka_keys import cancel_timer
from tests.integration.test_mongo_command_metrics import calls
from tests.sinks import RecordingSink
from tests.unit.test_tracing import sender_span, traced
from tests.waiting import eventually

pytestmark = pytest.mark.integration

NO_GRACE = OutboxSettings(sweep_grace_s=0, sweep_interval_s=0.1)
Collection = AsyncCollection[Document]


class RelayKilled(BaseException):
    """Stands for the relay process dying: nothing in the relay may catch it."""


class DiesAfterPublishing:
    """Produces for real, then dies before the relay can remove what it produced."""

    def __init__(self, sink: BrokerSink) -> None:
        self.sink = sink

    async def send(self, *records: OutgoingRecord) -> None:
        await self.sink.send(*records)
        raise RelayKilled


async def test_a_state_change_and_its_events_are_one_update_and_the_relay_clears_them(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("orders.events")
    orders = database["orders"]
    await orders.create_indexes([OUTBOX_INDEX])
    now = datetime.now(UTC)
    placed, confirmed = cancel_timer("r-out", 1), cancel_timer("r-out", 2)
    await orders.insert_one(
        with_outbox(
            {"_id": "o-1", "status": "PENDING", "version": 1},
            [OutgoingRecord.of(topic, placed)],
            now,
        )
    )
    result = await orders.update_one(
        {"_id": "o-1", "version": 1},
        merge_updates(
            {"$set": {"status": "CONFIRMED"}, "$inc": {"version": 1}},
            outbox_update([OutgoingRecord.of(topic, confirmed)], now),
        ),
    )
    assert result.modified_count == 1
    stored = await orders.find_one({"_id": "o-1"})
    assert stored is not None
    assert stored["status"] == "CONFIRMED"
    assert stored["version"] == 2
    assert [entry["eventId"] for entry in stored[OUTBOX]] == [
        str(placed.event_id),
        str(confirmed.event_id),
    ]

    async with running_broker(kafka_bootstrap) as broker:
        relay = OutboxRelay(BrokerSink(broker), NO_GRACE)
        assert await relay.attach(orders).publish("o-1") == 2
        assert await relay.sweep() == 0

    stored = await orders.find_one({"_id": "o-1"})
    assert stored is not None
    assert stored[OUTBOX] == []
    assert PENDING_SINCE not in stored
    records = await read_until(kafka_bootstrap, topic, at_least(2))
    assert [decode_as(r.value, CancelTimer) for r in records] == [placed, confirmed]


async def test_a_relay_killed_between_publish_and_removal_republishes_and_the_consumer_handles_once(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("orders.events")
    orders = database["orders"]
    event = cancel_timer("r-crash", 1)
    await orders.insert_one(
        with_outbox(
            {"_id": "o-2", "status": "PENDING"},
            [OutgoingRecord.of(topic, event)],
            datetime.now(UTC),
        )
    )
    handled: Counter[str] = Counter()
    processed = CountingProcessedEvents(database)

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        handled[message.timer_id] += 1

    def setup(broker):  # type: ignore[no-untyped-def]
        subscription = Subscription(
            f"outbox-test-{topic}",
            lambda value: decode_as(value, CancelTimer),
            handler,
            topics=(topic,),
        )
        consumer = IdempotentConsumer(
            subscription,
            processed=processed,
            dead_letters=BrokerSink(broker),
            settings=ConsumerSettings(),
        )
        subscribe(broker, consumer)

    async with running_broker(kafka_bootstrap, setup) as broker:
        doomed = OutboxRelay(DiesAfterPublishing(BrokerSink(broker)), NO_GRACE)
        with pytest.raises(RelayKilled):
            await doomed.attach(orders).publish("o-2")
        left_behind = await orders.find_one({"_id": "o-2"})
        assert left_behind is not None
        assert len(left_behind[OUTBOX]) == 1

        restarted = OutboxRelay(BrokerSink(broker), NO_GRACE)
        restarted.attach(orders)
        assert await restarted.sweep() == 1

        await read_until(kafka_bootstrap, topic, at_least(2))  # published twice
        await eventually(lambda: processed.deliveries == 2, what="both copies delivered")

    assert handled == Counter({event.timer_id: 1})
    cleared = await orders.find_one({"_id": "o-2"})
    assert cleared is not None
    assert cleared[OUTBOX] == []


# --- Records Kafka refuses for good are parked; transient failures are retried -----------------

OVER_THE_TOPIC_LIMIT = 5_000  # the broker refuses it (the topic's max.message.bytes)
OVER_THE_PRODUCER_LIMIT = 1_100_000  # the producer refuses it (its max_request_size, 1 MiB)


def record(topic: str, name: str, size: int = 0) -> OutgoingRecord:
    """A record of one restaurant (one key, one partition), padded to `size` bytes if given."""
    message = builders.cancel_timer(name, client_id="r-parking", correlation_id=f"turn-{name}")
    normal = OutgoingRecord.of(topic, message)
    if size <= len(normal.value):
        return normal
    return replace(normal, value=b'{"pad":"' + b"x" * size + b'"}')


def parked_count(collection: str, error_type: str) -> float:
    labels = {"collection": collection, "error_type": error_type}
    return REGISTRY.get_sample_value("outbox_records_parked_total", labels) or 0.0


async def put(
    collection: Collection, document_id: str, records: list[OutgoingRecord], now: datetime
) -> None:
    await collection.insert_one(with_outbox({"_id": document_id}, records, now))


async def stored(collection: Collection, document_id: str) -> Document:
    found = await collection.find_one({"_id": document_id})
    assert found is not None
    return found


class CountingSink:
    """Produces through `sink`, remembering the event ids it was asked to send."""

    def __init__(self, sink: BrokerSink) -> None:
        self.sink = sink
        self.tried: list[str] = []

    async def send(self, *records: OutgoingRecord) -> None:
        self.tried.extend(record.event_id for record in records)
        await self.sink.send(*records)


async def test_one_sweep_publishes_every_good_record_and_parks_those_kafka_refuses(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("orders.events")
    small = await small_records_topic(kafka_bootstrap)
    orders = database["orders"]
    oldest = datetime.now(UTC) - timedelta(minutes=5)
    refused = {
        "o-broker-refuses": record(small, "broker-refuses", OVER_THE_TOPIC_LIMIT),
        "o-producer-refuses": record(topic, "producer-refuses", OVER_THE_PRODUCER_LIMIT),
        "o-illegal-topic": record("orders events", "illegal-topic"),
    }
    # The refused ones sort first, as the stuck documents used to on every pass.
    for number, (document_id, bad) in enumerate(refused.items()):
        await put(orders, document_id, [bad], oldest + timedelta(seconds=number))
    good = {f"o-good-{n}": record(topic, f"good-{n}") for n in range(3)}
    for document_id, fine in good.items():
        await put(orders, document_id, [fine], oldest + timedelta(minutes=1))
    before, after = record(topic, "before"), record(topic, "after")
    mixed = [before, record(topic, "mixed-refused", OVER_THE_PRODUCER_LIMIT), after]
    await put(orders, "o-mixed", mixed, oldest + timedelta(minutes=1))
    size_errors = parked_count("orders", "MessageSizeTooLargeError")
    topic_errors = parked_count("orders", "InvalidTopicError")

    async with running_broker(kafka_bootstrap) as broker:
        sink = CountingSink(BrokerSink(broker))
        relay = OutboxRelay(sink, NO_GRACE)
        relay.attach(orders)
        assert await relay.sweep() == len(good) + 2

        sink.tried.clear()
        assert await relay.sweep() == 0
        assert sink.tried == []  # the parked ones are not tried again

        # A later save of a document with a parked record flows as usual.
        later = record(topic, "later")
        await orders.update_one({"_id": "o-mixed"}, outbox_update([later], datetime.now(UTC)))
        assert await relay.sweep() == 1

    for document_id, bad in [*refused.items(), ("o-mixed", mixed[1])]:
        document = await stored(orders, document_id)
        assert document[OUTBOX] == []
        assert PENDING_SINCE not in document
        [parked] = document[PARKED]
        assert parked["record"] == bad.to_document()
        assert parked["error"]
    errors = {
        document_id: (await stored(orders, document_id))[PARKED][0]["errorType"]
        for document_id in refused
    }
    assert errors == {
        "o-broker-refuses": "MessageSizeTooLargeError",
        "o-producer-refuses": "MessageSizeTooLargeError",
        "o-illegal-topic": "InvalidTopicError",
    }
    assert parked_count("orders", "MessageSizeTooLargeError") == size_errors + 3
    assert parked_count("orders", "InvalidTopicError") == topic_errors + 1

    on_topic = event_ids(await read_all(kafka_bootstrap, topic))
    wanted = [fine.event_id for fine in good.values()] + [before.event_id, after.event_id]
    assert sorted(set(on_topic)) == sorted([*wanted, later.event_id])
    # The mixed document's records keep their order around the parked one (one the producer
    # took before refusing the next may come twice: consumers are idempotent).
    of_mixed = [before.event_id, after.event_id, later.event_id]
    assert [event for event in dict.fromkeys(on_topic) if event in of_mixed] == of_mixed


async def test_after_the_broker_refuses_a_record_the_next_of_its_partition_is_published(
    kafka_bootstrap: str, database: Database
) -> None:
    # aiokafka's idempotent producer does not take back the sequence numbers of a batch the
    # broker refused (aio-libs/aiokafka#1017): the next record of that partition is refused as
    # out of sequence. That is no fault of the record: the sink sends it again through a new
    # producer, and nothing waits for a restart.
    small = await small_records_topic(kafka_bootstrap)
    orders = database["orders"]
    oldest = datetime.now(UTC) - timedelta(minutes=5)
    first, big, next_one = (
        record(small, "first"),
        record(small, "big", OVER_THE_TOPIC_LIMIT),
        record(small, "next"),
    )
    for number, (document_id, records) in enumerate(
        [("o-first", [first]), ("o-big", [big]), ("o-next", [next_one])]
    ):
        await put(orders, document_id, records, oldest + timedelta(seconds=number))

    async with running_broker(kafka_bootstrap) as broker:
        relay = OutboxRelay(BrokerSink(broker), NO_GRACE)
        relay.attach(orders)
        assert await relay.sweep() == 2
    assert [parked["record"] for parked in (await stored(orders, "o-big"))[PARKED]] == [
        big.to_document()
    ]
    published = await stored(orders, "o-next")
    assert published[OUTBOX] == []
    assert PARKED not in published
    assert event_ids(await read_all(kafka_bootstrap, small)) == [first.event_id, next_one.event_id]


async def test_publishing_after_a_save_parks_a_record_kafka_refuses_instead_of_raising(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("orders.events")
    orders = database["orders"]
    good, huge = record(topic, "good"), record(topic, "huge", OVER_THE_PRODUCER_LIMIT)
    await put(orders, "o-1", [huge, good], datetime.now(UTC))

    async with running_broker(kafka_bootstrap) as broker:
        relay = OutboxRelay(BrokerSink(broker), NO_GRACE)
        assert await relay.attach(orders).publish("o-1") == 1

    document = await stored(orders, "o-1")
    assert document[OUTBOX] == []
    assert [parked["record"] for parked in document[PARKED]] == [huge.to_document()]
    assert event_ids(await read_all(kafka_bootstrap, topic)) == [good.event_id]


class UnreachableFor:
    """Records, except those for `topics`, which fail as if the broker could not be reached."""

    def __init__(self, *topics: str) -> None:
        self.down = set(topics)
        self.sent = RecordingSink()

    async def send(self, *records: OutgoingRecord) -> None:
        if any(record.topic in self.down for record in records):
            raise KafkaConnectionError("no broker reachable")
        await self.sent.send(*records)


async def test_a_transient_failure_parks_nothing_and_is_tried_again(database: Database) -> None:
    orders = database["orders"]
    saved = datetime.now(UTC) - timedelta(minutes=1)
    waiting = record("orders.events", "waiting")
    await put(orders, "o-1", [waiting], saved)
    sink = UnreachableFor("orders.events")
    relay = OutboxRelay(sink, NO_GRACE)
    outbox = relay.attach(orders)

    with pytest.raises(KafkaConnectionError):
        await outbox.publish("o-1")  # the fast path raises and leaves it to the sweep
    await relay.sweep()  # logs it and goes on
    document = await stored(orders, "o-1")
    assert document[OUTBOX] == [waiting.to_document()]
    assert PARKED not in document

    sink.down.clear()
    assert await relay.sweep() == 1
    assert sink.sent.records == [waiting]
    assert PENDING_SINCE not in await stored(orders, "o-1")


async def test_a_document_that_keeps_failing_goes_behind_the_others(database: Database) -> None:
    orders = database["orders"]
    oldest = datetime.now(UTC) - timedelta(minutes=5)
    stuck = record("pos.client-1.store-1.orders", "stuck")
    await put(orders, "o-stuck", [stuck], oldest)
    others = [record("orders.events", f"other-{n}") for n in range(3)]
    for number, other in enumerate(others):
        await put(orders, f"o-{number}", [other], oldest + timedelta(seconds=1 + number))
    sink = UnreachableFor(stuck.topic)
    relay = OutboxRelay(sink, OutboxSettings(sweep_grace_s=0, batch_size=1))
    relay.attach(orders)

    for _ in [stuck, *others]:
        await relay.sweep()  # one document each: the stuck one first, then behind the others
    assert sink.sent.records == others
    assert (await stored(orders, "o-stuck"))[OUTBOX] == [stuck.to_document()]


async def test_a_sweep_ends_when_documents_fail_in_a_row(database: Database) -> None:
    orders = database["orders"]
    oldest = datetime.now(UTC) - timedelta(minutes=5)
    for number in range(SWEEP_FAILURES_IN_A_ROW + 1):
        await put(orders, f"o-{number}", [record("orders.events", f"e-{number}")], oldest)
    sink = UnreachableFor("orders.events")
    relay = OutboxRelay(sink, NO_GRACE)
    relay.attach(orders)

    with pytest.raises(KafkaConnectionError):
        await relay.sweep()
    tried_again_later = await orders.count_documents({PENDING_SINCE: {"$gt": oldest}})
    assert tried_again_later == SWEEP_FAILURES_IN_A_ROW


def event_ids(records: list[Record]) -> list[str]:
    return [dict(record.headers)[HEADER_EVENT_ID].decode() for record in records]


async def test_relayed_records_carry_the_trace_of_the_handling_that_wrote_them_not_the_relays(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("orders.events")
    orders = database["orders"]
    handling_trace, relay_trace = (
        0xA1A1A1A1A1A1A1A1A1A1A1A1A1A1A1A1,
        0xB2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2,
    )
    with sender_span(handling_trace):
        records = [OutgoingRecord.of(topic, cancel_timer("r-trace", n)) for n in (1, 2)]
    await orders.insert_one(with_outbox({"_id": "o-trace"}, records, datetime.now(UTC)))

    async with running_broker(kafka_bootstrap) as broker:
        relay = OutboxRelay(BrokerSink(broker), NO_GRACE)
        relay.attach(orders)
        with sender_span(relay_trace):
            assert await relay.sweep() == 2

    relayed = await read_until(kafka_bootstrap, topic, at_least(2))
    assert [traced(headers_of(record)).trace_id for record in relayed] == [handling_trace] * 2


# --- Round trips: a publish takes the outbox its write returned ---------------------------------


def commands(collection: str) -> Counter[str]:
    """The commands the timed clients sent to `collection` so far, by name."""
    names = ("insert", "find", "findAndModify", "update")
    return Counter({name: int(calls(name, collection, "ok")) for name in names})


async def test_a_publish_after_a_write_through_the_outbox_reads_nothing_back(
    mongodb_uri: str, database: Database
) -> None:
    name = f"orders_{uuid.uuid4().hex[:8]}"
    client = connect(MongoSettings(uri=mongodb_uri), app_name="outbox-round-trips")
    orders = client[database.name][name]
    placed, confirmed, paid = (
        record("orders.events", step) for step in ("placed", "confirmed", "paid")
    )
    sink = RecordingSink()
    relay = OutboxRelay(sink, NO_GRACE)
    outbox = relay.attach(orders)
    now = datetime.now(UTC)
    try:
        await outbox.insert(with_outbox({"_id": "o-1", "version": 1}, [placed], now))
        assert await outbox.publish("o-1") == 1
        confirm = merge_updates({"$inc": {"version": 1}}, outbox_update([confirmed], now))
        assert await outbox.update({"_id": "o-1", "version": 1}, confirm)
        assert await outbox.publish("o-1") == 1  # the confirmation only: placed was produced
        assert not await outbox.update({"_id": "o-1", "version": 1}, confirm)  # a stale version
        written_through_the_outbox = commands(name)
        assert await relay.clear_published() == 1
        cleared = commands(name) - written_through_the_outbox

        # A write the relay was not told of (another process's) costs the publish a read.
        await orders.update_one({"_id": "o-1"}, outbox_update([paid], now))
        assert await outbox.publish("o-1") == 1
        assert await relay.clear_published() == 1
        after_a_write_elsewhere = commands(name) - written_through_the_outbox - cleared
        document = await stored(orders, "o-1")
    finally:
        await client.close()

    assert written_through_the_outbox == Counter({"insert": 1, "findAndModify": 2})
    assert cleared == Counter({"update": 1})  # both publishes' records, one write
    assert after_a_write_elsewhere == Counter({"update": 2, "find": 1})
    assert sink.records == [placed, confirmed, paid]
    assert document[OUTBOX] == []
    assert PENDING_SINCE not in document
    assert document["version"] == 2


async def test_writes_before_their_publishes_are_published_once_and_in_order(
    database: Database,
) -> None:
    orders = database["orders"]
    first, second = record("orders.events", "first"), record("orders.events", "second")
    sink = RecordingSink()
    relay = OutboxRelay(sink, NO_GRACE)
    outbox = relay.attach(orders)
    now = datetime.now(UTC)

    await outbox.insert(with_outbox({"_id": "o-1"}, [first], now))
    assert await outbox.update({"_id": "o-1"}, outbox_update([second], now))
    assert await outbox.publish("o-1") == 2  # the second write's outbox holds both
    assert await outbox.publish("o-1") == 0
    assert await relay.clear_published() == 1

    assert sink.records == [first, second]
    assert (await stored(orders, "o-1"))[OUTBOX] == []


# --- Published records are removed later, many documents in one write --------------------------


async def test_the_records_of_many_documents_are_removed_in_one_write(
    mongodb_uri: str, database: Database
) -> None:
    name = f"orders_{uuid.uuid4().hex[:8]}"
    client = connect(MongoSettings(uri=mongodb_uri), app_name="outbox-clearing")
    orders = client[database.name][name]
    relay = OutboxRelay(RecordingSink(), NO_GRACE)
    outbox = relay.attach(orders)
    now = datetime.now(UTC)
    try:
        for n in range(5):
            await outbox.insert(with_outbox({"_id": f"o-{n}"}, [record("t", f"e{n}")], now))
            assert await outbox.publish(f"o-{n}") == 1
        assert (await stored(orders, "o-0"))[OUTBOX] != []  # not removed yet
        published = commands(name)
        assert await relay.clear_published() == 5
        removal = commands(name) - published
        documents = [await stored(orders, f"o-{n}") for n in range(5)]
    finally:
        await client.close()

    assert removal == Counter({"update": 1})
    assert all(document[OUTBOX] == [] for document in documents)
    assert all(PENDING_SINCE not in document for document in documents)


async def test_a_clearing_of_many_documents_writes_a_bounded_batch_at_a_time(
    mongodb_uri: str, database: Database
) -> None:
    name = f"orders_{uuid.uuid4().hex[:8]}"
    client = connect(MongoSettings(uri=mongodb_uri), app_name="outbox-clearing-batches")
    orders = client[database.name][name]
    relay = OutboxRelay(RecordingSink(), NO_GRACE)
    relay.attach(orders)
    many = 2 * CLEARED_PER_WRITE + 3
    now = datetime.now(UTC)
    try:
        await orders.insert_many(
            [with_outbox({"_id": f"o-{n}"}, [record("t", f"e{n}")], now) for n in range(many)]
        )
        assert await relay.sweep() == many  # a crash's leftovers, cleared at the sweep's end
        removal = commands(name)["update"]
        left = await orders.count_documents({PENDING_SINCE: {"$exists": True}})
    finally:
        await client.close()

    assert removal == 3
    assert left == 0


async def test_a_document_written_again_keeps_its_new_records_until_they_are_published(
    database: Database,
) -> None:
    orders = database["orders"]
    first, second = record("orders.events", "first"), record("orders.events", "second")
    sink = RecordingSink()
    relay = OutboxRelay(sink, NO_GRACE)
    outbox = relay.attach(orders)
    now = datetime.now(UTC)

    await outbox.insert(with_outbox({"_id": "o-1"}, [first], now))
    assert await outbox.publish("o-1") == 1
    assert await outbox.update({"_id": "o-1"}, outbox_update([second], now))
    assert await relay.clear_published() == 0  # its publish comes first
    assert [entry["eventId"] for entry in (await stored(orders, "o-1"))[OUTBOX]] == [
        first.event_id,
        second.event_id,
    ]
    assert await outbox.publish("o-1") == 1
    assert await relay.clear_published() == 1

    assert sink.records == [first, second]
    assert (await stored(orders, "o-1"))[OUTBOX] == []


async def test_a_record_another_process_added_meanwhile_stays_for_its_publish(
    database: Database,
) -> None:
    orders = database["orders"]
    ours, theirs = record("orders.events", "ours"), record("orders.events", "theirs")
    relay = OutboxRelay(RecordingSink(), NO_GRACE)
    outbox = relay.attach(orders)
    now = datetime.now(UTC)
    for document_id in ("o-1", "o-2"):
        await outbox.insert(with_outbox({"_id": document_id}, [ours], now))
        assert await outbox.publish(document_id) == 1
    await orders.update_one({"_id": "o-2"}, outbox_update([theirs], now))  # another process

    assert await relay.clear_published() == 2

    assert (await stored(orders, "o-1"))[OUTBOX] == []
    left = await stored(orders, "o-2")
    assert [entry["eventId"] for entry in left[OUTBOX]] == [theirs.event_id]
    assert PENDING_SINCE in left  # the sweep's to take


async def test_the_relay_removes_what_it_published_by_itself_and_at_stop(
    database: Database,
) -> None:
    orders = database["orders"]
    relay = OutboxRelay(RecordingSink(), OutboxSettings(sweep_interval_s=60))
    outbox = relay.attach(orders)
    now = datetime.now(UTC)
    running = asyncio.create_task(relay.run())
    try:
        await outbox.insert(with_outbox({"_id": "o-1"}, [record("t", "running")], now))
        assert await outbox.publish("o-1") == 1

        async def removed() -> bool:
            return not (await stored(orders, "o-1"))[OUTBOX]

        await eventually(removed, what="the running relay removed the published record")
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    await outbox.insert(with_outbox({"_id": "o-2"}, [record("t", "stopping")], now))
    assert await outbox.publish("o-2") == 1
    await relay.stop()
    assert (await stored(orders, "o-2"))[OUTBOX] == []


async def test_a_sweep_reads_the_outbox_instead_of_what_this_process_wrote(
    database: Database,
) -> None:
    orders = database["orders"]
    ours, theirs = record("orders.events", "ours"), record("orders.events", "theirs")
    sink = RecordingSink()
    relay = OutboxRelay(sink, NO_GRACE)
    outbox = relay.attach(orders)
    now = datetime.now(UTC)

    await outbox.insert(with_outbox({"_id": "o-1"}, [ours], now))
    await orders.update_one({"_id": "o-1"}, outbox_update([theirs], now))  # another process
    assert await relay.sweep() == 2
    assert await outbox.publish("o-1") == 0  # the sweep took them: nothing produced twice

    assert sink.records == [ours, theirs]
