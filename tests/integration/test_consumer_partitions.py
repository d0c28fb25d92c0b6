"""One subscription's workers on the real broker: partitions at once, each in order, offsets
committed after handling, and a second instance joining and leaving while messages flow."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from pymongo.errors import ConnectionFailure

from shared.broker import BrokerSink
from shared.consumer import Handler, IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.mongo import Database
from shared.offsets import COMMIT_EVERY, HandledOffsets, commit_all
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
    offsets: list[HandledOffsets] | None = None,
) -> Callable[[KafkaBroker], None]:
    """What `running_broker` sets up: `handler` on `topic` as the services subscribe (its
    workers' offsets added to `offsets`)."""

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
        (offsets if offsets is not None else []).extend(subscribe(broker, consumer))

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
    ) as broker:
        await settled(kafka_bootstrap, f"test-partitions-{topic}", WORKERS)
        for sequence in range(per_partition):
            for partition in range(3):
                await send(broker, topic, partition, cancel_timer(f"p{partition}", sequence))
        await eventually(
            lambda: sum(map(len, handled.values())) == 3 * per_partition,
            timeout=3 * RENDEZVOUS_S,
            what="every message handled",
        )

    assert rendezvous == [True, True]
    assert handled == {partition: list(range(per_partition)) for partition in range(3)}


async def test_a_message_cut_short_comes_again_and_the_handled_ones_take_no_effect_twice(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=3)
    processed = MongoProcessedEvents(database)  # survives the instance, as a service's does
    stuck, never = asyncio.Event(), asyncio.Event()
    first: list[str] = []

    async def stops_at_the_third(message: CancelTimer, received: ReceivedRecord) -> None:
        if message.timer_id == "p0:2":
            stuck.set()
            await never.wait()  # the instance stops while this handler is running
        first.append(message.timer_id)

    async with running_broker(
        kafka_bootstrap, consuming(topic, stops_at_the_third, processed)
    ) as broker:
        for sequence in range(4):
            await send(broker, topic, 0, cancel_timer("p0", sequence))
        for sequence in range(2):
            await send(broker, topic, 1, cancel_timer("p1", sequence))
        await eventually(
            lambda: stuck.is_set() and "p1:1" in first, what="p0:2 in hand, p1 all handled"
        )
    assert sorted(first) == ["p0:0", "p0:1", "p1:0", "p1:1"]

    then: list[str] = []

    async def records(message: CancelTimer, received: ReceivedRecord) -> None:
        then.append(message.timer_id)

    async with running_broker(kafka_bootstrap, consuming(topic, records, processed)) as broker:
        await send(broker, topic, 1, cancel_timer("p1", 2))
        await eventually(lambda: {"p0:3", "p1:2"} <= set(then), what="the rest handled")

    assert sorted(then) == ["p0:2", "p0:3", "p1:2"]


async def test_a_message_whose_database_is_away_comes_again_before_the_next(
    kafka_bootstrap: str, new_topics: NewTopics
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=3)
    tries: Counter[str] = Counter()
    handled: list[str] = []

    async def away_for_a_while(message: CancelTimer, received: ReceivedRecord) -> None:
        tries[message.timer_id] += 1
        if message.timer_id == "p0:1" and tries["p0:1"] < 5:  # more than one delivery's retries
            raise ConnectionFailure("the database is away")
        handled.append(message.timer_id)

    async with running_broker(
        kafka_bootstrap, consuming(topic, away_for_a_while, InMemoryProcessedEvents())
    ) as broker:
        for sequence in range(3):
            await send(broker, topic, 0, cancel_timer("p0", sequence))
        await eventually(lambda: "p0:2" in handled, what="the partition handled to its end")

    assert handled == ["p0:0", "p0:1", "p0:2"]
    assert tries["p0:1"] == 5


def commits_made(monkeypatch: pytest.MonkeyPatch) -> list[dict[TopicPartition, int]]:
    """The offsets of every commit made from now on, in order."""
    commits: list[dict[TopicPartition, int]] = []
    commit = AIOKafkaConsumer.commit

    async def counted(consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        commits.append(offsets)
        await commit(consumer, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    return commits


async def test_a_backlog_is_committed_in_a_few_commits_and_its_end_at_once(
    kafka_bootstrap: str, new_topics: NewTopics, monkeypatch: pytest.MonkeyPatch
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=1)
    backlog = 3 * COMMIT_EVERY
    commits = commits_made(monkeypatch)
    handled: list[int] = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        handled.append(sequence_of(message))

    group = f"test-partitions-{topic}"
    async with running_broker(kafka_bootstrap) as producer:
        await BrokerSink(producer).send(
            *(OutgoingRecord.of(topic, cancel_timer("r", n)) for n in range(backlog))
        )
    async with running_broker(
        kafka_bootstrap, consuming(topic, handler, InMemoryProcessedEvents(), workers=1)
    ):
        await eventually(lambda: len(handled) == backlog, what="the backlog handled")
        await eventually(
            lambda: committed(kafka_bootstrap, group, topic, backlog), what="its end committed"
        )

    assert handled == list(range(backlog))
    assert 3 <= len(commits) <= 5  # one per message was 150


async def test_a_caught_up_worker_leaves_its_commit_for_later_and_makes_it_at_stop(
    kafka_bootstrap: str, new_topics: NewTopics, monkeypatch: pytest.MonkeyPatch
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=1)
    monkeypatch.setattr("shared.offsets.COMMIT_INTERVAL_S", 3600.0)  # later: after the stop
    commits = commits_made(monkeypatch)
    handled: list[int] = []

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        handled.append(sequence_of(message))

    workers: list[HandledOffsets] = []
    group, sent = f"test-partitions-{topic}", 5
    async with running_broker(
        kafka_bootstrap,
        consuming(topic, handler, InMemoryProcessedEvents(), workers=1, offsets=workers),
    ) as broker:
        await settled(kafka_bootstrap, group, 1)
        for sequence in range(sent):  # one at a time: the partition caught up after each
            await send(broker, topic, 0, cancel_timer("r", sequence))
            await eventually(
                functools.partial(handled.__contains__, sequence), what="handled", timeout=60
            )
        assert len(commits) < sent  # one per message was five (a rebalance commits, if any)
        await commit_all(workers)
        assert commits[-1] == {TopicPartition(topic, 0): sent}
    assert await committed(kafka_bootstrap, group, topic, sent)


async def committed(bootstrap: str, group: str, topic: str, offset: int) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    position = found.get(TopicPartition(topic, 0))
    return position is not None and position.offset == offset


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
