"""The scheduler's subscriber: `scheduler.commands` into the use cases."""

from __future__ import annotations

from typing import cast

from aiokafka import ConsumerRebalanceListener, TopicPartition

from services.scheduler.service import Scheduler
from shared.consumer import Delivery, Handler
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer, ScheduleTimer
from shared.topics import SCHEDULER_COMMANDS

SchedulerCommand = ScheduleTimer | CancelTimer


def decode_command(value: bytes) -> SchedulerCommand:
    return cast(SchedulerCommand, decode_as(value, ScheduleTimer, CancelTimer))


def command_handler(scheduler: Scheduler) -> Handler[SchedulerCommand]:
    async def handle(command: SchedulerCommand, delivery: Delivery) -> None:
        match command:
            case ScheduleTimer():
                await scheduler.schedule(command, delivery.partition)
            case CancelTimer():
                await scheduler.cancel(command)

    return handle


class TimerOwnership(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands the timers of assigned `scheduler.commands` partitions to this replica's store."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._scheduler.release(_partitions(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._scheduler.adopt(_partitions(assigned))


def _partitions(found: list[TopicPartition]) -> set[int]:
    return {tp.partition for tp in found if tp.topic == SCHEDULER_COMMANDS}
