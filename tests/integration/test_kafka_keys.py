"""Events keyed by restaurant land on one partition per restaurant and come back in order."""

from __future__ import annotations

from collections import defaultdict

import pytest

from shared.broker import BrokerSink
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.records import HEADER_CORRELATION_ID, HEADER_EVENT_ID, HEADER_EVENT_TYPE, OutgoingRecord
from tests import builders
from tests.conftest import NewTopics
from tests.integration.kafka_helpers import at_least, read_until, running_broker

pytestmark = pytest.mark.integration

RESTAURANTS = [f"restaurant-{n}" for n in range(8)]
EVENTS_PER_RESTAURANT = 10


def cancel_timer(client_id: str, sequence: int) -> CancelTimer:
    return builders.cancel_timer(
        f"{client_id}:{sequence}", client_id=client_id, correlation_id=f"turn-{client_id}"
    )


@pytest.mark.parametrize("batched", [False, True], ids=["one_by_one", "one_batch"])
async def test_events_of_one_restaurant_share_a_partition_and_keep_their_order(
    kafka_bootstrap: str, new_topics: NewTopics, batched: bool
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=6)
    sent = [cancel_timer(client, n) for n in range(EVENTS_PER_RESTAURANT) for client in RESTAURANTS]
    records = [OutgoingRecord.of(topic, message) for message in sent]

    async with running_broker(kafka_bootstrap) as broker:
        sink = BrokerSink(broker)
        if batched:
            # One call: every record handed to the producer before any acknowledgement.
            await sink.send(*records)
        else:
            for record in records:
                await sink.send(record)

    received = await read_until(kafka_bootstrap, topic, at_least(len(sent)))
    partitions_of: dict[str, set[int]] = defaultdict(set)
    received_in_order: dict[str, list[str]] = defaultdict(list)
    for record in sorted(received, key=lambda r: (r.partition, r.offset)):
        message = decode_as(record.value, CancelTimer)
        assert record.key == message.client_id.encode()
        partitions_of[message.client_id].add(record.partition)
        received_in_order[message.client_id].append(message.timer_id)

    assert all(len(partitions) == 1 for partitions in partitions_of.values()), partitions_of
    assert len({p for ps in partitions_of.values() for p in ps}) > 1, (
        "keys should spread restaurants"
    )
    for client in RESTAURANTS:
        assert received_in_order[client] == [f"{client}:{n}" for n in range(EVENTS_PER_RESTAURANT)]


async def test_metadata_travels_in_headers(kafka_bootstrap: str, new_topics: NewTopics) -> None:
    [topic] = await new_topics("scheduler.commands")
    message = cancel_timer("restaurant-h", 1)

    async with running_broker(kafka_bootstrap) as broker:
        await BrokerSink(broker).send(OutgoingRecord.of(topic, message))

    [record] = await read_until(kafka_bootstrap, topic, at_least(1))
    headers = {name: value.decode() for name, value in record.headers}
    assert headers[HEADER_EVENT_TYPE] == "CancelTimer"
    assert headers[HEADER_EVENT_ID] == str(message.event_id)
    assert headers["event-version"] == "1"
    assert headers[HEADER_CORRELATION_ID] == "turn-restaurant-h"
    assert decode_as(record.value, CancelTimer) == message
