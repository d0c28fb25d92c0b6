"""Reading topics back in tests: consume until a condition holds or a deadline passes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from shared.broker import build_broker
from shared.processed_events import MongoProcessedEvents
from shared.settings import KafkaSettings

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@asynccontextmanager
async def reader(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer of `topic` from its beginning, stopped afterwards."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    *,
    timeout: float = 20.0,
) -> list[Record]:
    """Reads `topic` from the beginning until `done(records)`; fails loudly at the deadline."""
    records: list[Record] = []
    try:
        async with reader(bootstrap, topic) as consumer, asyncio.timeout(timeout):
            while not done(records):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    except TimeoutError:
        raise AssertionError(
            f"condition on {topic} not met within {timeout}s; read {len(records)} record(s)"
        ) from None
    return records


def headers_of(record: Record) -> dict[str, str]:
    return {name: (value or b"").decode(errors="replace") for name, value in record.headers}


def at_least(count: int) -> Callable[[list[Record]], bool]:
    return lambda records: len(records) >= count


@asynccontextmanager
async def running_broker(
    bootstrap: str, setup: Callable[[KafkaBroker], None] = lambda broker: None
) -> AsyncIterator[KafkaBroker]:
    """A FastStream broker built by the services' own factory, `setup` run on it, then started."""
    broker = build_broker(KafkaSettings(bootstrap_servers=bootstrap), client_id="tests")
    setup(broker)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


class CountingProcessedEvents(MongoProcessedEvents):
    """The real store, counting the deliveries that reached the duplicate check."""

    deliveries = 0

    async def contains(self, consumer: str, event_id: str) -> bool:
        self.deliveries += 1
        return await super().contains(consumer, event_id)


async def read_all(bootstrap: str, topic: str, timeout: float = 20.0) -> list[Record]:
    """Every record `topic` holds now: reads until each partition's end offset."""
    records: list[Record] = []
    async with reader(bootstrap, topic) as consumer, asyncio.timeout(timeout):
        while not consumer.assignment():
            for batch in (await consumer.getmany(timeout_ms=100)).values():
                records.extend(batch)
        ends = await consumer.end_offsets(list(consumer.assignment()))
        for partition, end in ends.items():
            while await consumer.position(partition) < end:
                batch = await consumer.getmany(partition, timeout_ms=200)
                records.extend(batch.get(partition, []))
    return records


TOPIC_MAX_BYTES = 2_000


async def small_records_topic(bootstrap: str) -> str:
    """A topic of its own, one partition, whose broker refuses records over TOPIC_MAX_BYTES."""
    topic = f"orders.events.small.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        config = {"max.message.bytes": str(TOPIC_MAX_BYTES)}
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs=config)])
    finally:
        await admin.close()
    return topic
