"""Timers as the scheduler keeps them. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.contracts.scheduler import ScheduleTimer, TimerPurpose


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
    trace_context: dict[str, str] = field(default_factory=dict)
    """The W3C trace context (`traceparent`) of the handling that set it: its firing continues
    that trace."""

    @classmethod
    def from_command(
        cls,
        command: ScheduleTimer,
        partition: int | None = None,
        trace_context: dict[str, str] | None = None,
    ) -> Timer:
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
            trace_context=dict(trace_context or {}),
        )
