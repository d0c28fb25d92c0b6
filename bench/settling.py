"""Waiting for the system to finish what a phase started: every consumer group caught up, and
the Twilio emulator done fetching the images of the messages it took.

An order at its store's POS topic still has work behind it (the customer's messages, timers, the
Twilio emulator fetching a PIX code's image). A phase's CPU figures count that work, and the next
phase starts on a quiet system instead of sharing the cores with this one's tail.
"""

from __future__ import annotations

import asyncio
import time

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

QUIET_READINGS = 2
"""Readings in a row without lag: a handler's outbox is produced before its commit, and a
caught-up member commits within a second (`shared/offsets.py`)."""
READING_EVERY_S = 0.5


async def lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> int:
    """Records the system's consumer groups have not handled yet, over every partition of the
    topics each group reads (the commits are read before the ends, so nothing is missed)."""
    committed: dict[str, dict[TopicPartition, int]] = {}
    for group, _protocol in await admin.list_consumer_groups():
        offsets = await admin.list_consumer_group_offsets(group)
        committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    await consumer.topics()  # metadata of every topic, for their partitions
    read = {tp.topic for offsets in committed.values() for tp in offsets}
    partitions = [
        TopicPartition(topic, partition)
        for topic in read
        for partition in consumer.partitions_for_topic(topic) or ()
    ]
    ends = await consumer.end_offsets(partitions) if partitions else {}
    behind = 0
    for offsets in committed.values():
        topics = {tp.topic for tp in offsets}
        behind += sum(end - offsets.get(tp, 0) for tp, end in ends.items() if tp.topic in topics)
    return behind


async def media_fetches(twilio: httpx.AsyncClient) -> int:
    """The images the Twilio emulator has still to fetch (it fetches after answering)."""
    response = await twilio.get("/_control/state")
    response.raise_for_status()
    return int(response.json()["mediaFetches"])


async def settled(bootstrap: str, twilio_url: str, timeout: float = 300) -> float:
    """Waits until no consumer group lags behind and the Twilio emulator at `twilio_url` has no
    image left to fetch; returns the seconds it took."""
    began = time.perf_counter()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(base_url=twilio_url) as twilio:
            quiet = 0
            while quiet < QUIET_READINGS:
                idle = await lag(admin, consumer) == 0 and await media_fetches(twilio) == 0
                quiet = quiet + 1 if idle else 0
                await asyncio.sleep(READING_EVERY_S)
    finally:
        await consumer.stop()
        await admin.close()
    return time.perf_counter() - began
