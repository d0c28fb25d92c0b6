"""The durable job runner: slow or repeated work (webhook processing, refund attempts,
reconciliation) is a job in MongoDB taken by a background loop, so no Kafka partition waits on
Asaas for long."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from services.payment.config import PaymentPolicy
from services.payment.ports import JOB_KINDS, RECONCILE_JOB, Job, JobQueue, WebhookInbox

log = logging.getLogger(__name__)

BATCH = 100
HOUSEKEEPING_INTERVAL_S = 600.0

JobHandler = Callable[[Job], Awaitable[None]]


class JobRunner:
    """One loop per job kind, woken when a job is due now; replicas share the queue."""

    def __init__(
        self,
        jobs: JobQueue,
        inbox: WebhookInbox,
        policy: PaymentPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._jobs = jobs
        self._inbox = inbox
        self._policy = policy
        self._clock = clock
        self._wake = {kind: asyncio.Event() for kind in JOB_KINDS}
        # Reconciliation reads Asaas once a job: at most `reconcile_rate_per_s` a second.
        self._pause_s = {RECONCILE_JOB: 1.0 / policy.reconcile_rate_per_s}

    def wake(self, kind: str) -> None:
        """A job of `kind` is due now: its loop looks at once rather than at its next poll."""
        self._wake[kind].set()

    async def run(self, kind: str, handle: JobHandler) -> None:
        """Takes due jobs of `kind` forever; a failing job is logged and tried again later."""
        wake = self._wake[kind]
        pause_s = self._pause_s.get(kind, 0.0)
        while True:
            wake.clear()
            taken = 0
            try:
                due = await self._jobs.due(kind, self._clock(), BATCH)
                for job in due:
                    taken += 1
                    await self._handle(kind, handle, job)
                    if pause_s:
                        await asyncio.sleep(pause_s)
            except Exception:
                log.exception("%s jobs could not be read; retrying", kind)
            if taken < BATCH:
                try:
                    async with asyncio.timeout(self._policy.poll_interval_s):
                        await wake.wait()
                except TimeoutError:
                    pass

    async def _handle(self, kind: str, handle: JobHandler, job: Job) -> None:
        try:
            lease = timedelta(seconds=self._policy.job_lease_s)
            if not await self._jobs.claim(job, self._clock(), lease):
                return  # another replica runs it
            await handle(job)
        except Exception:
            log.exception("%s job %s failed; retrying later", kind, job.key)
            wait = self._policy.failed_job_backoff.delay(job.attempts)
            try:
                await self._jobs.put(job.again_at(self._clock() + timedelta(seconds=wait)))
            except Exception:
                log.exception("%s job %s could not be rescheduled", kind, job.key)

    async def housekeeping(self) -> None:
        """Forgets old job claims and old webhook events (a background loop, every 10 min)."""
        while True:
            try:
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
