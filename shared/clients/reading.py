"""Following a topic from now on, decoded: what the chatbot client reads with."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer

from shared.contracts.base import Message
from shared.contracts.registry import ContractError, decode
from shared.settings import KafkaTarget, kafka_settings


async def reader_from_now(
    kafka: KafkaTarget, topic: str, *, timeout: float = 15.0
) -> AIOKafkaConsumer:
    """A started, group-less consumer of every partition of `topic`, positioned at its end, so
    that everything published after this call returns is read."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka_settings(kafka).client_options(),
        enable_auto_commit=False,
        auto_offset_reset="latest",
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            # aiokafka signals no event for a group-less assignment; it follows the metadata.
            while not consumer.assignment():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)  # resolves "the end" now, not at the first fetch
    except BaseException:
        await consumer.stop()
        raise
    return consumer


async def follow(consumer: AIOKafkaConsumer) -> AsyncIterator[Message]:
    """Every message the consumer gets, decoded; messages of no known contract are skipped."""
    async for record in consumer:
        try:
            yield decode(record.value or b"")
        except ContractError:
            continue
