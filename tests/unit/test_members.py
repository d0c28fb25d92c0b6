"""What a subscription's rebalance listener hears when several members of one process share it."""

from __future__ import annotations

from aiokafka import ConsumerRebalanceListener, TopicPartition

from shared.members import ProcessPartitions

P0, P1, P2 = (TopicPartition("scheduler.commands", n) for n in range(3))


class Told(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.lost: list[list[TopicPartition]] = []
        self.gained: list[list[TopicPartition]] = []

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.lost.append(sorted(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.gained.append(sorted(assigned))


async def test_a_rebalance_releases_and_adopts_as_with_one_member() -> None:
    told = Told()
    process = ProcessPartitions(told)
    await process.assigned([P0, P1])  # member a
    await process.assigned([P2])  # member b
    await process.revoked([P0, P1])  # a, then b, before the group rejoins
    await process.revoked([P2])
    await process.assigned([P1])
    await process.assigned([])  # a member given nothing still says so: the process owns none

    assert told.gained == [[P0, P1], [P2], [P1], []]
    assert told.lost == [[P0, P1], [P2]]


async def test_a_late_revoke_keeps_what_another_member_was_given_meanwhile() -> None:
    told = Told()
    process = ProcessPartitions(told)
    await process.assigned([P0])  # member a
    await process.assigned([P0])  # member b, given it after a was dropped from the group
    await process.revoked([P0])  # a learns it was dropped

    assert told.lost == [[]]
    await process.revoked([P0])  # b's next rebalance
    assert told.lost == [[], [P0]]
