"""Timers as the scheduler keeps them, and the event a timer becomes when it fires. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from shared.contracts.scheduler import ScheduleTimer, TimerFired, TimerPurpose


@dataclass(frozen=True)
class Timer:
    """A durable timer: what to announce, for whom, and when."""

    timer_id: str
    client_id: str
    store_id: str
    purpose: TimerPurpose
    due_at: datetime
    correlation_id: str
    scheduled_by: str
    """`eventId` of the `ScheduleTimer` that set this due time."""
    scheduled_at: datetime
    """`occurredAt` of that command: an older command never overrides a newer one."""
    order_id: str | None = None
    payload: dict[str, str] = field(default_factory=dict)
    partition: int | None = None
    """The `scheduler.commands` partition its command came on: the replica owning that
    partition fires it."""

    @classmethod
    def from_command(cls, command: ScheduleTimer, partition: int | None = None) -> Timer:
        return cls(
            timer_id=command.timer_id,
            client_id=command.client_id,
            store_id=command.store_id,
            purpose=command.purpose,
            due_at=command.due_at,
            correlation_id=command.correlation_id,
            scheduled_by=str(command.event_id),
            scheduled_at=command.occurred_at,
            order_id=command.order_id,
            payload=dict(command.payload),
            partition=partition,
        )

    def fired(self, *, event_id: UUID, now: datetime) -> TimerFired:
        """The announcement that this timer is due, caused by the command that scheduled it."""
        return TimerFired(
            event_id=event_id,
            occurred_at=now,
            correlation_id=self.correlation_id,
            causation_id=self.scheduled_by,
            client_id=self.client_id,
            store_id=self.store_id,
            timer_id=self.timer_id,
            purpose=self.purpose,
            order_id=self.order_id,
            due_at=self.due_at,
            fired_at=now,
            payload=self.payload,
        )
