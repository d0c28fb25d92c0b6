"""Use cases of the payment service: charge, delete, refund, take webhooks, reconcile.

Each use case loads a payment, applies a domain transition, and saves the new state with its
events in one write (the embedded outbox), then asks the relay to publish them. Slow or
repeated work (webhook processing, refund retries, reconciliation) is a durable job in MongoDB
taken by a background loop, so no Kafka partition waits on Asaas for long.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.payment import domain
from services.payment.config import PaymentPolicy
from services.payment.domain import (
    OPEN_STATUSES,
    ChargeStatus,
    Fact,
    FactKind,
    InvalidTransition,
    Payment,
)
from services.payment.metrics import (
    PAYMENT_CREATION_FAILURES,
    PAYMENTS_CREATED,
    RECONCILIATION_CHECKS,
    REFUNDS,
    WEBHOOKS_PROCESSED,
    WEBHOOKS_RECEIVED,
)
from services.payment.ports import (
    RECONCILE_JOB,
    REFUND_JOB,
    UNCLEAR_FAILURES,
    WEBHOOK_JOB,
    AsaasAccount,
    Charge,
    ChargeRequest,
    Job,
    JobQueue,
    PaymentRecord,
    PaymentRepository,
    RefundState,
    RefusedForBalance,
    StaleRecord,
    WebhookInbox,
    record_id,
)
from services.payment.restaurants import Restaurants
from shared.contracts.base import Envelope
from shared.contracts.payments import (
    CancelPayment,
    PaymentCancelled,
    PaymentChargebackReported,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    RefundFailed,
    RefundRequested,
    RequestPayment,
    RequestRefund,
)
from shared.errors import PermanentError
from shared.gateway import GatewayRefused, GatewaySettings
from shared.locks import KeyedLocks
from shared.records import OutgoingRecord
from shared.topics import PAYMENTS_EVENTS

log = logging.getLogger(__name__)

BATCH = 100
SAVE_ATTEMPTS = 5

CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"

DELETABLE = frozenset(
    {
        ChargeStatus.CREATING,
        ChargeStatus.CREATION_FAILED,
        ChargeStatus.PENDING,
        ChargeStatus.FAILED,
    }
)
"""Statuses whose charge (if any) CancelPayment deletes; a paid one is refunded instead."""
Unclear = UNCLEAR_FAILURES


class PaymentService:
    def __init__(
        self,
        payments: PaymentRepository,
        jobs: JobQueue,
        inbox: WebhookInbox,
        restaurants: Restaurants,
        policy: PaymentPolicy,
        gateway: GatewaySettings,
        clock: Callable[[], datetime],
        new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self._payments = payments
        self._jobs = jobs
        self._inbox = inbox
        self._restaurants = restaurants
        self._policy = policy
        self._gateway = gateway
        self._clock = clock
        self._new_id = new_id
        self._locks = KeyedLocks()
        self._wake = {kind: asyncio.Event() for kind in (WEBHOOK_JOB, REFUND_JOB, RECONCILE_JOB)}

    # Events

    def _events(
        self, record: PaymentRecord, facts: Sequence[Fact], cause: Envelope | None = None
    ) -> list[OutgoingRecord]:
        payment = record.payment
        messages: list[Envelope] = []
        for fact in facts:
            envelope = self._envelope(record, fact, cause)
            common = envelope | {"order_id": payment.order_id, "payment_id": payment.payment_id}
            match fact.kind:
                case FactKind.SUCCEEDED:
                    messages.append(
                        PaymentSucceeded(
                            **common, amount_cents=payment.amount_cents, paid_at=fact.at
                        )
                    )
                case FactKind.FAILED:
                    messages.append(
                        PaymentFailed(**common, reason=fact.asaas_event, message=fact.detail)
                    )
                case FactKind.CANCELLED:
                    messages.append(PaymentCancelled(**common))
                case FactKind.REFUND_REQUESTED:
                    messages.append(RefundRequested(**common, amount_cents=payment.amount_cents))
                case FactKind.REFUNDED:
                    messages.append(
                        PaymentRefunded(
                            **common, amount_cents=payment.amount_cents, refunded_at=fact.at
                        )
                    )
                case FactKind.REFUND_FAILED:
                    messages.append(
                        RefundFailed(**common, reason=fact.detail, attempts=max(1, fact.attempts))
                    )
                case FactKind.CHARGEBACK:
                    messages.append(
                        PaymentChargebackReported(**common, asaas_event=fact.asaas_event)
                    )
        return [OutgoingRecord.of(PAYMENTS_EVENTS, message) for message in messages]

    def _envelope(
        self, record: PaymentRecord, fact: Fact, cause: Envelope | None
    ) -> dict[str, Any]:
        refund_fact = fact.kind in (
            FactKind.REFUND_REQUESTED,
            FactKind.REFUNDED,
            FactKind.REFUND_FAILED,
        )
        if cause is not None:
            correlation_id, causation_id = cause.correlation_id, str(cause.event_id)
        elif refund_fact and record.refund is not None:
            correlation_id, causation_id = record.refund.correlation_id, record.refund.causation_id
        else:
            correlation_id, causation_id = record.correlation_id, record.causation_id
        return {
            "event_id": self._new_id(),
            "occurred_at": self._clock(),
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "client_id": record.payment.client_id,
            "store_id": record.payment.store_id,
        }

    async def _save(self, record: PaymentRecord, events: list[OutgoingRecord]) -> PaymentRecord:
        await self._payments.save(record, events)
        return replace(record, version=record.version + 1)

    # RequestPayment

    async def request_payment(self, command: RequestPayment) -> None:
        """Creates the order's one charge and publishes PaymentCreated or PaymentCreationFailed."""
        key = record_id(command.client_id, command.order_id)
        async with self._locks.hold(key):
            await self._charge(command, key)
        await self._payments.publish(key)

    async def _charge(self, command: RequestPayment, key: str) -> None:
        record, unclear = await self._start_creation(command, key)
        if record is None:
            return
        account = await self._restaurants.account(command.client_id)
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
        except Unclear as error:
            await self._creation_failed(
                record,
                command,
                PROVIDER_UNAVAILABLE,
                f"Asaas could not be reached: {type(error).__name__}",
                retryable=True,
            )
            return
        instructions = await account.instructions(charge, command.payment_method, command.time_zone)
        payment = domain.created(record.payment, charge.charge_id)
        record = replace(record, payment=payment, instructions=instructions.to_wire())
        event = PaymentCreated.caused_by(
            command,
            event_id=self._new_id(),
            now=self._clock(),
            order_id=command.order_id,
            payment_id=payment.payment_id,
            method=command.payment_method,
            amount_cents=command.amount_cents,
            instructions=instructions,
        )
        # The watch first: a crash between the two leaves a job that finds nothing to do,
        # never a pending payment that nobody reconciles.
        await self._watch(key, self._clock())
        await self._save(record, [OutgoingRecord.of(PAYMENTS_EVENTS, event)])
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
                ),
                correlation_id=command.correlation_id,
                causation_id=str(command.event_id),
                time_zone=command.time_zone,
            )
            if await self._payments.insert(fresh, []):
                return replace(fresh, version=1), False
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
                return await self._save(retried, []), True
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
        event = PaymentCreationFailed.caused_by(
            command,
            event_id=self._new_id(),
            now=self._clock(),
            order_id=command.order_id,
            reason_code=reason,
            message=message,
            retryable=retryable,
        )
        await self._save(failed, [OutgoingRecord.of(PAYMENTS_EVENTS, event)])
        PAYMENT_CREATION_FAILURES.labels(reason).inc()
        log.warning("no charge for order %s: %s (%s)", command.order_id, reason, message)

    async def _create_charge(
        self, account: AsaasAccount, command: RequestPayment, unclear: bool
    ) -> Charge:
        """Creates the charge once: after an unclear failure it is looked up before retrying."""
        request = ChargeRequest(
            order_id=command.order_id,
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
                existing = await account.charges_of_order(command.order_id)
                if existing:
                    log.info("order %s: charge found by externalReference", command.order_id)
                    return existing[0]
            elapsed = (self._clock() - started).total_seconds()
            if attempt == attempts or elapsed > self._gateway.max_elapsed_s:
                break
            try:
                return await account.create_charge(request)
            except Unclear as error:
                unclear, last_error = True, error
                await asyncio.sleep(self._gateway.backoff.delay(attempt))
        assert last_error is not None
        raise last_error

    # CancelPayment

    async def cancel_payment(self, command: CancelPayment) -> None:
        """Deletes the order's pending charge; PaymentCancelled when Asaas deleted it."""
        key = record_id(command.client_id, command.order_id)
        async with self._locks.hold(key):
            record = await self._payments.get(key)
            if record is not None and record.payment.status not in DELETABLE:
                log.info(
                    "order %s: charge is %s, nothing to delete",
                    command.order_id,
                    record.payment.status,
                )
                return
            account = await self._restaurants.account(command.client_id)
            if account is None:
                if command.payment_id or (record and record.payment.payment_id):
                    raise PermanentError(f"restaurant {command.client_id} has no credentials")
                log.info("order %s: no credentials, so no charge to delete", command.order_id)
                return
            known = command.payment_id or (record.payment.payment_id if record else None)
            if known is not None:
                charge_ids = [known]
            else:
                charges = await account.charges_of_order(command.order_id)
                charge_ids = [charge.charge_id for charge in charges]
            deleted = [cid for cid in charge_ids if await self._delete(account, cid)]
            if record is None or record.payment.payment_id not in deleted:
                return
            decision = domain.deleted(record.payment, self._clock())
            if not decision.unchanged:
                cancelled = replace(record, payment=decision.state)
                await self._save(cancelled, self._events(cancelled, decision.events, command))
            await self._unwatch(key)
        await self._payments.publish(key)

    async def _delete(self, account: AsaasAccount, charge_id: str) -> bool:
        try:
            await account.delete_charge(charge_id)
        except GatewayRefused as error:
            if error.status == 404:
                return True  # already gone
            log.warning("Asaas refused to delete charge %s: %s", charge_id, error)
            return False
        return True

    # RequestRefund

    async def request_refund(self, command: RequestRefund) -> None:
        """Starts a full refund: the payment is REFUND_PENDING and a refund job is due now."""
        key = record_id(command.client_id, command.order_id)
        async with self._locks.hold(key):
            record = await self._payments.get(key)
            if record is None or record.payment.payment_id is None:
                raise PermanentError(f"no charge is known for order {command.order_id}")
            try:
                decision = domain.refund_requested(record.payment)
            except InvalidTransition as error:
                raise PermanentError(str(error)) from None
            if decision.unchanged:
                log.info("order %s: refund already %s", command.order_id, record.payment.status)
                return
            refund = RefundState(
                correlation_id=command.correlation_id,
                causation_id=str(command.event_id),
                started_at=self._clock(),
            )
            # The job first: without the saved REFUND_PENDING it finds nothing to do.
            await self._jobs.put(Job(REFUND_JOB, key, self._clock()))
            await self._save(replace(record, payment=decision.state, refund=refund), [])
        self._wake[REFUND_JOB].set()

    async def refund(self, job: Job) -> None:
        """One refund attempt; retried later for balance or transient trouble, within a window."""
        key = job.key
        async with self._locks.hold(key):
            record = await self._payments.get(key)
            if (
                record is None
                or record.refund is None
                or record.payment.status is not ChargeStatus.REFUND_PENDING
                or record.payment.refund_failed
                or record.payment.refund_announced
            ):
                await self._jobs.remove(REFUND_JOB, key)
                return
            refund = record.refund
            attempts = refund.attempts + 1
            accepted, retryable, unclear, reason = await self._try_refund(record)
            now = self._clock()
            if accepted:
                decision = domain.refund_accepted(record.payment, now)
                done = replace(
                    record,
                    payment=decision.state,
                    refund=replace(refund, attempts=attempts, unclear=False),
                )
                await self._save(done, self._events(done, decision.events))
                await self._jobs.remove(REFUND_JOB, key)
                await self._watch(key, now)
                REFUNDS.labels("accepted").inc()
            else:
                wait = self._policy.refund_backoff.delay(attempts)
                deadline = refund.started_at + timedelta(seconds=self._policy.refund_retry_window_s)
                retry_at = min(now + timedelta(seconds=wait), deadline)  # a last try at the end
                later = replace(refund, attempts=attempts, last_error=reason, unclear=unclear)
                if retryable and now < deadline:
                    await self._save(replace(record, refund=later), [])
                    await self._jobs.put(Job(REFUND_JOB, key, retry_at, attempts=attempts))
                    REFUNDS.labels("retried").inc()
                    log.info(
                        "refund of %s: attempt %d failed (%s); retrying", key, attempts, reason
                    )
                else:
                    decision = domain.refund_gave_up(record.payment, now, reason, attempts)
                    failed = replace(record, payment=decision.state, refund=later)
                    await self._save(failed, self._events(failed, decision.events))
                    await self._jobs.remove(REFUND_JOB, key)
                    REFUNDS.labels("failed").inc()
                    log.error("refund of %s failed after %d attempt(s): %s", key, attempts, reason)
        await self._payments.publish(key)

    async def _try_refund(self, record: PaymentRecord) -> tuple[bool, bool, bool, str]:
        """(accepted, retryable, unclear, reason) of one refund attempt."""
        assert record.refund is not None
        assert record.payment.payment_id is not None
        account = await self._restaurants.account(record.payment.client_id)
        if account is None:
            return False, True, False, f"{CREDENTIALS_MISSING}: no Asaas credentials"
        try:
            if record.refund.unclear:
                charge = await account.charge(record.payment.payment_id)
                if charge.refund_under_way:
                    return True, False, False, ""
            await account.refund(record.payment.payment_id)
        except RefusedForBalance as error:
            return False, True, False, f"{error.code}: {error.description}"
        except GatewayRefused as error:
            if await self._refunding(account, record.payment.payment_id):
                return True, False, False, ""  # an earlier call, answer lost, was carried out
            return False, False, False, f"{error.code}: {error.description}"
        except Unclear as error:
            return False, True, True, f"{PROVIDER_UNAVAILABLE}: {type(error).__name__}"
        return True, False, False, ""

    @staticmethod
    async def _refunding(account: AsaasAccount, payment_id: str) -> bool:
        try:
            charge = await account.charge(payment_id)
        except (GatewayRefused, *Unclear):
            return False
        return charge.refund_under_way

    # Webhooks

    async def receive_webhook(self, client_id: str, payload: dict[str, Any], raw: str) -> str:
        """Stores a verified webhook event for processing; 'duplicate' when seen before."""
        event_id, event = str(payload["id"]), str(payload["event"])
        inbox_id = f"{client_id}:{event_id}"
        if await self._inbox.contains(inbox_id):
            WEBHOOKS_RECEIVED.labels(event, "duplicate").inc()
            return "duplicate"
        found = payload.get("payment")
        charge: dict[str, Any] = found if isinstance(found, dict) else {}
        now = self._clock()
        data = {
            "clientId": client_id,
            "event": event,
            "paymentId": charge.get("id"),
            "externalReference": charge.get("externalReference"),
            "receivedAt": now.isoformat(),
        }
        # The job first: if the process dies between the two inserts, Asaas's redelivery
        # finds no inbox entry and stores it again; the job is then found already added.
        await self._jobs.add(Job(WEBHOOK_JOB, inbox_id, now, data=data))
        # The body as received: any JSON Asaas sends can be stored, whatever BSON thinks of it.
        document = {"clientId": client_id, "event": event, "body": raw, "receivedAt": now}
        if not await self._inbox.add(inbox_id, document):
            WEBHOOKS_RECEIVED.labels(event, "duplicate").inc()
            return "duplicate"
        WEBHOOKS_RECEIVED.labels(event, "accepted").inc()
        self._wake[WEBHOOK_JOB].set()
        return "accepted"

    async def process_webhook(self, job: Job) -> None:
        data = job.data
        event = str(data.get("event"))
        client_id = str(data.get("clientId"))
        key = await self._find(client_id, data.get("externalReference"), data.get("paymentId"))
        now = self._clock()
        if key is None:
            received = datetime.fromisoformat(str(data["receivedAt"]))
            if (now - received).total_seconds() < self._policy.unmatched_webhook_retry_s:
                # The charge may be saved a moment after Asaas announced it: look again soon.
                wait = self._policy.unmatched_webhook_backoff.delay(job.attempts)
                retry = replace(
                    job, due_at=now + timedelta(seconds=wait), attempts=job.attempts + 1
                )
                await self._jobs.put(retry)
                return
            log.warning(
                "webhook %s (%s) of %s matches no payment; stored, not applied",
                job.key,
                event,
                client_id,
            )
            WEBHOOKS_PROCESSED.labels(event, "unmatched").inc()
            await self._inbox.mark(job.key, "unmatched", now)
            await self._jobs.remove(WEBHOOK_JOB, job.key)
            return
        outcome, still_open = await self.apply_asaas_event(key, event)
        if still_open:
            await self._watch(key, now)
        else:
            await self._unwatch(key)
        WEBHOOKS_PROCESSED.labels(event, outcome).inc()
        await self._inbox.mark(job.key, outcome, now)
        await self._jobs.remove(WEBHOOK_JOB, job.key)

    async def _find(self, client_id: str, external_reference: Any, payment_id: Any) -> str | None:
        if isinstance(external_reference, str) and external_reference:
            key = record_id(client_id, external_reference)
            record = await self._payments.get(key)
            if record is not None and (
                record.payment.payment_id in (None, payment_id) or not payment_id
            ):
                return key
        if isinstance(payment_id, str) and payment_id:
            record = await self._payments.find_by_payment_id(client_id, payment_id)
            if record is not None:
                return record.record_id
        return None

    async def apply_asaas_event(self, key: str, event: str) -> tuple[str, bool]:
        """The one path by which Asaas news (a webhook or a reconciled status) changes a
        payment; returns the outcome (applied, ignored) and whether the payment is still open."""
        async with self._locks.hold(key):
            for _ in range(SAVE_ATTEMPTS):
                record = await self._payments.get(key)
                if record is None:
                    return "ignored", False
                decision = domain.on_asaas_event(record.payment, event, self._clock())
                if decision.unchanged:
                    return "ignored", record.payment.status in OPEN_STATUSES
                payment = decision.state
                moved = replace(record, payment=payment)
                try:
                    await self._save(moved, self._events(moved, decision.events))
                    break
                except StaleRecord:
                    continue
            else:
                raise StaleRecord(f"payment {key} kept changing")
        await self._payments.publish(key)
        log.info("payment %s: %s -> %s", key, event, payment.status)
        return "applied", payment.status in OPEN_STATUSES

    # Reconciliation

    async def _watch(self, key: str, since: datetime) -> None:
        """(Re)starts the reconciliation clock of an open payment: read after a quiet spell."""
        due = since + timedelta(seconds=self._policy.reconcile_after_s)
        await self._jobs.put(Job(RECONCILE_JOB, key, due))

    async def _unwatch(self, key: str) -> None:
        await self._jobs.remove(RECONCILE_JOB, key)

    async def reconcile(self, job: Job) -> None:
        """Reads a quiet open payment back from Asaas and applies what it finds."""
        key = job.key
        record = await self._payments.get(key)
        now = self._clock()
        if record is None or record.payment.payment_id is None:
            await self._unwatch(key)
            return
        age = (now - record.payment.created_at).total_seconds()
        if record.payment.status not in OPEN_STATUSES or age > self._policy.reconcile_give_up_s:
            await self._unwatch(key)
            return
        account = await self._restaurants.account(record.payment.client_id)
        still_open = True
        try:
            if account is None:
                raise PermanentError("no Asaas credentials")
            charge = await account.charge(record.payment.payment_id)
        except (GatewayRefused, PermanentError, *Unclear) as error:
            RECONCILIATION_CHECKS.labels("error").inc()
            log.warning("reconciling %s failed: %s", key, error)
        else:
            event = domain.event_for_status(charge.status, deleted=charge.deleted)
            outcome = "unchanged"
            if event is not None:
                applied, still_open = await self.apply_asaas_event(key, event)
                outcome = "applied" if applied == "applied" else outcome
            RECONCILIATION_CHECKS.labels(outcome).inc()
        if not still_open:
            await self._unwatch(key)
            return
        interval = self._policy.reconcile_backoff.delay(job.attempts + 1)
        await self._jobs.put(
            Job(RECONCILE_JOB, key, now + timedelta(seconds=interval), attempts=job.attempts + 1)
        )

    # Background loops

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
            await asyncio.sleep(600)

    async def run_webhooks(self) -> None:
        await self._run(WEBHOOK_JOB, self.process_webhook)

    async def run_refunds(self) -> None:
        await self._run(REFUND_JOB, self.refund)

    async def run_reconciliation(self) -> None:
        await self._run(
            RECONCILE_JOB, self.reconcile, pause_s=1.0 / self._policy.reconcile_rate_per_s
        )

    async def _run(
        self, kind: str, handle: Callable[[Job], Awaitable[None]], pause_s: float = 0.0
    ) -> None:
        """Takes due jobs of `kind` forever; a failing job is logged and tried again later."""
        wake = self._wake[kind]
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

    async def _handle(self, kind: str, handle: Callable[[Job], Awaitable[None]], job: Job) -> None:
        try:
            lease = timedelta(seconds=self._policy.job_lease_s)
            if not await self._jobs.claim(job, self._clock(), lease):
                return  # another replica runs it
            await handle(job)
        except Exception:
            log.exception("%s job %s failed; retrying later", kind, job.key)
            wait = self._policy.failed_job_backoff.delay(job.attempts)
            later = replace(
                job, due_at=self._clock() + timedelta(seconds=wait), attempts=job.attempts + 1
            )
            try:
                await self._jobs.put(later)
            except Exception:
                log.exception("%s job %s could not be rescheduled", kind, job.key)
