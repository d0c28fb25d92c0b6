"""A subscription's members in one process, as its rebalance listener sees them: the partitions
the process gains and loses, not those moving between its own members."""

from __future__ import annotations

from collections import Counter

from aiokafka import ConsumerRebalanceListener, TopicPartition

from shared.offsets import HandledOffsets


class ProcessPartitions:
    """What a subscription's members in this process hold together, told to its listener."""

    def __init__(self, listener: ConsumerRebalanceListener | None) -> None:
        self._listener = listener
        # A count, not a set: a member dropped from the group may learn it (and revoke) after
        # another member of this process was given its partitions.
        self._held: Counter[TopicPartition] = Counter()

    async def revoked(self, partitions: list[TopicPartition]) -> None:
        self._held.subtract(partitions)
        lost = [partition for partition in partitions if self._held[partition] <= 0]
        for partition in lost:
            del self._held[partition]
        if self._listener is not None:
            await self._listener.on_partitions_revoked(lost)

    async def assigned(self, partitions: list[TopicPartition]) -> None:
        gained = [partition for partition in partitions if partition not in self._held]
        self._held.update(partitions)
        if self._listener is not None:
            await self._listener.on_partitions_assigned(gained)


class MemberListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """One member's: commits what it handled on the partitions a rebalance takes away, then
    tells the process's partitions."""

    def __init__(self, offsets: HandledOffsets, process: ProcessPartitions) -> None:
        self._offsets = offsets
        self._process = process

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._offsets.commit(set(revoked))
        await self._process.revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._process.assigned(list(assigned))
