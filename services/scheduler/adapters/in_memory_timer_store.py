"""The in-memory twin of the timer store, for unit and component tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scheduler.domain import Timer


@dataclass
class _Entry:
    timer: Timer
    available_at: datetime
    lease_until: datetime | None = None


class InMemoryTimerStore:
    def __init__(self) -> None:
        self._pending: dict[str, _Entry] = {}
        self.fired: dict[str, str] = {}
        """timerId -> eventId of the command whose timer fired."""

    async def upsert(self, timer: Timer) -> bool:
        if self.fired.get(timer.timer_id) == timer.scheduled_by:
            return False
        current = self._pending.get(timer.timer_id)
        if current is not None and (
            current.timer.scheduled_at > timer.scheduled_at
            or current.timer.scheduled_by == timer.scheduled_by
        ):
            return False
        self._pending[timer.timer_id] = _Entry(timer, timer.due_at)
        return True

    async def cancel(self, timer_id: str) -> bool:
        return self._pending.pop(timer_id, None) is not None

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Timer]:
        due = sorted(
            (entry for entry in self._pending.values() if entry.available_at <= now),
            key=lambda entry: entry.available_at,
        )[:limit]
        for entry in due:
            entry.available_at = entry.lease_until = now + lease
        return sorted((entry.timer for entry in due), key=lambda timer: timer.due_at)

    async def complete(self, timers: list[Timer], fired_at: datetime) -> int:
        retired = 0
        for timer in timers:
            self.fired[timer.timer_id] = timer.scheduled_by
            entry = self._pending.get(timer.timer_id)
            if entry is not None and entry.timer.scheduled_by == timer.scheduled_by:
                del self._pending[timer.timer_id]
                retired += 1
        return retired

    async def next_due_at(self) -> datetime | None:
        return min((entry.available_at for entry in self._pending.values()), default=None)
