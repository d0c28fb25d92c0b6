"""The scheduler's subscription: `scheduler.commands` into the use cases, and timer ownership."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import ConsumerRebalanceListener, TopicPartition

from services.scheduler.service import TimerService
from shared.consumer import ReceivedRecord, Subscription
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer, ScheduleTimer
from shared.topics import SCHEDULER_COMMANDS

SchedulerCommand = ScheduleTimer | CancelTimer


def decode_command(value: bytes) -> SchedulerCommand:
    return cast(SchedulerCommand, decode_as(value, ScheduleTimer, CancelTimer))


def subscriptions(timers: TimerService) -> list[Subscription[Any]]:
    async def handle(command: SchedulerCommand, received: ReceivedRecord) -> None:
        match command:
            case ScheduleTimer():
                await timers.schedule(command, received.partition)
            case CancelTimer():
                await timers.cancel(command)

    return [
        Subscription(
            "scheduler",
            decode_command,
            handle,
            topics=(SCHEDULER_COMMANDS,),
            listener=TimerOwnership(timers),
        )
    ]


class TimerOwnership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands the timers of assigned `scheduler.commands` partitions to this replica's store."""

    def __init__(self, timers: TimerService) -> None:
        self._timers = timers

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._timers.release(_partitions(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._timers.adopt(_partitions(assigned))


def _partitions(found: list[TopicPartition]) -> set[int]:
    return {tp.partition for tp in found if tp.topic == SCHEDULER_COMMANDS}
