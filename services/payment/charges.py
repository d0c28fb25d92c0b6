"""RequestPayment and CancelPayment: each charge attempt of an order recorded CREATING with the
job that creates it on Asaas (`charge_creation.py`), and deleted while it is pending."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from services.payment import domain
from services.payment.domain import ChargeStatus, Payment, charge_reference
from services.payment.payments import UseCase, UseCaseContext
from services.payment.ports import (
    CHARGE_JOB,
    REFUND_JOB,
    AsaasAccount,
    CreationState,
    Job,
    JobQueue,
    PaymentRecord,
    record_id,
)
from services.payment.refunds import refund_if_unwanted
from shared.contracts.base import Envelope
from shared.contracts.payments import CancelPayment, RequestPayment
from shared.errors import PermanentError
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


def creation_job(record: PaymentRecord, now: datetime) -> Job:
    """The job that creates (or, for a charge no longer wanted, ends) a CREATING payment's
    charge, due at `now`."""
    return Job(CHARGE_JOB, record.record_id, now, client_id=record.payment.client_id)


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
        """Deletes the pending charge of the order's attempt; PaymentCancelled when Asaas deleted
        it."""
        reference = charge_reference(command.order_id, command.attempt)
        key = record_id(command.client_id, reference)
        async with self._payments.one_use_case_at_a_time(key):
            record = await self._payments.get(key)
            if record is not None:
                # Marked first: money that reaches this charge from now on goes back.
                record = await self._mark_unwanted(record)
            if record is not None and record.payment.status not in DELETABLE:
                log.info(
                    "order %s: charge is %s, nothing to delete",
                    command.order_id,
                    record.payment.status,
                )
                return
            if record is not None and record.payment.status is ChargeStatus.CREATING:
                # Its creation job, due now, creates no charge for it (or deletes the one it
                # made): Asaas is not called here while a restaurant's calls may be slow.
                await self._jobs.put(creation_job(record, self._clock()))
                self._wake(CHARGE_JOB)
                return
            account = await self._accounts.account(command.client_id)
            if account is None:
                if command.payment_id or (record and record.payment.payment_id):
                    raise PermanentError(f"restaurant {command.client_id} has no credentials")
                log.info("order %s: no credentials, so no charge to delete", command.order_id)
                return
            known = command.payment_id or (record.payment.payment_id if record else None)
            if known is not None:
                charge_ids = [known]
            else:
                charges = await account.charges_of_reference(reference)
                charge_ids = [charge.charge_id for charge in charges]
            await self.delete(account, record, charge_ids, cause=command)
        await self._payments.publish(key)

    async def delete(
        self,
        account: AsaasAccount,
        record: PaymentRecord | None,
        charge_ids: list[str],
        cause: Envelope | None = None,
    ) -> None:
        """Deletes the charges on Asaas; when the record's own is gone, it is CANCELLED
        (PaymentCancelled, caused by `cause`, else by its RequestPayment). Call it under the
        payment's use-case lock."""
        deleted = [cid for cid in charge_ids if await self._delete(account, cid)]
        if record is None or record.payment.payment_id not in deleted:
            return
        decision = domain.deleted(record.payment, self._clock())
        if not decision.unchanged:
            cancelled = replace(record, payment=decision.state)
            events = self._messages.of_facts(cancelled, decision.events, cause=cause)
            await self._payments.save(cancelled, events)
        await self._payments.unwatch(record.record_id)

    async def _mark_unwanted(self, record: PaymentRecord) -> PaymentRecord:
        """Saves that the order no longer wants the charge; a paid one starts its refund."""
        decision = domain.cancel_requested(record.payment)
        if decision.unchanged:
            return record
        marked, refund_job = refund_if_unwanted(
            replace(record, payment=decision.state), self._clock()
        )
        if refund_job is not None:
            log.warning(
                "order %s: its cancelled charge was paid; refunding", record.payment.order_id
            )
            await self._jobs.put(refund_job)
        saved = await self._payments.save(marked)
        if refund_job is not None:
            self._wake(REFUND_JOB)
        return saved

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
