"""The two ways Asaas's news reaches a payment: its webhooks, and reconciliation, which reads a
quiet open payment back; both change the payment by the same path, `apply_asaas_event`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.payment import domain
from services.payment.domain import OPEN_STATUSES
from services.payment.metrics import RECONCILIATION_CHECKS, WEBHOOKS_PROCESSED, WEBHOOKS_RECEIVED
from services.payment.payments import SAVE_ATTEMPTS, UseCase, UseCaseContext
from services.payment.ports import (
    UNCLEAR_FAILURES,
    WEBHOOK_JOB,
    Job,
    JobQueue,
    PaymentRecord,
    StaleRecord,
    WebhookInbox,
    record_id,
)
from services.payment.refunds import queue_refund, refund_if_unwanted
from shared.errors import PermanentError
from shared.gateway import GatewayRefused

log = logging.getLogger(__name__)


class AsaasUpdateService(UseCase):
    """Takes Asaas's webhooks and reconciles quiet payments: what Asaas knows, applied."""

    def __init__(
        self,
        context: UseCaseContext,
        jobs: JobQueue,
        inbox: WebhookInbox,
        wake: Callable[[str], None],
        lane: Callable[[Job], AbstractContextManager[Callable[[], None] | None]],
    ) -> None:
        super().__init__(context)
        self._jobs = jobs
        self._inbox = inbox
        self._wake = wake
        self._lane = lane

    # Webhooks

    async def receive_webhook(self, client_id: str, payload: dict[str, Any], raw: str) -> str:
        """Stores a verified webhook event for processing; 'duplicate' when seen before."""
        event_id, event = str(payload["id"]), str(payload["event"])
        inbox_id = f"{client_id}:{event_id}"
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
        lease = timedelta(seconds=self._policy.job_lease_s)
        hidden = Job(WEBHOOK_JOB, inbox_id, now + lease, data=data, client_id=client_id)
        # The body as received: any JSON Asaas sends can be stored, whatever BSON thinks of it.
        document = {"clientId": client_id, "event": event, "body": raw, "receivedAt": now}
        with self._lane(hidden) as start:
            # With a lane here, the event is due only when a lease from now ends and runs at
            # once, unclaimed: another replica's loop takes it only if this one died first.
            # Without, it is due now for any loop (claimed).
            job = hidden if start else replace(hidden, due_at=now)
            # One insert: the duplicate check (no read before it), and the job a crash leaves
            # behind. A redelivery finds the event applied, or being applied, or due.
            if not await self._inbox.add(job, document):
                WEBHOOKS_RECEIVED.labels(event, "duplicate").inc()
                return "duplicate"
            WEBHOOKS_RECEIVED.labels(event, "accepted").inc()
            if start:
                start()
            else:
                self._wake(WEBHOOK_JOB)
        return "accepted"

    async def process_webhook(self, job: Job) -> None:
        """Applies a stored webhook event (the job of the webhook loop); marked, it is done."""
        data = job.data
        event = str(data.get("event"))
        client_id = str(data.get("clientId"))
        charge_id = data.get("paymentId")
        charge_id = charge_id if isinstance(charge_id, str) and charge_id else None
        now = self._clock()
        applied = await self._apply_webhook(
            client_id, event, data.get("externalReference"), charge_id
        )
        if applied is None:
            received = datetime.fromisoformat(str(data["receivedAt"]))
            if (now - received).total_seconds() < self._policy.unmatched_webhook_retry_s:
                # The charge may be saved a moment after Asaas announced it: look again soon.
                wait = self._policy.unmatched_webhook_backoff.delay(job.attempts)
                await self._inbox.put(job.again_at(now + timedelta(seconds=wait)))
                return
            log.warning(
                "webhook %s (%s) of %s matches no payment; stored, not applied",
                job.key,
                event,
                client_id,
            )
            WEBHOOKS_PROCESSED.labels(event, "unmatched").inc()
            await self._inbox.mark(job.key, "unmatched", now)
            return
        key, outcome, still_open = applied
        if still_open:
            await self._payments.watch(key, client_id, now)
        else:
            await self._payments.unwatch(key)
        WEBHOOKS_PROCESSED.labels(event, outcome).inc()
        await self._inbox.mark(job.key, outcome, now)

    async def _apply_webhook(
        self, client_id: str, event: str, external_reference: Any, charge_id: str | None
    ) -> tuple[str, str, bool] | None:
        """Applies the event to the payment its `externalReference` names (if that payment holds
        its charge, or none yet), else to the one holding its charge: the payment's key, the
        outcome and whether it is still open; None when no payment matches."""
        if isinstance(external_reference, str) and external_reference:
            key = record_id(client_id, external_reference)
            applied = await self.apply_asaas_event(key, event, charge_id=charge_id)
            if applied is not None:
                return (key, *applied)
        if charge_id is not None:
            record = await self._payments.find_by_payment_id(client_id, charge_id)
            if record is not None:
                key = record.record_id
                applied = await self.apply_asaas_event(key, event)
                if applied is not None:
                    return (key, *applied)
        return None

    async def apply_asaas_event(
        self, key: str, event: str, *, charge_id: str | None = None
    ) -> tuple[str, bool] | None:
        """The one path by which Asaas news (a webhook or a reconciled status) changes a
        payment; returns the outcome (applied, ignored) and whether the payment is still open,
        or None when there is no such payment, or it holds a charge other than `charge_id`.
        The payment is read under its use-case lock, once unless a save finds it moved on."""
        async with self._payments.one_use_case_at_a_time(key):
            for _ in range(SAVE_ATTEMPTS):
                record = await self._payments.get(key)
                if record is None or not _may_hold(record, charge_id):
                    return None
                decision = domain.on_asaas_event(record.payment, event, self._clock())
                if decision.unchanged:
                    # A redelivery after a crash may find a refund begun without its job.
                    await queue_refund(self._jobs, self._wake, record, self._clock())
                    return "ignored", record.payment.status in OPEN_STATUSES
                moved = replace(record, payment=decision.state)
                facts = self._messages.of_facts(moved, decision.events)
                if domain.refund_due(moved.payment):
                    log.warning("payment %s: paid though its order cancelled it; refunding", key)
                    moved = refund_if_unwanted(moved, self._clock())
                try:
                    moved = await self._payments.save(moved, facts)
                    break
                except StaleRecord:
                    continue
            else:
                raise StaleRecord(f"payment {key} kept changing")
            await queue_refund(self._jobs, self._wake, moved, self._clock())
        await self._payments.publish(key)
        status = moved.payment.status
        log.info("payment %s: %s -> %s", key, event, status)
        return "applied", status in OPEN_STATUSES

    # Reconciliation

    async def reconcile(self, job: Job) -> None:
        """Reads a quiet open payment back from Asaas and applies what it finds (the job of
        the reconciliation loop), then reads it again later while it stays open."""
        key = job.key
        record = await self._payments.get(key)
        now = self._clock()
        if record is None or record.payment.payment_id is None:
            await self._payments.unwatch(key)
            return
        age = (now - record.payment.created_at).total_seconds()
        if record.payment.status not in OPEN_STATUSES or age > self._policy.reconcile_give_up_s:
            await self._payments.unwatch(key)
            return
        account = await self._accounts.account(record.payment.client_id)
        still_open = True
        try:
            if account is None:
                raise PermanentError("no Asaas credentials")
            charge = await account.charge(record.payment.payment_id)
        except (GatewayRefused, PermanentError, *UNCLEAR_FAILURES) as error:
            RECONCILIATION_CHECKS.labels("error").inc()
            log.warning("reconciling %s failed: %s", key, error)
        else:
            event = domain.event_for_status(charge.status, deleted=charge.deleted)
            outcome = "unchanged"
            if event is not None:
                applied, still_open = await self.apply_asaas_event(key, event) or ("ignored", False)
                outcome = "applied" if applied == "applied" else outcome
            RECONCILIATION_CHECKS.labels(outcome).inc()
        if not still_open:
            await self._payments.unwatch(key)
            return
        interval = self._policy.reconcile_backoff.delay(job.attempts + 1)
        await self._jobs.put(job.again_at(now + timedelta(seconds=interval)))


def _may_hold(record: PaymentRecord, charge_id: str | None) -> bool:
    """Whether the payment holds the charge `charge_id` (any, when None), or none yet."""
    held = record.payment.payment_id
    return held is None or charge_id is None or held == charge_id
