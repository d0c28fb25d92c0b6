"""What the scheduler needs from storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.scheduler.domain import Timer


@dataclass(frozen=True)
class DueTimers:
    """What one tick found: the timers it claimed, and when the next pending one is due."""

    claimed: list[Timer]
    next_due_at: datetime | None


class TimerStore(Protocol):
    async def upsert(self, timer: Timer) -> bool:
        """Sets the timer; False when a newer command set it, or this command was seen already."""
        ...

    async def cancel(self, timer_id: str) -> bool:
        """Removes a pending timer; False when there was none."""
        ...

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> DueTimers:
        """Takes up to `limit` timers due at `now` that no live lease holds, earliest first."""
        ...

    async def maintain(self) -> None:
        """Housekeeping off the firing path: forget what was fired or cancelled."""
        ...

    async def adopt(self, partitions: set[int]) -> None:
        """Takes over the timers of these `scheduler.commands` partitions (assigned to us);
        raises if their stored timers could not be loaded (the partitions stay ours)."""
        ...

    async def release(self, partitions: set[int]) -> None:
        """Forgets the timers of these partitions (assigned to another replica)."""
        ...

    async def reconcile(self) -> int:
        """Reads the timers of our partitions again, off the firing path, for those a
        rebalance hid; returns how many it found that were missing."""
        ...

    async def complete(self, timers: list[Timer]) -> int:
        """Records timers as fired (a timer moved meanwhile stays pending); returns how many
        were not recorded before."""
        ...
