"""The embedded outbox on the MongoDB-protocol server through motor, relayed to the real broker."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from shared.broker import BrokerSink
from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.mongo import Database
from shared.outbox import (
    OUTBOX,
    OUTBOX_INDEX,
    PENDING_SINCE,
    OutboxRelay,
    merge_updates,
    outbox_update,
    with_outbox,
)
from shared.records import OutgoingRecord
from shared.settings import ConsumerSettings, OutboxSettings
from tests.conftest import NewTopics
from tests.integration.kafka_helpers import (
    CountingProcessedEvents,
    at_least,
    read_until,
    running_broker,
)
from tests.integration.test_kafka_keys import cancel_timer
from tests.waiting import eventually

pytestmark = pytest.mark.integration

NO_GRACE = OutboxSettings(sweep_grace_s=0, sweep_interval_s=0.1)


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
