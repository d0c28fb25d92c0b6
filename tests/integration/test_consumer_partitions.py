"""One subscription's workers on the real broker: partitions at once, each in order, offsets
committed after handling, and a second instance joining and leaving while messages flow."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import pytest
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from shared.broker import BrokerSink
from shared.consumer import Handler, IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.mongo import Database
from shared.processed_events import InMemoryProcessedEvents, MongoProcessedEvents, ProcessedEvents
from shared.records import OutgoingRecord
from shared.settings import ConsumerSettings
from tests.conftest import NewTopics
from tests.integration.kafka_helpers import running_broker
from tests.integration.test_kafka_keys import cancel_timer
from tests.waiting import eventually

pytestmark = pytest.mark.integration

WORKERS = 3
RENDEZVOUS_S = 15.0
"""How long the first message of one partition waits for another partition's to start."""


class Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """The partitions an instance's workers hold, together."""

    def __init__(self) -> None:
        self.held: set[int] = set()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.held -= {tp.partition for tp in revoked}

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.held |= {tp.partition for tp in assigned}


def consuming(
    topic: str,
    handler: Handler[CancelTimer],
    processed: ProcessedEvents,
    *,
    workers: int = WORKERS,
    listener: ConsumerRebalanceListener | None = None,
) -> Callable[[KafkaBroker], None]:
    """What `running_broker` sets up: `handler` on `topic` as the services subscribe."""

    def setup(broker: KafkaBroker) -> None:
        subscription = Subscription(
            f"test-partitions-{topic}",
            lambda value: decode_as(value, CancelTimer),
            handler,
            topics=(topic,),
            listener=listener,
        )
        settings = ConsumerSettings(attempts=2, transient_max_elapsed_s=1, workers=workers)
        consumer = IdempotentConsumer(
            subscription, processed=processed, dead_letters=BrokerSink(broker), settings=settings
        )
        subscribe(broker, consumer)

    return setup


async def send(broker: KafkaBroker, topic: str, partition: int, message: CancelTimer) -> None:
    """Sends `message` to one partition, whatever its key."""
    record = OutgoingRecord.of(topic, message)
    await broker.publish(
        record.value, topic, key=record.key, partition=partition, headers=record.headers
    )


async def settled(bootstrap: str, group: str, members: int) -> None:
    """Waits until the group is stable with `members` members (the workers all joined)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:

        async def stable() -> bool:
            [response] = await admin.describe_consumer_groups([group])
            _, _, state, _, _, found = response.groups[0][:6]
            return bool(state == "Stable" and len(found) == members)

        await eventually(stable, what=f"group {group} stable with {members} members")
    finally:
        await admin.close()


def sequence_of(message: CancelTimer) -> int:
    return int(message.timer_id.rsplit(":", 1)[1])


async def test_partitions_are_handled_at_once_and_each_in_order(
    kafka_bootstrap: str, new_topics: NewTopics
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=3)
    per_partition = 5
    met = asyncio.Barrier(2)
    rendezvous: list[bool] = []
    handled: dict[int, list[int]] = defaultdict(list)

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        partition, sequence = received.partition, sequence_of(message)
        if sequence == 0 and partition in (0, 1):
            # Each of the two waits for the other to start: only possible if both run at once.
            try:
                async with asyncio.timeout(RENDEZVOUS_S):
                    await met.wait()
                rendezvous.append(True)
            except TimeoutError:
                rendezvous.append(False)
        handled[partition].append(sequence)

    async with running_broker(
        kafka_bootstrap, consuming(topic, handler, InMemoryProcessedEvents())
    ) as b:
        await settled(kafka_bootstrap, f"test-partitions-{topic}", WORKERS)
        for sequence in range(per_partition):
            for partition in range(3):
                await send(b, topic, partition, cancel_timer(f"p{partition}", sequence))
        await eventually(
            lambda: sum(map(len, handled.values())) == 3 * per_partition,
            timeout=3 * RENDEZVOUS_S,
            what="every message handled",
        )

    assert rendezvous == [True, True]
    assert handled == {partition: list(range(per_partition)) for partition in range(3)}


async def test_a_message_cut_short_comes_again_and_the_handled_ones_do_not(
    kafka_bootstrap: str, new_topics: NewTopics
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=3)
    stuck, never = asyncio.Event(), asyncio.Event()
    first: list[str] = []

    async def stops_at_the_third(message: CancelTimer, received: ReceivedRecord) -> None:
        if message.timer_id == "p0:2":
            stuck.set()
            await never.wait()  # the instance stops while this handler is running
        first.append(message.timer_id)

    async with running_broker(
        kafka_bootstrap, consuming(topic, stops_at_the_third, InMemoryProcessedEvents())
    ) as broker:
        for sequence in range(4):
            await send(broker, topic, 0, cancel_timer("p0", sequence))
        for sequence in range(2):
            await send(broker, topic, 1, cancel_timer("p1", sequence))
        await eventually(
            lambda: stuck.is_set() and "p1:1" in first, what="p0:2 in hand, p1 all handled"
        )
    assert sorted(first) == ["p0:0", "p0:1", "p1:0", "p1:1"]

    # Another instance of the same group, with no memory of what was handled: only what the
    # first did not finish may come to it.
    then: list[str] = []

    async def records(message: CancelTimer, received: ReceivedRecord) -> None:
        then.append(message.timer_id)

    async with running_broker(
        kafka_bootstrap, consuming(topic, records, InMemoryProcessedEvents())
    ) as broker:
        await send(broker, topic, 1, cancel_timer("p1", 2))
        await eventually(lambda: {"p0:3", "p1:2"} <= set(then), what="the rest handled")

    assert [t for t in then if t.startswith("p0")] == ["p0:2", "p0:3"]
    assert [t for t in then if t.startswith("p1")] == ["p1:2"]


async def test_an_instance_joining_and_leaving_while_messages_flow_skips_and_repeats_nothing(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=6)
    keys, per_step = [f"r{n}" for n in range(12)], 5
    handled: dict[str, list[int]] = defaultdict(list)
    processed = MongoProcessedEvents(database)  # shared by both, as by a service's replicas
    sent = 0

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        key, sequence = message.timer_id.rsplit(":", 1)
        handled[key].append(int(sequence))

    async def flow(broker: KafkaBroker) -> None:
        """Sends the next `per_step` messages of every key (keyed: each key one partition)."""
        nonlocal sent
        sink = BrokerSink(broker)
        for _ in range(per_step):
            await sink.send(*(OutgoingRecord.of(topic, cancel_timer(k, sent)) for k in keys))
            sent += 1

    def all_handled() -> bool:
        return all(len(handled[key]) >= sent for key in keys)

    joined = Assignments()
    async with running_broker(kafka_bootstrap, consuming(topic, handler, processed)) as first:
        await flow(first)
        async with running_broker(
            kafka_bootstrap, consuming(topic, handler, processed, listener=joined)
        ) as second:
            await flow(first)
            await eventually(lambda: bool(joined.held), what="the second instance given partitions")
            await flow(second)
            await eventually(all_handled, what="everything sent so far handled")
        await flow(first)
        await eventually(all_handled, what="everything handled after the second left")

    assert {key: handled[key] for key in keys} == {key: list(range(sent)) for key in keys}
