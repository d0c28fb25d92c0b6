"""The payment service's money audit: charges paid though unwanted (refunded now), refunds stuck
past their window, charges pending far past any payment deadline (read back from Asaas), charges
whose creation stalled (its job queued again)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from services.payment import domain
from services.payment.charge_creation import ChargeCreation
from services.payment.domain import ChargeStatus
from services.payment.payments import UseCase, UseCaseContext
from services.payment.ports import RECONCILE_JOB, Job, JobQueue, PaymentRecord
from services.payment.refunds import RefundService
from shared.audit import Finding

log = logging.getLogger(__name__)

UNWANTED_BUT_PAID = "unwanted_but_paid"
REFUND_STUCK = "refund_stuck"
PENDING_TOO_LONG = "pending_too_long"
CREATING_STUCK = "creating_stuck"
KINDS = (UNWANTED_BUT_PAID, REFUND_STUCK, PENDING_TOO_LONG, CREATING_STUCK)


def refund_stuck(record: PaymentRecord, now: datetime, window_s: float) -> bool:
    """REFUND_PENDING and given up, or begun longer ago than the refund retry window (Asaas
    accepted it and never finished, or denied it later)."""
    payment = record.payment
    if payment.status is not ChargeStatus.REFUND_PENDING:
        return False
    if payment.refund_failed:
        return True
    began = record.refund.started_at if record.refund else payment.paid_at or payment.created_at
    return (now - began).total_seconds() > window_s


def pending_too_long(record: PaymentRecord, now: datetime, max_s: float) -> bool:
    """Still PENDING `max_s` after the charge was made."""
    age = (now - record.payment.created_at).total_seconds()
    return record.payment.status is ChargeStatus.PENDING and age > max_s


def creating_stuck(record: PaymentRecord, now: datetime, max_s: float) -> bool:
    """Still CREATING `max_s` after its creation began (after its last RequestPayment): far past
    the charge window, so its job was lost or it cannot end."""
    if record.payment.status is not ChargeStatus.CREATING:
        return False
    began = record.creation.started_at if record.creation else record.payment.created_at
    return (now - began).total_seconds() > max_s


class PaymentAudit(UseCase):
    """One pass over the few records each rule can match (indexed by status and creation)."""

    def __init__(
        self,
        context: UseCaseContext,
        jobs: JobQueue,
        refunds: RefundService,
        charge_creation: ChargeCreation,
    ) -> None:
        super().__init__(context)
        self._jobs = jobs
        self._refunds = refunds
        self._charge_creation = charge_creation

    async def run_pass(self) -> list[Finding]:
        now, limit = self._clock(), self._policy.audit_batch
        findings = []
        for record in await self._payments.in_status(ChargeStatus.PAID, now, limit, unwanted=True):
            if domain.refund_due(record.payment):
                refunded = await self._repair(self._refunds.refund_if_still_unwanted, record)
                findings.append(Finding(UNWANTED_BUT_PAID, record.payment.order_id, refunded))
        for record in await self._payments.in_status(ChargeStatus.REFUND_PENDING, now, limit):
            if refund_stuck(record, now, self._policy.refund_retry_window_s):
                findings.append(Finding(REFUND_STUCK, record.payment.order_id))
        pending_max_s = self._policy.audit_pending_max_s
        created_before = now - timedelta(seconds=pending_max_s)
        for record in await self._payments.in_status(ChargeStatus.PENDING, created_before, limit):
            if pending_too_long(record, now, pending_max_s):
                watched = await self._repair(self._watch_again, record)
                findings.append(Finding(PENDING_TOO_LONG, record.payment.order_id, watched))
        creating_max_s = self._policy.audit_creating_max_s
        created_before = now - timedelta(seconds=creating_max_s)
        for record in await self._payments.in_status(ChargeStatus.CREATING, created_before, limit):
            if creating_stuck(record, now, creating_max_s):
                requeued = await self._repair(self._charge_creation.requeue_if_lost, record)
                findings.append(Finding(CREATING_STUCK, record.payment.order_id, requeued))
        return findings

    async def _watch_again(self, key: str) -> bool:
        """Reads the charge back from Asaas now unless reconciliation watches it already, or
        has given it up (then only people can settle it)."""
        record = await self._payments.get(key)
        now = self._clock()
        if record is None or record.payment.payment_id is None:
            return False
        if (now - record.payment.created_at).total_seconds() > self._policy.reconcile_give_up_s:
            return False
        return await self._jobs.add(
            Job(RECONCILE_JOB, key, now, client_id=record.payment.client_id)
        )

    @staticmethod
    async def _repair(repair: Callable[[str], Awaitable[bool]], record: PaymentRecord) -> bool:
        try:
            return await repair(record.record_id)
        except Exception:
            log.exception("money audit: repairing order %s failed", record.payment.order_id)
            return False
