"""RequestRefund and the refund attempts: a paid payment's money goes back, retried while Asaas
lacks the balance or cannot be reached, within a window."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.payment import domain
from services.payment.domain import ChargeStatus, InvalidTransition, charge_reference
from services.payment.metrics import REFUNDS
from services.payment.payments import (
    CREDENTIALS_MISSING,
    PROVIDER_UNAVAILABLE,
    SAVE_ATTEMPTS,
    UseCase,
    UseCaseContext,
)
from services.payment.ports import (
    REFUND_JOB,
    UNCLEAR_FAILURES,
    AsaasAccount,
    Job,
    JobQueue,
    PaymentRecord,
    RefundState,
    RefusedForBalance,
    StaleRecord,
    record_id,
)
from shared.contracts.payments import RequestRefund
from shared.errors import PermanentError
from shared.gateway import GatewayRefused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefundAttempt:
    """How one refund call went."""

    accepted: bool
    retryable: bool = False
    unclear: bool = False
    """The call's effect is unknown: the charge is read before the next call."""
    reason: str = ""


ACCEPTED = RefundAttempt(accepted=True)


def refund_begun(
    record: PaymentRecord, *, correlation_id: str, causation_id: str, now: datetime
) -> PaymentRecord:
    """The record of a payment now REFUND_PENDING with its refund begun; once it is saved,
    `queue_refund` adds the job that makes the calls."""
    refund = RefundState(correlation_id=correlation_id, causation_id=causation_id, started_at=now)
    return replace(record, refund=refund)


def refund_if_unwanted(record: PaymentRecord, now: datetime) -> PaymentRecord:
    """Money taken for a charge its order no longer wants goes back at once: the record with its
    refund begun (as it is when no refund is due)."""
    if not domain.refund_due(record.payment):
        return record
    decision = domain.refund_requested(record.payment)
    return refund_begun(
        replace(record, payment=decision.state),
        correlation_id=record.correlation_id,
        causation_id=record.causation_id,
        now=now,
    )


def refund_call_due(record: PaymentRecord) -> bool:
    """The payment's refund has begun and Asaas has neither accepted it nor been given up on."""
    payment = record.payment
    return (
        record.refund is not None
        and payment.status is ChargeStatus.REFUND_PENDING
        and not payment.refund_failed
        and not payment.refund_announced
    )


async def queue_refund(
    jobs: JobQueue, wake: Callable[[str], None], record: PaymentRecord, now: datetime
) -> None:
    """Adds the refund job of a saved record whose refund call is due, unless it has one. Called
    after the save (a job run before it would find no refund to make and end) and whenever such
    a record is met again, so a crash between the save and the job loses no refund."""
    if not refund_call_due(record):
        return
    if await jobs.add(Job(REFUND_JOB, record.record_id, now, client_id=record.payment.client_id)):
        wake(REFUND_JOB)


class RefundService(UseCase):
    """Starts refunds and makes the attempts the refund loop runs."""

    def __init__(
        self, context: UseCaseContext, jobs: JobQueue, wake: Callable[[str], None]
    ) -> None:
        super().__init__(context)
        self._jobs = jobs
        self._wake = wake

    async def request_refund(self, command: RequestRefund) -> None:
        """Starts a full refund: the payment is REFUND_PENDING and a refund job is due now."""
        key = record_id(command.client_id, charge_reference(command.order_id, command.attempt))
        async with self._payments.one_use_case_at_a_time(key):
            record = await self._payments.get(key)
            if record is None or record.payment.payment_id is None:
                raise PermanentError(f"no charge is known for order {command.order_id}")
            try:
                decision = domain.refund_requested(record.payment)
            except InvalidTransition as error:
                raise PermanentError(str(error)) from None
            if decision.unchanged:
                log.info("order %s: refund already %s", command.order_id, record.payment.status)
            else:
                begun = refund_begun(
                    replace(record, payment=decision.state),
                    correlation_id=command.correlation_id,
                    causation_id=str(command.event_id),
                    now=self._clock(),
                )
                record = await self._payments.save(begun)
            # Also when unchanged: a redelivery after a crash that left the refund without job.
            await queue_refund(self._jobs, self._wake, record, self._clock())

    async def refund_if_still_unwanted(self, key: str) -> bool:
        """Starts the refund of a paid charge its order cancelled, unless it has begun (the
        money audit's repair); True when it started one."""
        async with self._payments.one_use_case_at_a_time(key):
            record = await self._payments.get(key)
            if record is None or not domain.refund_due(record.payment):
                return False
            begun = await self._payments.save(refund_if_unwanted(record, self._clock()))
            await queue_refund(self._jobs, self._wake, begun, self._clock())
        return True

    async def refund(self, job: Job) -> None:
        """One refund attempt; retried later for balance or transient trouble, within a window."""
        key = job.key
        async with self._payments.one_use_case_at_a_time(key):
            record = await self._payments.get(key)
            if record is None or not refund_call_due(record):
                await self._jobs.remove(REFUND_JOB, key)
                return
            attempt = await self._try_refund(record)
            if attempt.accepted:
                await self._accepted(record)
            else:
                await self._not_accepted(record, attempt)
        await self._payments.publish(key)

    async def _accepted(self, record: PaymentRecord) -> None:
        now = self._clock()
        for _ in range(SAVE_ATTEMPTS):
            assert record.refund is not None
            decision = domain.refund_accepted(record.payment, now)
            refund = replace(record.refund, attempts=record.refund.attempts + 1, unclear=False)
            done = replace(record, payment=decision.state, refund=refund)
            try:
                await self._payments.save(done, self._messages.of_facts(done, decision.events))
                break
            except StaleRecord:
                # A webhook of this very refund, applied by another replica, came between the
                # read and the save: the accepted call is recorded on the payment as it is now
                # (announced already, it announces nothing more).
                fresh = await self._payments.get(record.record_id)
                if fresh is None or fresh.refund is None:
                    raise
                record = fresh
        else:
            raise StaleRecord(f"payment {record.record_id} kept changing")
        await self._jobs.remove(REFUND_JOB, record.record_id)
        await self._payments.watch(record.record_id, record.payment.client_id, now)
        REFUNDS.labels("accepted").inc()

    async def _not_accepted(self, record: PaymentRecord, attempt: RefundAttempt) -> None:
        """Tries again later while the window lasts (a last try at its end), else gives up."""
        assert record.refund is not None
        key, now = record.record_id, self._clock()
        attempts, reason = record.refund.attempts + 1, attempt.reason
        wait = self._policy.refund_backoff.delay(attempts)
        deadline = record.refund.started_at + timedelta(seconds=self._policy.refund_retry_window_s)
        retry_at = min(now + timedelta(seconds=wait), deadline)
        later = replace(
            record.refund, attempts=attempts, last_error=reason, unclear=attempt.unclear
        )
        if attempt.retryable and now < deadline:
            await self._payments.save(replace(record, refund=later))
            await self._jobs.put(
                Job(
                    REFUND_JOB, key, retry_at, attempts=attempts, client_id=record.payment.client_id
                )
            )
            REFUNDS.labels("retried").inc()
            log.info("refund of %s: attempt %d failed (%s); retrying", key, attempts, reason)
            return
        decision = domain.refund_gave_up(record.payment, now, reason, attempts)
        failed = replace(record, payment=decision.state, refund=later)
        await self._payments.save(failed, self._messages.of_facts(failed, decision.events))
        await self._jobs.remove(REFUND_JOB, key)
        REFUNDS.labels("failed").inc()
        log.error("refund of %s failed after %d attempt(s): %s", key, attempts, reason)

    async def _try_refund(self, record: PaymentRecord) -> RefundAttempt:
        assert record.refund is not None
        charge_id = record.payment.payment_id
        assert charge_id is not None
        account = await self._accounts.account(record.payment.client_id)
        if account is None:
            return RefundAttempt(
                False, retryable=True, reason=f"{CREDENTIALS_MISSING}: no Asaas credentials"
            )
        try:
            if record.refund.unclear and (await account.charge(charge_id)).refund_under_way:
                return ACCEPTED
            await account.refund(charge_id)
        except RefusedForBalance as error:
            return RefundAttempt(False, retryable=True, reason=f"{error.code}: {error.description}")
        except GatewayRefused as error:
            if await self._refund_under_way(account, charge_id):
                return ACCEPTED  # an earlier call, answer lost, was carried out
            return RefundAttempt(False, reason=f"{error.code}: {error.description}")
        except UNCLEAR_FAILURES as error:
            reason = f"{PROVIDER_UNAVAILABLE}: {type(error).__name__}"
            return RefundAttempt(False, retryable=True, unclear=True, reason=reason)
        return ACCEPTED

    @staticmethod
    async def _refund_under_way(account: AsaasAccount, charge_id: str) -> bool:
        try:
            charge = await account.charge(charge_id)
        except (GatewayRefused, *UNCLEAR_FAILURES):
            return False
        return charge.refund_under_way
