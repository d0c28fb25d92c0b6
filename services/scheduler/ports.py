"""What the scheduler needs from storage."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from services.scheduler.domain import Timer


class TimerStore(Protocol):
    async def upsert(self, timer: Timer) -> bool:
        """Sets the timer; False when a newer command set it, or this very command already fired."""
        ...

    async def cancel(self, timer_id: str) -> bool:
        """Removes a pending timer; False when there was none."""
        ...

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Timer]:
        """Takes up to `limit` timers due at `now` that no live lease holds, earliest first."""
        ...

    async def complete(self, timers: list[Timer], fired_at: datetime) -> int:
        """Retires fired timers that were not moved meanwhile; returns how many."""
        ...

    async def next_due_at(self) -> datetime | None:
        """When the earliest pending timer (or expiring lease) becomes due."""
        ...
