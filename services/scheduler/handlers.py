"""The scheduler's subscriber: `scheduler.commands` into the use cases."""

from __future__ import annotations

from typing import cast

from services.scheduler.service import Scheduler
from shared.consumer import Delivery, Handler
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer, ScheduleTimer

SchedulerCommand = ScheduleTimer | CancelTimer


def decode_command(value: bytes) -> SchedulerCommand:
    return cast(SchedulerCommand, decode_as(value, ScheduleTimer, CancelTimer))


def command_handler(scheduler: Scheduler) -> Handler[SchedulerCommand]:
    async def handle(command: SchedulerCommand, delivery: Delivery) -> None:
        match command:
            case ScheduleTimer():
                await scheduler.schedule(command)
            case CancelTimer():
                await scheduler.cancel(command)

    return handle
