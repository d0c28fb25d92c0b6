"""Use cases of the scheduler: set, move and cancel timers, and fire the due ones."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.scheduler.domain import Timer
from services.scheduler.metrics import (
    TIMER_LATENESS,
    TIMERS_CANCELLED,
    TIMERS_FIRED,
    TIMERS_RECONCILED,
    TIMERS_SCHEDULED,
)
from services.scheduler.outgoing import timer_fired
from services.scheduler.ports import TimerStore
from shared.contracts.scheduler import CancelTimer, ScheduleTimer
from shared.records import OutgoingRecord, RecordSink
from shared.retry import Backoff
from shared.topics import SCHEDULER_EVENTS
from shared.tracing import continuing, current_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FiringPolicy:
    lease: timedelta = timedelta(seconds=10)
    """How long a claim holds before another replica may fire the timer again."""
    batch_size: int = 500
    max_sleep: timedelta = timedelta(seconds=1)
    """Longest nap of the firing loop."""
    maintain_every: timedelta = timedelta(seconds=5)
    """How often the store compacts what was fired."""
    reconcile_every: timedelta = timedelta(seconds=30)
    """How often the store reads its partitions again for timers a rebalance hid (shorter
    than the tombstones' grace, so that a timer cancelled elsewhere is dropped before then)."""
    settle: timedelta = timedelta(seconds=3)
    """How long after a rebalance its partitions are read again: the previous owner may still
    have been writing a timer as it let go."""
    load_backoff: Backoff = field(default_factory=Backoff)
    """The waits between attempts to load partitions whose load failed."""


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
        self._reconcile_at = clock() + policy.reconcile_every
        self._reconcile_sooner = asyncio.Event()

    async def schedule(self, command: ScheduleTimer, partition: int | None = None) -> None:
        if await self._store.upsert(Timer.from_command(command, partition, current_context())):
            TIMERS_SCHEDULED.inc()
            if self._next_tick is None or command.due_at < self._next_tick:
                self._wake.set()

    async def cancel(self, command: CancelTimer) -> None:
        if await self._store.cancel(command.timer_id):
            TIMERS_CANCELLED.inc()

    async def adopt(self, partitions: set[int]) -> None:
        """Takes over the timers of partitions just assigned to this replica.

        aiokafka awaits this inside the rebalance and only logs what it raises, so the load is
        tried once here: retried while the database is down, it would hold up the rebalance and,
        past its timeout, get this replica evicted from the group, moving the partitions again.
        A failed load is retried by `reconcile` with backoff until it succeeds; the partitions
        are ours meanwhile, so the timers set on them are kept and none is lost.
        """
        try:
            await self._store.adopt(partitions)
        except Exception:
            log.exception("loading partitions %s failed; retrying", sorted(partitions))
            self._reconcile_within(self._policy.load_backoff.delay(0))
        else:
            self._reconcile_within(self._policy.settle.total_seconds())
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
            records = []
            for timer, event in zip(due.claimed, fired, strict=True):
                with continuing(timer.trace_context):  # the trace of the order that set it
                    records.append(OutgoingRecord.of(self._events_topic, event))
            await self._sink.send(*records)
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

    async def reconcile(self) -> None:
        """Reads this replica's partitions again forever, off the firing path: every
        `reconcile_every`, shortly after a rebalance, and after a failed load with backoff
        until it succeeds. It adopts the timers a rebalance hid from this replica's view."""
        failures = 0
        while True:
            await self._until_reconcile()
            self._reconcile_at = self._clock() + self._policy.reconcile_every
            try:
                found = await self._store.reconcile()
            except Exception:
                log.exception("reading the timers of this replica's partitions failed; retrying")
                self._reconcile_within(self._policy.load_backoff.delay(failures))
                failures += 1
                continue
            failures = 0
            if found:
                log.warning("found %d pending timers missing from this replica's view", found)
                TIMERS_RECONCILED.inc(found)
                self._wake.set()

    def _reconcile_within(self, seconds: float) -> None:
        self._reconcile_at = min(self._reconcile_at, self._clock() + timedelta(seconds=seconds))
        self._reconcile_sooner.set()

    async def _until_reconcile(self) -> None:
        while (wait := (self._reconcile_at - self._clock()).total_seconds()) > 0:
            self._reconcile_sooner.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._reconcile_sooner.wait()

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
