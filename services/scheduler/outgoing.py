"""What the scheduler publishes: the announcement a timer becomes when it fires."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.scheduler.domain import Timer
from shared.contracts.scheduler import TimerFired


def timer_fired(timer: Timer, *, event_id: UUID, now: datetime) -> TimerFired:
    """The timer is due: announced in its conversation turn, caused by the command that set it."""
    return TimerFired(
        event_id=event_id,
        occurred_at=now,
        correlation_id=timer.correlation_id,
        causation_id=timer.scheduled_by,
        client_id=timer.client_id,
        store_id=timer.store_id,
        timer_id=timer.timer_id,
        purpose=timer.purpose,
        order_id=timer.order_id,
        due_at=timer.due_at,
        fired_at=now,
        payload=timer.payload,
    )
