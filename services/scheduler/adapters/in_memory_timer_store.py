"""The in-memory twin of the timer store, for unit and component tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scheduler.domain import Timer
from services.scheduler.ports import DueTimers


@dataclass
class _Entry:
    timer: Timer
    available_at: datetime


class InMemoryTimerStore:
    def __init__(self) -> None:
        self._pending: dict[str, _Entry] = {}
        self._heads: dict[str, Timer] = {}
        """timerId -> the latest command's timer, pending or not."""

    async def upsert(self, timer: Timer) -> bool:
        head = self._heads.get(timer.timer_id)
        if head is not None and (
            head.scheduled_by == timer.scheduled_by or head.scheduled_at > timer.scheduled_at
        ):
            return False
        self._heads[timer.timer_id] = timer
        self._pending[timer.timer_id] = _Entry(timer, timer.due_at)
        return True

    async def cancel(self, timer_id: str) -> bool:
        return self._pending.pop(timer_id, None) is not None

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> DueTimers:
        ordered = sorted(self._pending.values(), key=lambda entry: entry.available_at)
        due = [entry for entry in ordered if entry.available_at <= now][:limit]
        later = [entry.available_at for entry in ordered if entry.available_at > now]
        next_due = now if len(due) == limit else (later[0] if later else None)
        for entry in due:
            entry.available_at = now + lease
        return DueTimers([entry.timer for entry in due], next_due)

    async def complete(self, timers: list[Timer]) -> int:
        retired = 0
        for timer in timers:
            entry = self._pending.get(timer.timer_id)
            if entry is not None and entry.timer.scheduled_by == timer.scheduled_by:
                del self._pending[timer.timer_id]
                retired += 1
        return retired
