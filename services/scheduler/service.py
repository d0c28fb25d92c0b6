"""Use cases of the scheduler: set, move and cancel timers, and fire the due ones."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.scheduler.domain import Timer
from services.scheduler.metrics import (
    TIMER_LATENESS,
    TIMERS_CANCELLED,
    TIMERS_FIRED,
    TIMERS_SCHEDULED,
)
from services.scheduler.outgoing import timer_fired
from services.scheduler.ports import TimerStore
from shared.contracts.scheduler import CancelTimer, ScheduleTimer
from shared.records import OutgoingRecord, RecordSink
from shared.topics import SCHEDULER_EVENTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FiringPolicy:
    lease: timedelta = timedelta(seconds=10)
    """How long a claim holds before another replica may fire the timer again."""
    batch_size: int = 500
    max_sleep: timedelta = timedelta(seconds=1)
    """Longest nap of the firing loop."""
    maintain_every: timedelta = timedelta(seconds=5)
    """How often the store compacts what was fired (and, owning no partitions, reloads)."""


class TimerService:
    def __init__(
        self,
        store: TimerStore,
        sink: RecordSink,
        clock: Callable[[], datetime],
        policy: FiringPolicy = FiringPolicy(),
        events_topic: str = SCHEDULER_EVENTS,
    ) -> None:
        self._store = store
        self._sink = sink
        self._clock = clock
        self._policy = policy
        self._events_topic = events_topic
        self._wake = asyncio.Event()
        self._next_tick: datetime | None = None

    async def schedule(self, command: ScheduleTimer, partition: int | None = None) -> None:
        if await self._store.upsert(Timer.from_command(command, partition)):
            TIMERS_SCHEDULED.inc()
            if self._next_tick is None or command.due_at < self._next_tick:
                self._wake.set()

    async def cancel(self, command: CancelTimer) -> None:
        if await self._store.cancel(command.timer_id):
            TIMERS_CANCELLED.inc()

    async def adopt(self, partitions: set[int]) -> None:
        """Takes over the timers of partitions just assigned to this replica."""
        await self._store.adopt(partitions)
        self._wake.set()

    async def release(self, partitions: set[int]) -> None:
        """Lets go of the timers of partitions assigned elsewhere."""
        await self._store.release(partitions)

    async def fire_due(self) -> datetime | None:
        """Fires one batch of due timers; returns when the next tick is needed."""
        now = self._clock()
        due = await self._store.claim_due(now, self._policy.lease, self._policy.batch_size)
        if due.claimed:
            fired = [timer_fired(t, event_id=uuid.uuid4(), now=self._clock()) for t in due.claimed]
            await self._sink.send(*(OutgoingRecord.of(self._events_topic, e) for e in fired))
            for event in fired:
                TIMER_LATENESS.observe(max(0.0, (event.fired_at - event.due_at).total_seconds()))
            TIMERS_FIRED.inc(len(fired))
            await self._store.complete(due.claimed)
        return due.next_due_at

    async def run(self) -> None:
        """Fires timers as they come due, napping until the next one or until a new one arrives."""
        while True:
            self._wake.clear()
            try:
                await self._nap_until(await self.fire_due())
            except Exception:
                # Storage or broker unreachable: leases keep claimed timers safe; try again.
                log.exception("firing timers failed; retrying in %s", self._policy.max_sleep)
                await asyncio.sleep(self._policy.max_sleep.total_seconds())

    async def maintain(self) -> None:
        """Runs the store's housekeeping forever, off the firing path."""
        while True:
            try:
                await self._store.maintain()
                self._wake.set()  # it may have learned of timers due sooner
            except Exception:
                log.exception("timer store housekeeping failed; retrying")
            await asyncio.sleep(self._policy.maintain_every.total_seconds())

    async def _nap_until(self, next_due: datetime | None) -> None:
        latest = self._clock() + self._policy.max_sleep
        self._next_tick = latest if next_due is None else min(next_due, latest)
        nap = (self._next_tick - self._clock()).total_seconds()
        if nap <= 0:
            return
        try:
            async with asyncio.timeout(nap):
                await self._wake.wait()
        except TimeoutError:
            pass
