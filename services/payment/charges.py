"""RequestPayment and CancelPayment: each charge attempt of an order on Asaas, created at most
once and deleted while it is pending."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from services.payment import domain
from services.payment.domain import ChargeStatus, Payment, charge_reference
from services.payment.metrics import PAYMENT_CREATION_FAILURES, PAYMENTS_CREATED
from services.payment.payments import (
    CREDENTIALS_MISSING,
    PROVIDER_UNAVAILABLE,
    UseCase,
    UseCaseContext,
)
from services.payment.pix_images import PixImages
from services.payment.ports import (
    REFUND_JOB,
    UNCLEAR_FAILURES,
    AsaasAccount,
    Charge,
    ChargeRequest,
    JobQueue,
    PaymentRecord,
    record_id,
)
from services.payment.refunds import refund_if_unwanted
from shared.contracts.payments import CancelPayment, RequestPayment
from shared.errors import PermanentError
from shared.gateway import GatewayRefused, GatewaySettings

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


class ChargeService(UseCase):
    """Creates and deletes the orders' charges."""

    def __init__(
        self,
        context: UseCaseContext,
        gateway: GatewaySettings,
        pix_images: PixImages,
        jobs: JobQueue,
        wake: Callable[[str], None],
    ) -> None:
        super().__init__(context)
        self._gateway = gateway
        self._pix_images = pix_images
        self._jobs = jobs
        self._wake = wake

    # RequestPayment

    async def request_payment(self, command: RequestPayment) -> None:
        """Creates the charge of the order's attempt; publishes PaymentCreated or
        PaymentCreationFailed."""
        key = record_id(command.client_id, charge_reference(command.order_id, command.attempt))
        async with self._payments.one_use_case_at_a_time(key):
            await self._charge(command, key)
        await self._payments.publish(key)

    async def _charge(self, command: RequestPayment, key: str) -> None:
        record, unclear = await self._start_creation(command, key)
        if record is None:
            return
        account = await self._accounts.account(command.client_id)
        if account is None:
            await self._creation_failed(
                record,
                command,
                CREDENTIALS_MISSING,
                "The restaurant has no Asaas credentials configured.",
                retryable=False,
            )
            return
        try:
            charge = await self._create_charge(account, command, unclear)
        except GatewayRefused as error:
            await self._creation_failed(
                record, command, error.code, error.description, retryable=False
            )
            return
        except UNCLEAR_FAILURES as error:
            await self._creation_failed(
                record,
                command,
                PROVIDER_UNAVAILABLE,
                f"Asaas could not be reached: {type(error).__name__}",
                retryable=True,
            )
            return
        instructions = await self._pix_images.publish(
            await account.instructions(charge, command.payment_method, command.time_zone)
        )
        payment = domain.created(record.payment, charge.charge_id)
        record = replace(record, payment=payment, instructions=instructions.to_wire())
        events = self._messages.created(command, charge.charge_id, instructions)
        # The watch first: a crash between the two leaves a job that finds nothing to do,
        # never a pending payment that nobody reconciles.
        await self._payments.watch(key, self._clock())
        await self._payments.save(record, events)
        PAYMENTS_CREATED.labels(command.payment_method.value).inc()
        log.info("charge %s created for order %s", payment.payment_id, command.order_id)

    async def _start_creation(
        self, command: RequestPayment, key: str
    ) -> tuple[PaymentRecord | None, bool]:
        """The record to create a charge for, and whether a charge may exist already."""
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
                    created_at=self._clock(),
                    attempt=command.attempt,
                ),
                correlation_id=command.correlation_id,
                causation_id=str(command.event_id),
                time_zone=command.time_zone,
            )
            inserted = await self._payments.insert(fresh)
            if inserted is not None:
                return inserted, False
            record = await self._payments.get(key)
            assert record is not None
        match record.payment.status:
            case ChargeStatus.CREATING:
                # A crash or an unclear failure mid-way: the charge may exist on Asaas.
                return record, True
            case ChargeStatus.CREATION_FAILED:
                retried = replace(
                    record,
                    payment=domain.retry_creation(record.payment),
                    correlation_id=command.correlation_id,
                    causation_id=str(command.event_id),
                )
                return await self._payments.save(retried), True
            case _:
                log.info(
                    "order %s already has charge %s (%s); RequestPayment %s changes nothing",
                    command.order_id,
                    record.payment.payment_id,
                    record.payment.status,
                    command.event_id,
                )
                return None, False

    async def _creation_failed(
        self,
        record: PaymentRecord,
        command: RequestPayment,
        reason: str,
        message: str,
        *,
        retryable: bool,
    ) -> None:
        failed = replace(record, payment=domain.creation_failed(record.payment))
        events = self._messages.creation_failed(command, reason, message, retryable=retryable)
        await self._payments.save(failed, events)
        PAYMENT_CREATION_FAILURES.labels(reason).inc()
        log.warning("no charge for order %s: %s (%s)", command.order_id, reason, message)

    async def _create_charge(
        self, account: AsaasAccount, command: RequestPayment, unclear: bool
    ) -> Charge:
        """Creates the charge once: after an unclear failure it is looked up before each retry,
        and once more after the last failure, because Asaas has no idempotency key."""
        reference = charge_reference(command.order_id, command.attempt)
        request = ChargeRequest(
            reference=reference,
            customer_id=await account.customer_id(command.customer),
            method=command.payment_method,
            amount_cents=command.amount_cents,
            due_date=command.due_date or domain.charge_due_date(self._clock(), command.time_zone),
            description=command.description,
        )
        started = self._clock()
        attempts = self._gateway.attempts
        last_error: BaseException | None = None
        for attempt in range(attempts + 1):
            if unclear:
                existing = await account.charges_of_reference(reference)
                if existing:
                    log.info("charge %s found by externalReference", reference)
                    return existing[0]
            elapsed = (self._clock() - started).total_seconds()
            if attempt == attempts or elapsed > self._gateway.max_elapsed_s:
                break
            try:
                return await account.create_charge(request)
            except UNCLEAR_FAILURES as error:
                unclear, last_error = True, error
                await asyncio.sleep(self._gateway.backoff.delay(attempt))
        assert last_error is not None
        raise last_error

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
            deleted = [cid for cid in charge_ids if await self._delete(account, cid)]
            if record is None or record.payment.payment_id not in deleted:
                return
            decision = domain.deleted(record.payment, self._clock())
            if not decision.unchanged:
                cancelled = replace(record, payment=decision.state)
                events = self._messages.of_facts(cancelled, decision.events, cause=command)
                await self._payments.save(cancelled, events)
            await self._payments.unwatch(key)
        await self._payments.publish(key)

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
