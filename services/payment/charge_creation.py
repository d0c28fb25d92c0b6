"""The charge job: creates a CREATING payment's charge on Asaas, one call a run, tried again with
backoff while Asaas cannot take it, within a window; a charge its order no longer wants is
never created, or once made left to its deletion job."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from services.payment import domain
from services.payment.charges import ChargeService, creation_job
from services.payment.domain import ChargeStatus, charge_reference
from services.payment.metrics import PAYMENT_CREATION_FAILURES, PAYMENTS_CREATED
from services.payment.payments import (
    CREDENTIALS_MISSING,
    PROVIDER_UNAVAILABLE,
    UseCase,
    UseCaseContext,
)
from services.payment.pix_images import PixImages
from services.payment.ports import (
    CHARGE_JOB,
    UNCLEAR_FAILURES,
    AsaasAccount,
    Charge,
    ChargeRequest,
    Job,
    JobQueue,
    PaymentRecord,
)
from shared.contracts.payments import PaymentInstructions, RequestPayment
from shared.gateway import GatewayRefused

log = logging.getLogger(__name__)

CANCELLED_BEFORE_CREATION = "CANCELLED_BEFORE_CREATION"
NO_CREDENTIALS = "The restaurant has no Asaas credentials configured."


@dataclass(frozen=True)
class Created:
    charge: Charge
    instructions: PaymentInstructions


@dataclass(frozen=True)
class Refused:
    reason: str
    message: str


@dataclass(frozen=True)
class Unclear:
    message: str


Outcome = Created | Refused | Unclear | None
"""How a run's calls went; None: no charge exists and none was asked for (an unwanted one)."""


class ChargeCreation(UseCase):
    """Runs the charge jobs; the money audit requeues one that was lost."""

    def __init__(
        self,
        context: UseCaseContext,
        pix_images: PixImages,
        jobs: JobQueue,
        charges: ChargeService,
    ) -> None:
        super().__init__(context)
        self._pix_images = pix_images
        self._jobs = jobs
        self._charges = charges

    async def create(self, job: Job) -> None:
        """One run of a charge job: PaymentCreated or PaymentCreationFailed, or a later run.
        Asaas is called without the payment's use-case lock, so a CancelPayment meanwhile
        waits for no slow call; what it changed is read again before the outcome is saved."""
        key = job.key
        async with self._payments.one_use_case_at_a_time(key):
            before = await self._before_call(key)
        if before is None:
            return
        record, look_up = before
        outcome = await self._call(record, look_up=look_up)
        async with self._payments.one_use_case_at_a_time(key):
            await self._after_call(record, outcome)
        await self._payments.publish(key)

    async def requeue_if_lost(self, key: str) -> bool:
        """Queues the creation job of a payment still CREATING unless it has one (the money
        audit's repair); True when it queued one."""
        record = await self._payments.get(key)
        if record is None or record.payment.status is not ChargeStatus.CREATING:
            return False
        if record.creation is None:
            return False  # nothing says what to charge: only RequestPayment again can
        return await self._jobs.add(creation_job(record, self._clock()))

    async def _before_call(self, key: str) -> tuple[PaymentRecord, bool] | None:
        """The CREATING record to call Asaas for and whether a charge may exist already (then
        it is looked up first); None, the job removed, when there is nothing to do."""
        record = await self._payments.get(key)
        if (
            record is None
            or record.payment.status is not ChargeStatus.CREATING
            or record.creation is None
        ):
            if (
                record is not None
                and record.payment.unwanted
                and record.payment.status is ChargeStatus.PENDING
            ):
                # Made while its order cancelled it: a crash may have come before its deletion
                # job was added.
                await self._charges.queue_deletion(record)
            await self._jobs.remove(CHARGE_JOB, key)
            return None
        look_up = record.creation.unclear
        if record.payment.unwanted:
            return record, look_up
        creation = replace(record.creation, attempts=record.creation.attempts + 1, unclear=True)
        # Saved before the call: a crash during it leaves a job that looks the charge up first.
        return await self._payments.save(replace(record, creation=creation)), look_up

    async def _call(self, record: PaymentRecord, *, look_up: bool) -> Outcome:
        assert record.creation is not None
        request = RequestPayment.model_validate(record.creation.request)
        account = await self._accounts.account(record.payment.client_id)
        if account is None:
            return Refused(CREDENTIALS_MISSING, NO_CREDENTIALS)
        try:
            charge = await self._charge(
                account, request, look_up=look_up, create=not record.payment.unwanted
            )
            if charge is None:
                return None
            instructions = await account.instructions(
                charge, request.payment_method, request.time_zone
            )
        except GatewayRefused as error:
            return Refused(error.code, error.description)
        except UNCLEAR_FAILURES as error:
            return Unclear(f"Asaas could not be reached: {type(error).__name__}")
        return Created(charge, await self._pix_images.publish(instructions))

    async def _charge(
        self, account: AsaasAccount, request: RequestPayment, *, look_up: bool, create: bool
    ) -> Charge | None:
        """The charge of the request's attempt: found (after an unclear call, since Asaas has
        no idempotency key), else created with one call if `create`."""
        reference = charge_reference(request.order_id, request.attempt)
        if look_up:
            existing = await account.charges_of_reference(reference)
            if existing:
                log.info("charge %s found by externalReference", reference)
                return existing[0]
        if not create:
            return None
        return await account.create_charge(
            ChargeRequest(
                reference=reference,
                customer_id=await account.customer_id(request.customer),
                method=request.payment_method,
                amount_cents=request.amount_cents,
                due_date=request.due_date
                or domain.charge_due_date(self._clock(), request.time_zone),
                description=request.description,
            )
        )

    async def _after_call(self, called: PaymentRecord, outcome: Outcome) -> None:
        key = called.record_id
        # Read again: a CancelPayment may have marked it unwanted during the call.
        record = await self._payments.get(key)
        if (
            record is None
            or record.payment.status is not ChargeStatus.CREATING
            or record.creation is None
        ):
            # Settled meanwhile (by another run, after a lease ran out): a charge made now
            # that it does not hold belongs to nobody.
            if isinstance(outcome, Created) and (
                record is None or record.payment.payment_id != outcome.charge.charge_id
            ):
                await self._charges.delete_on_asaas(
                    called.payment.client_id, called.payment.reference, outcome.charge.charge_id
                )
            await self._jobs.remove(CHARGE_JOB, key)
            return
        request = RequestPayment.model_validate(record.creation.request)
        match outcome:
            case Created():
                await self._created(record, request, outcome)
            case Refused(reason=reason, message=message):
                await self._failed(record, request, reason, message, retryable=False)
            case Unclear():
                await self._unclear(record, request, outcome)
            case None:
                message = "The order cancelled the charge before it was created."
                await self._failed(
                    record, request, CANCELLED_BEFORE_CREATION, message, retryable=False
                )

    async def _created(
        self, record: PaymentRecord, request: RequestPayment, outcome: Created
    ) -> None:
        charge_id, now = outcome.charge.charge_id, self._clock()
        created = replace(
            record,
            payment=domain.created(record.payment, charge_id),
            instructions=outcome.instructions.to_wire(),
            creation=None,
        )
        events = self._messages.created(request, charge_id, outcome.instructions)
        # The watch first: a crash between the two leaves a job that finds nothing to do,
        # never a pending payment that nobody reconciles.
        await self._payments.watch(record.record_id, record.payment.client_id, now)
        created = await self._payments.save(created, events)
        if created.payment.unwanted:
            # Its order cancelled it during the call: deleted by its job, as CancelPayment's.
            await self._charges.queue_deletion(created)
        await self._jobs.remove(CHARGE_JOB, record.record_id)
        PAYMENTS_CREATED.labels(request.payment_method.value).inc()
        log.info("charge %s created for order %s", charge_id, request.order_id)

    async def _unclear(
        self, record: PaymentRecord, request: RequestPayment, outcome: Unclear
    ) -> None:
        """Tried again later within the window (a charge no longer wanted until Asaas says
        whether one exists to delete), else PaymentCreationFailed, retryable."""
        assert record.creation is not None
        creation, now = replace(record.creation, last_error=outcome.message), self._clock()
        window_end = creation.started_at + timedelta(seconds=self._policy.charge_window_s)
        if now >= window_end and not record.payment.unwanted:
            await self._failed(
                record, request, PROVIDER_UNAVAILABLE, outcome.message, retryable=True
            )
            return
        wait = self._policy.charge_backoff.delay(creation.attempts)
        await self._payments.save(replace(record, creation=creation))
        retry_at = now + timedelta(seconds=wait)
        if not record.payment.unwanted:
            retry_at = min(retry_at, window_end)  # a last try at the window's end
        await self._jobs.put(creation_job(record, retry_at))
        log.info(
            "charge of order %s: attempt %d unclear (%s); trying again",
            request.order_id,
            creation.attempts,
            outcome.message,
        )

    async def _failed(
        self,
        record: PaymentRecord,
        request: RequestPayment,
        reason: str,
        message: str,
        *,
        retryable: bool,
    ) -> None:
        failed = replace(record, payment=domain.creation_failed(record.payment), creation=None)
        events = self._messages.creation_failed(request, reason, message, retryable=retryable)
        await self._payments.save(failed, events)
        await self._jobs.remove(CHARGE_JOB, record.record_id)
        PAYMENT_CREATION_FAILURES.labels(reason).inc()
        log.warning("no charge for order %s: %s (%s)", request.order_id, reason, message)
