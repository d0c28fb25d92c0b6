"""The durable job runner: slow or repeated work (webhook processing, charge creation and
deletion, refund attempts, reconciliation) is a job in MongoDB run by a background loop, so no
Kafka partition waits on Asaas, and a few jobs of each restaurant at a time, so no restaurant
waits on another's."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from services.payment.config import PaymentPolicy
from services.payment.ports import (
    JOB_KINDS,
    RECONCILE_JOB,
    WEBHOOK_JOB,
    DueJobs,
    Job,
    JobQueue,
    WebhookInbox,
)
from shared.tracing import continuing

log = logging.getLogger(__name__)

BATCH = 100
HELD_MAX = 100
"""Jobs a loop holds for a lane here (beyond, a job is stored due now for every loop)."""
HOUSEKEEPING_INTERVAL_S = 600.0

JobHandler = Callable[[Job], Awaitable[None]]


@dataclass(frozen=True)
class TakenLane:
    """A lane taken for a job about to be stored: started once it is, else given back."""

    start: Callable[[], None]
    give_back: Callable[[], None]


def _stored_due(job: Job) -> datetime:
    """The job's due time as stored (BSON keeps milliseconds), naming its version."""
    due = job.due_at
    return due.replace(microsecond=due.microsecond // 1000 * 1000)


class Lanes:
    """The jobs of one kind running now: at most `overall`, at most `per_restaurant` of one
    restaurant, never one key twice."""

    def __init__(self, overall: int, per_restaurant: int) -> None:
        self._overall = overall
        self._per_restaurant = per_restaurant
        self._keys: dict[str, datetime] = {}
        """The keys of the jobs running, each with its version's due time."""
        self._of_restaurant: Counter[str] = Counter()
        self.left_waiting = False
        """The last look left due jobs for want of a lane: look again when one frees."""
        self.offered_waiting: set[str] = set()
        """Restaurants with a job offered while no lane was free for it: look again when one of
        theirs frees."""

    @staticmethod
    def restaurant(job: Job) -> str:
        # Jobs stored before they named their restaurant each get a lane of their own.
        return job.client_id or job.key

    @property
    def free(self) -> bool:
        return len(self._keys) < self._overall

    def full(self) -> set[str]:
        """The restaurants with all their lanes taken."""
        bound = self._per_restaurant
        return {client for client, count in self._of_restaurant.items() if count >= bound}

    def runs(self, job: Job) -> bool:
        """Whether this version of `job` runs here now (not one stored again since)."""
        return self._keys.get(job.key) == _stored_due(job)

    def take(self, job: Job) -> bool:
        """Takes a lane for `job`; False when it runs already, or no lane is free for it."""
        restaurant = self.restaurant(job)
        if (
            job.key in self._keys
            or not self.free
            or self._of_restaurant[restaurant] >= self._per_restaurant
        ):
            return False
        self._keys[job.key] = _stored_due(job)
        self._of_restaurant[restaurant] += 1
        return True

    def release(self, job: Job) -> None:
        self._keys.pop(job.key, None)
        restaurant = self.restaurant(job)
        self._of_restaurant[restaurant] -= 1
        if self._of_restaurant[restaurant] <= 0:
            del self._of_restaurant[restaurant]


class JobRunner:
    """One loop per job kind, woken when a job is due now, running due jobs side by side within
    its lanes; replicas share the queue."""

    def __init__(
        self,
        jobs: JobQueue,
        inbox: WebhookInbox,
        policy: PaymentPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._jobs = jobs
        self._inbox = inbox
        # A webhook's job is its stored event; the other kinds are jobs of their own.
        self._sources: dict[str, DueJobs] = {kind: jobs for kind in JOB_KINDS}
        self._sources[WEBHOOK_JOB] = inbox
        self._policy = policy
        self._clock = clock
        self._wake = {kind: asyncio.Event() for kind in JOB_KINDS}
        self._take: dict[str, Callable[[Job], TakenLane | None]] = {}
        """Per kind whose loop runs here: takes a lane for a job about to be stored, free now or
        the next one to free (None: too many wait for one)."""
        # Reconciliation reads Asaas once a job: at most `reconcile_rate_per_s` a second.
        self._pause_s = {RECONCILE_JOB: 1.0 / policy.reconcile_rate_per_s}

    def wake(self, kind: str) -> None:
        """A job of `kind` is due now: its loop looks at once rather than at its next poll."""
        self._wake[kind].set()

    @contextmanager
    def lane(self, job: Job) -> Iterator[Callable[[], None] | None]:
        """A lane of the job's loop here, taken for `job` while the block stores it: yields what
        runs it here, at once or when one of its restaurant's lanes frees, with no look for it
        and no claim (so the block stores it due only when a lease from now ends: no loop takes
        it before unless this process died), or None when too many jobs wait for a lane here.
        A lane the block did not start is given back."""
        take = self._take.get(job.kind)
        taken = None if take is None or job.kind in self._pause_s else take(job)
        if taken is None:
            yield None
            return
        started = False

        def start() -> None:
            nonlocal started
            started = True
            taken.start()

        try:
            yield start
        finally:
            if not started:
                taken.give_back()

    async def run(self, kind: str, handle: JobHandler) -> None:
        """Runs due jobs of `kind` forever, each in a lane of its restaurant; a failing job is
        logged and tried again later."""
        wake = self._wake[kind]
        lanes = Lanes(self._policy.jobs_in_flight, self._policy.jobs_per_restaurant)

        # Jobs run in the loop's context, also those offered from a request's.
        loop_context = contextvars.copy_context()
        held: deque[Job] = deque()
        """Offered jobs stored for this replica, waiting here for a lane."""
        half_lease = timedelta(seconds=self._policy.job_lease_s / 2)

        def start_held() -> None:
            now = self._clock()
            for job in list(held):
                if now >= job.due_at - half_lease:
                    # Too close to the end of its lease: left to the loops (claimed) then.
                    held.remove(job)
                elif lanes.take(job):
                    held.remove(job)
                    run_taken(job, offered=True)
                elif not lanes.free:
                    break

        def done(job: Job, _: object) -> None:
            lanes.release(job)
            restaurant = Lanes.restaurant(job)
            if lanes.left_waiting or restaurant in lanes.offered_waiting:
                lanes.offered_waiting.discard(restaurant)
                wake.set()
            start_held()

        async with asyncio.TaskGroup() as running:

            def run_taken(job: Job, *, offered: bool = False) -> None:
                task = running.create_task(
                    self._handle(kind, handle, job, offered=offered), context=loop_context.copy()
                )
                task.add_done_callback(partial(done, job))

            def take(job: Job) -> TakenLane | None:
                if lanes.take(job):
                    return TakenLane(
                        start=partial(run_taken, job, offered=True),
                        give_back=partial(done, job, None),
                    )
                if len(held) < HELD_MAX:
                    return TakenLane(start=partial(held.append, job), give_back=lambda: None)
                lanes.offered_waiting.add(Lanes.restaurant(job))
                return None

            self._take[kind] = take
            try:
                while True:
                    wake.clear()
                    try:
                        for job in await self._startable(kind, lanes):
                            run_taken(job)
                            if pause_s := self._pause_s.get(kind, 0.0):
                                await asyncio.sleep(pause_s)
                    except Exception:
                        log.exception("%s jobs could not be read; retrying", kind)
                    try:
                        async with asyncio.timeout(self._policy.poll_interval_s):
                            await wake.wait()
                    except TimeoutError:
                        pass
            finally:
                del self._take[kind]
                held.clear()  # stored due at the end of their lease: the loops take them then

    async def _startable(self, kind: str, lanes: Lanes) -> list[Job]:
        """The due jobs that lanes are free for, each given its lane."""
        lanes.left_waiting = False
        if not lanes.free:
            lanes.left_waiting = True
            return []
        due = await self._sources[kind].due(kind, self._clock(), BATCH, skip_clients=lanes.full())
        running = [job for job in due if lanes.runs(job)]
        taken = [job for job in due if lanes.take(job)]
        # A job found while this version of it runs here (offered, still stored) waits for no
        # lane; a version stored again meanwhile does.
        lanes.left_waiting = len(taken) + len(running) < len(due) or len(due) == BATCH
        return taken

    async def _handle(self, kind: str, handle: JobHandler, job: Job, *, offered: bool) -> None:
        try:
            lease = timedelta(seconds=self._policy.job_lease_s)
            # An offered job is hidden from every look until its lease ends: no claim needed.
            if not offered and not await self._jobs.claim(job, self._clock(), lease):
                return  # another replica runs it
            with continuing(job.trace_context):
                await handle(job)
        except Exception:
            log.exception("%s job %s failed; retrying later", kind, job.key)
            wait = self._policy.failed_job_backoff.delay(job.attempts)
            try:
                retry = job.again_at(self._clock() + timedelta(seconds=wait))
                await self._sources[kind].put(retry)
            except Exception:
                log.exception("%s job %s could not be rescheduled", kind, job.key)

    async def housekeeping(self) -> None:
        """Forgets old job claims and old webhook events (a background loop, every 10 min)."""
        while True:
            try:
                await self._adopt_webhook_jobs()
                now = self._clock()
                await self._jobs.prune_claims(
                    now - timedelta(seconds=max(3600.0, self._policy.job_lease_s))
                )
                forgotten = await self._inbox.prune(
                    now - timedelta(days=self._policy.inbox_retention_days)
                )
                if forgotten:
                    log.info("forgot %d webhook event(s)", forgotten)
            except Exception:
                log.exception("payment housekeeping failed; trying again later")
            await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)

    async def _adopt_webhook_jobs(self) -> None:
        """Webhook jobs that an earlier version stored apart from their events: each event is
        made due instead and its job removed, so an upgrade loses none."""
        every = self._clock() + timedelta(days=36500)
        for job in await self._jobs.due(WEBHOOK_JOB, every, BATCH):
            await self._inbox.put(job)
            await self._jobs.remove(WEBHOOK_JOB, job.key)
