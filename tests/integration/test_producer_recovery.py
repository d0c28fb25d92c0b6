"""A record the broker refuses must not break the services' producer for the records after it.

aiokafka's idempotent producer numbers each partition's batches before it sends them; a batch the
broker refuses (too large for its topic) keeps its number, the broker does not, and every later
batch to that partition is refused as out of order until the producer is replaced."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from shared.broker import BrokerSink
from shared.records import OutgoingRecord
from tests.integration.kafka_helpers import (
    TOPIC_MAX_BYTES,
    at_least,
    read_until,
    running_broker,
    small_records_topic,
)


def record(topic: str, value: bytes) -> OutgoingRecord:
    return OutgoingRecord(topic=topic, key=b"store-1", value=value, headers={}, event_id="e")


async def test_records_after_one_the_broker_refused_are_produced(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = await small_records_topic(kafka_bootstrap)
    async with running_broker(kafka_bootstrap) as broker:
        sink = BrokerSink(broker)
        await sink.send(record(topic, b"first"))
        # Within the producer's own limit (1 MB), over the topic's: the broker refuses it.
        with pytest.raises(MessageSizeTooLargeError):
            await sink.send(record(topic, b"x" * (TOPIC_MAX_BYTES * 2)))

        with caplog.at_level(logging.WARNING, logger="shared.broker"):
            await sink.send(record(topic, b"second"))
            await sink.send(record(topic, b"third"), record(topic, b"fourth"))

    produced = await read_until(kafka_bootstrap, topic, at_least(4))
    assert [item.value for item in produced] == [b"first", b"second", b"third", b"fourth"]
    replaced = [line for line in caplog.messages if "replacing the producer" in line]
    assert len(replaced) == 1, "replaced once, for the record that found it out of step"
