"""RequestPayment and CancelPayment: each charge attempt of an order recorded CREATING with the
job that creates it on Asaas (`charge_creation.py`), and marked unwanted with the job that
deletes it while it is pending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from services.payment import domain
from services.payment.domain import ChargeStatus, Payment, charge_reference
from services.payment.payments import UseCase, UseCaseContext
from services.payment.ports import (
    CHARGE_JOB,
    DELETION_JOB,
    UNCLEAR_FAILURES,
    AsaasAccount,
    CreationState,
    Job,
    JobQueue,
    PaymentRecord,
    record_id,
)
from services.payment.refunds import queue_refund, refund_if_unwanted
from shared.contracts.payments import CancelPayment, RequestPayment
from shared.gateway import GatewayRefused

log = logging.getLogger(__name__)

DELETABLE = frozenset(
    {
        ChargeStatus.CREATING,
        ChargeStatus.CREATION_FAILED,
        ChargeStatus.PENDING,
        ChargeStatus.FAILED,
    }
)
"""Statuses whose charge (if any) CancelPayment deletes; a paid one is refunded instead."""
CAUSE = "cancelPayment"
"""A deletion job's data: the CancelPayment it answers, as received (JSON)."""


def creation_job(record: PaymentRecord, now: datetime) -> Job:
    """The job that creates (or, for a charge no longer wanted, ends) a CREATING payment's
    charge, due at `now`."""
    return Job(CHARGE_JOB, record.record_id, now, client_id=record.payment.client_id)


def deletion_job(
    key: str, client_id: str, now: datetime, cause: CancelPayment | None = None
) -> Job:
    """The job that deletes a payment's charge on Asaas, due at `now`, carrying the CancelPayment
    it answers (without one, its PaymentCancelled answers the RequestPayment)."""
    data = {} if cause is None else {CAUSE: cause.model_dump(mode="json", by_alias=True)}
    return Job(DELETION_JOB, key, now, data=data, client_id=client_id)


def cause_of(job: Job) -> CancelPayment | None:
    """The CancelPayment a deletion job answers, if any."""
    wire = job.data.get(CAUSE)
    return None if wire is None else CancelPayment.model_validate(wire)


def deletion_target(
    record: PaymentRecord | None, cause: CancelPayment | None
) -> tuple[str, str | None] | None:
    """What a deletion job deletes: the `externalReference` of the charge and its id when known
    (else every charge of that reference); None when nothing is left to delete: paid meanwhile
    (then refunded, being unwanted), deleted, or still being created (its job deletes it)."""
    named = cause.payment_id if cause is not None else None
    if record is None:
        if cause is None:
            return None
        return charge_reference(cause.order_id, cause.attempt), named
    status = record.payment.status
    if status not in DELETABLE or status is ChargeStatus.CREATING:
        return None
    return record.payment.reference, named or record.payment.payment_id


def creation_of(command: RequestPayment, now: datetime, *, unclear: bool) -> CreationState:
    return CreationState(
        request=command.model_dump(mode="json", by_alias=True), started_at=now, unclear=unclear
    )


class ChargeService(UseCase):
    """Records the orders' charges to create and deletes the charges they no longer want."""

    def __init__(
        self, context: UseCaseContext, jobs: JobQueue, wake: Callable[[str], None]
    ) -> None:
        super().__init__(context)
        self._jobs = jobs
        self._wake = wake

    # RequestPayment

    async def request_payment(self, command: RequestPayment) -> None:
        """Records the payment of the order's attempt CREATING with a job due now that creates
        its charge (and publishes PaymentCreated or PaymentCreationFailed); Asaas is not called
        here, so a restaurant whose Asaas is slow holds up no other."""
        key = record_id(command.client_id, charge_reference(command.order_id, command.attempt))
        async with self._payments.one_use_case_at_a_time(key):
            queued = await self._queue_creation(command, key)
        if queued:
            self._wake(CHARGE_JOB)

    async def _queue_creation(self, command: RequestPayment, key: str) -> bool:
        """True when a creation job is due now."""
        now = self._clock()
        record = await self._payments.get(key)
        if record is None:
            fresh = PaymentRecord(
                payment=Payment(
                    order_id=command.order_id,
                    client_id=command.client_id,
                    store_id=command.store_id,
                    method=command.payment_method,
                    amount_cents=command.amount_cents,
                    status=ChargeStatus.CREATING,
                    created_at=now,
                    attempt=command.attempt,
                ),
                correlation_id=command.correlation_id,
                causation_id=str(command.event_id),
                time_zone=command.time_zone,
                creation=creation_of(command, now, unclear=False),
            )
            # The record first: a job that ran before it would find nothing to do and end; a
            # crash in between is redelivered and finds the record CREATING, without its job.
            if await self._payments.insert(fresh) is not None:
                return await self._jobs.add(creation_job(fresh, now))
            record = await self._payments.get(key)
            assert record is not None
        match record.payment.status:
            case ChargeStatus.CREATING:
                if record.creation is None:
                    # Left CREATING by a crash mid-call before creation was a job: the charge
                    # may exist on Asaas.
                    creation = creation_of(command, now, unclear=True)
                    record = await self._payments.save(replace(record, creation=creation))
                return await self._jobs.add(creation_job(record, now))
            case ChargeStatus.CREATION_FAILED:
                # A failure after an unclear call may have left a charge: looked up first.
                retried = replace(
                    record,
                    payment=domain.retry_creation(record.payment),
                    correlation_id=command.correlation_id,
                    causation_id=str(command.event_id),
                    creation=creation_of(command, now, unclear=True),
                )
                await self._payments.save(retried)
                await self._jobs.put(creation_job(retried, now))
                return True
            case _:
                log.info(
                    "order %s already has charge %s (%s); RequestPayment %s changes nothing",
                    command.order_id,
                    record.payment.payment_id,
                    record.payment.status,
                    command.event_id,
                )
                return False

    # CancelPayment

    async def cancel_payment(self, command: CancelPayment) -> None:
        """Marks the charge of the order's attempt unwanted and queues the job that deletes it on
        Asaas (PaymentCancelled once deleted); Asaas is not called here, so a restaurant whose
        Asaas is slow holds up no other."""
        key = record_id(command.client_id, charge_reference(command.order_id, command.attempt))
        async with self._payments.one_use_case_at_a_time(key):
            record = await self._payments.get(key)
            if record is not None:
                # Marked first: money that reaches this charge from now on goes back.
                record = await self._mark_unwanted(record)
                if record.payment.status not in DELETABLE:
                    log.info(
                        "order %s: charge is %s, nothing to delete",
                        command.order_id,
                        record.payment.status,
                    )
                    return
                if record.payment.status is ChargeStatus.CREATING:
                    # Its creation job, due now, creates no charge for it (or deletes the one
                    # it made).
                    await self._jobs.put(creation_job(record, self._clock()))
                    self._wake(CHARGE_JOB)
                    return
            # Without a record too: a charge made for the attempt is found by its reference.
            await self._jobs.put(deletion_job(key, command.client_id, self._clock(), command))
        self._wake(DELETION_JOB)

    async def queue_deletion(self, record: PaymentRecord) -> None:
        """Adds the deletion job of a charge its order no longer wants, unless it has one (for a
        charge made while its order cancelled it)."""
        job = deletion_job(record.record_id, record.payment.client_id, self._clock())
        if await self._jobs.add(job):
            self._wake(DELETION_JOB)

    async def delete_charge(self, job: Job) -> None:
        """One run of a deletion job: the charge is deleted on Asaas and its payment CANCELLED
        (PaymentCancelled), or the job is due again after a backoff while Asaas cannot be
        reached. Asaas is called without the payment's use-case lock."""
        key, cause = job.key, cause_of(job)
        target = deletion_target(await self._payments.get(key), cause)
        if target is None:
            await self._jobs.remove(DELETION_JOB, key)
            return
        reference, charge_id = target
        try:
            deleted = await self.delete_on_asaas(job.client_id, reference, charge_id)
        except UNCLEAR_FAILURES as error:
            wait = self._policy.charge_backoff.delay(job.attempts)
            await self._jobs.put(job.again_at(self._clock() + timedelta(seconds=wait)))
            log.info("charge of %s not deleted yet (%s); trying again", key, type(error).__name__)
            return
        if deleted:
            async with self._payments.one_use_case_at_a_time(key):
                await self._cancelled(key, deleted, cause)
            await self._payments.publish(key)
        await self._jobs.remove(DELETION_JOB, key)

    async def delete_on_asaas(
        self, client_id: str, reference: str, charge_id: str | None
    ) -> list[str]:
        """Deletes the charge `charge_id` (when None, those of `reference`) on the restaurant's
        Asaas account: the ids deleted or gone already. Raises one of `UNCLEAR_FAILURES` while
        Asaas cannot be reached."""
        account = await self._accounts.account(client_id)
        if account is None:
            log.warning("%s has no Asaas credentials: charge %s not deleted", client_id, reference)
            return []
        if charge_id is not None:
            charge_ids = [charge_id]
        else:
            try:
                charge_ids = [c.charge_id for c in await account.charges_of_reference(reference)]
            except GatewayRefused as error:
                log.warning("Asaas refused to list the charges of %s: %s", reference, error)
                return []
        return [cid for cid in charge_ids if await self._delete(account, cid)]

    async def _cancelled(self, key: str, deleted: list[str], cause: CancelPayment | None) -> None:
        """When Asaas deleted the payment's own charge, it is CANCELLED (PaymentCancelled,
        caused by `cause`, else by its RequestPayment). Read again, under its use-case lock."""
        record = await self._payments.get(key)
        if record is None or record.payment.payment_id not in deleted:
            return
        decision = domain.deleted(record.payment, self._clock())
        if not decision.unchanged:
            cancelled = replace(record, payment=decision.state)
            events = self._messages.of_facts(cancelled, decision.events, cause=cause)
            await self._payments.save(cancelled, events)
        await self._payments.unwatch(key)

    async def _mark_unwanted(self, record: PaymentRecord) -> PaymentRecord:
        """Saves that the order no longer wants the charge; a paid one starts its refund."""
        decision = domain.cancel_requested(record.payment)
        if not decision.unchanged:
            marked = replace(record, payment=decision.state)
            if domain.refund_due(marked.payment):
                log.warning(
                    "order %s: its cancelled charge was paid; refunding", record.payment.order_id
                )
            record = await self._payments.save(refund_if_unwanted(marked, self._clock()))
        # Also when unchanged: a redelivery after a crash that left the refund without job.
        await queue_refund(self._jobs, self._wake, record, self._clock())
        return record

    @staticmethod
    async def _delete(account: AsaasAccount, charge_id: str) -> bool:
        try:
            await account.delete_charge(charge_id)
        except GatewayRefused as error:
            if error.status == 404:
                return True  # already gone
            log.warning("Asaas refused to delete charge %s: %s", charge_id, error)
            return False
        return True
