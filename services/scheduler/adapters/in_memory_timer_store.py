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
        self._done: set[tuple[str, str]] = set()
        """(timerId, command eventId) of the timers fired or cancelled."""

    async def upsert(self, timer: Timer) -> bool:
        current = self._pending.get(timer.timer_id)
        if current is not None and (
            current.timer.scheduled_by == timer.scheduled_by
            or current.timer.scheduled_at > timer.scheduled_at
        ):
            return False
        if (timer.timer_id, timer.scheduled_by) in self._done:
            return False
        self._pending[timer.timer_id] = _Entry(timer, timer.due_at)
        return True

    async def cancel(self, timer_id: str) -> bool:
        entry = self._pending.pop(timer_id, None)
        if entry is None:
            return False
        self._done.add((timer_id, entry.timer.scheduled_by))
        return True

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> DueTimers:
        ordered = sorted(self._pending.values(), key=lambda entry: entry.available_at)
        due = [entry for entry in ordered if entry.available_at <= now][:limit]
        later = [entry.available_at for entry in ordered if entry.available_at > now]
        next_due = now if len(due) == limit else (later[0] if later else None)
        for entry in due:
            entry.available_at = now + lease
        return DueTimers([entry.timer for entry in due], next_due)

    async def maintain(self) -> None:
        return None

    async def adopt(self, partitions: set[int]) -> None:
        return None  # one process holds every timer

    async def release(self, partitions: set[int]) -> None:
        return None

    async def reconcile(self) -> int:
        return 0  # nothing is written behind its back

    async def complete(self, timers: list[Timer]) -> int:
        buried = 0
        for timer in timers:
            version = (timer.timer_id, timer.scheduled_by)
            if version in self._done:
                continue
            self._done.add(version)
            buried += 1
            entry = self._pending.get(timer.timer_id)
            if entry is not None and entry.timer.scheduled_by == timer.scheduled_by:
                del self._pending[timer.timer_id]
        return buried
