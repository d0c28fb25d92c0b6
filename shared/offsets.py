"""Offsets committed in batches, never past a message not yet handled: when a partition is
caught up, every COMMIT_EVERY messages, before a rebalance and at stop (docs/consumers.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

COMMIT_EVERY = 50
"""The most handled messages a worker leaves uncommitted while its partitions have a backlog."""


class HandledOffsets:
    """One worker's handled but not yet committed positions, by partition."""

    def __init__(self, name: str, every: int = COMMIT_EVERY) -> None:
        self._name = name
        self._every = every
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._uncommitted = 0

    async def handled(self, consumer: object, record: ConsumerRecord[Any, Any]) -> None:
        """Notes `record` as handled; commits when its partition has nothing more to read or
        the batch is full."""
        if not isinstance(consumer, AIOKafkaConsumer):  # FastStream's test broker: no offsets
            return
        self._consumer = consumer
        partition = TopicPartition(record.topic, record.partition)
        self._pending[partition] = record.offset + 1
        self._uncommitted += 1
        end = consumer.highwater(partition)
        caught_up = not isinstance(end, int) or record.offset + 1 >= end
        if caught_up or self._uncommitted >= self._every:
            await self.commit()

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


async def commit_all(workers: list[HandledOffsets]) -> None:
    """Commits what every worker handled (before a service stops)."""
    await asyncio.gather(*(offsets.commit() for offsets in workers))
