"""The idempotent consumer on the real broker: duplicates once, poison to the DLQ, no blocking."""

from __future__ import annotations

from collections import Counter

import pytest
from faststream.kafka import KafkaBroker

from shared.broker import BrokerSink
from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.mongo import Database
from shared.processed_events import MongoProcessedEvents, ProcessedEvents
from shared.records import (
    HEADER_CONSUMER,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_ORIGINAL_TOPIC,
    OutgoingRecord,
)
from shared.settings import ConsumerSettings
from shared.topics import dlq_topic
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


class Bug(Exception):
    pass


def recording_consumer(
    broker: KafkaBroker,
    processed: ProcessedEvents,
    topic: str,
    handled: Counter[str],
    fails_on: str = "",
) -> None:
    attempts: Counter[str] = Counter()

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        attempts[message.timer_id] += 1
        if message.timer_id == fails_on:
            raise Bug(f"handler bug on attempt {attempts[message.timer_id]}")
        handled[message.timer_id] += 1

    subscription = Subscription(
        f"test-consumer-{topic}",
        lambda value: decode_as(value, CancelTimer),
        handler,
        topics=(topic,),
    )
    consumer = IdempotentConsumer(
        subscription,
        processed=processed,
        dead_letters=BrokerSink(broker),
        settings=ConsumerSettings(attempts=3),
    )
    subscribe(broker, consumer)


async def test_a_redelivered_event_is_handled_once(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("scheduler.commands")
    first, second = cancel_timer("r1", 1), cancel_timer("r1", 2)
    handled: Counter[str] = Counter()
    processed = CountingProcessedEvents(database)

    async with running_broker(
        kafka_bootstrap, lambda b: recording_consumer(b, processed, topic, handled)
    ) as broker:
        sink = BrokerSink(broker)
        for message in (first, first, second, first):
            await sink.send(OutgoingRecord.of(topic, message))
        await eventually(lambda: processed.deliveries == 4, what="all four deliveries seen")

    assert handled == Counter({"r1:1": 1, "r1:2": 1})


async def test_poison_messages_go_to_the_dlq_and_consumption_goes_on(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("scheduler.commands")
    good_before, failing, good_after = (
        cancel_timer("r2", 1),
        cancel_timer("r2", 2),
        cancel_timer("r2", 3),
    )
    unknown_type = OutgoingRecord.of(topic, good_before)
    unknown_type = OutgoingRecord(
        topic=topic,
        key=b"r2",
        value=unknown_type.value.replace(b'"CancelTimer"', b'"TeleportOrder"'),
        headers={},
        event_id="",
    )
    not_json = OutgoingRecord(topic=topic, key=b"r2", value=b"{not json", headers={}, event_id="")
    handled: Counter[str] = Counter()

    async with running_broker(
        kafka_bootstrap,
        lambda b: recording_consumer(
            b, MongoProcessedEvents(database), topic, handled, fails_on="r2:2"
        ),
    ) as broker:
        sink = BrokerSink(broker)
        await sink.send(OutgoingRecord.of(topic, good_before))
        await sink.send(not_json)
        await sink.send(unknown_type)
        await sink.send(OutgoingRecord.of(topic, failing))
        await sink.send(OutgoingRecord.of(topic, good_after))
        await eventually(lambda: handled["r2:3"] == 1, what="the message after the poison handled")

    assert handled == Counter({"r2:1": 1, "r2:3": 1})
    dead = await read_until(kafka_bootstrap, dlq_topic(topic), at_least(3))
    assert [record.value for record in dead] == [
        not_json.value,
        unknown_type.value,
        OutgoingRecord.of(topic, failing).value,
    ]
    errors = [{k: v.decode() for k, v in record.headers} for record in dead]
    assert errors[0][HEADER_ERROR_TYPE] == "ContractError"
    assert "TeleportOrder" in errors[1][HEADER_ERROR]
    assert errors[2][HEADER_ERROR] == "Bug: handler bug on attempt 3"
    assert all(
        e[HEADER_ORIGINAL_TOPIC] == topic and e[HEADER_CONSUMER] == f"test-consumer-{topic}"
        for e in errors
    )
    assert all(record.key == b"r2" for record in dead)
