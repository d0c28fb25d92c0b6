"""Offsets committed in batches, never past a message not yet handled: when a partition is
caught up, at most every COMMIT_INTERVAL_S; every COMMIT_EVERY messages of a backlog; before a
rebalance and at stop (docs/consumers.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

COMMIT_EVERY = 50
"""The most handled messages a worker leaves uncommitted while its partitions have a backlog."""
COMMIT_INTERVAL_S = 1.0
"""How long a worker caught up with its partitions leaves what it handled uncommitted: one
commit a second at most instead of one per message (each is a write to the broker's offsets
log), at the price of up to a second of messages coming again after a crash, skipped."""


class HandledOffsets:
    """One worker's handled but not yet committed positions, by partition."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._every = COMMIT_EVERY
        self._interval_s = COMMIT_INTERVAL_S
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._uncommitted = 0
        self._later: asyncio.Task[None] | None = None
        self._stopping = False

    async def handled(self, consumer: object, record: ConsumerRecord[Any, Any]) -> None:
        """Notes `record` as handled; commits when the batch is full, or soon when its
        partition has nothing more to read."""
        if not isinstance(consumer, AIOKafkaConsumer):  # FastStream's test broker: no offsets
            return
        self._consumer = consumer
        partition = TopicPartition(record.topic, record.partition)
        self._pending[partition] = record.offset + 1
        self._uncommitted += 1
        if self._uncommitted >= self._every or self._stopping:
            await self.commit()
            return
        end = consumer.highwater(partition)
        caught_up = not isinstance(end, int) or record.offset + 1 >= end
        if caught_up and self._later is None:
            self._later = asyncio.create_task(self._commit_later())

    async def _commit_later(self) -> None:
        await asyncio.sleep(self._interval_s)
        self._later = None
        try:
            await self.commit()
        except Exception:  # nobody awaits this task: those messages come again, are skipped
            log.exception("%s: committing offsets failed", self._name)

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commits the noted positions (of `only` these partitions); a position whose partition
        was taken away is dropped (its new owner starts from the last commit, and skips what
        was handled)."""
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        offsets = {
            partition: offset
            for partition, offset in self._pending.items()
            if only is None or partition in only
        }
        for partition in offsets:
            del self._pending[partition]
        if not self._pending:
            self._uncommitted = 0
        offsets = {
            partition: offset for partition, offset in offsets.items() if partition in assigned
        }
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as error:  # the group moved on: those messages come again, are skipped
            log.warning("%s: committing offsets failed: %r", self._name, error)

    async def stop(self) -> None:
        """Commits what is left now, and from now on each message as it is handled (the consumer
        stops soon: nothing is left for later)."""
        self._stopping = True
        if self._later is not None:
            self._later.cancel()
            self._later = None
        await self.commit()


async def commit_all(workers: list[HandledOffsets]) -> None:
    """Commits what every worker handled (before a service stops)."""
    await asyncio.gather(*(offsets.stop() for offsets in workers))
