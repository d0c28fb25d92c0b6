"""What the payment service needs from outside: storage (payments, jobs, the webhook inbox,
credentials) and each restaurant's Asaas account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

import httpx

from services.payment.domain import ChargeStatus, Payment
from shared.contracts.payments import PaymentCustomer, PaymentInstructions
from shared.contracts.values import PaymentMethod
from shared.gateway import GatewayRefused, GatewayUnavailable
from shared.records import OutgoingRecord
from shared.tracing import current_context


class StaleRecord(Exception):
    """The record changed since it was read (another writer won); read it again."""


@dataclass(frozen=True)
class RefundState:
    """The refund of a payment: who asked, and how the calls to Asaas went so far."""

    correlation_id: str
    causation_id: str
    started_at: datetime
    attempts: int = 0
    last_error: str = ""
    unclear: bool = False
    """The last call's outcome is unknown (timeout, 5xx): read the charge before calling again."""


@dataclass(frozen=True)
class CreationState:
    """The creation of a payment's charge while it lasts: what was asked, how the calls went."""

    request: dict[str, Any]
    """The RequestPayment as received (JSON): the charge job calls Asaas with it and answers it."""
    started_at: datetime
    attempts: int = 0
    last_error: str = ""
    unclear: bool = False
    """A create call may have reached Asaas (a timeout, 5xx, lost answer or crash): look the
    charge up by its `externalReference` before calling again."""


@dataclass(frozen=True)
class PaymentRecord:
    """A payment with what its events need: the envelope of the command that started it."""

    payment: Payment
    correlation_id: str
    causation_id: str
    """`eventId` of the RequestPayment that created the charge."""
    time_zone: str
    instructions: dict[str, Any] | None = None
    refund: RefundState | None = None
    creation: CreationState | None = None
    """Set while the payment is CREATING."""
    version: int = 0

    @property
    def record_id(self) -> str:
        return record_id(self.payment.client_id, self.payment.reference)


def record_id(client_id: str, reference: str) -> str:
    """A payment record: one per charge attempt, named by the charge's `externalReference`."""
    return f"{client_id}:{reference}"


class PaymentRepository(Protocol):
    async def get(self, record_id: str) -> PaymentRecord | None: ...

    async def find_by_payment_id(self, client_id: str, payment_id: str) -> PaymentRecord | None:
        """The payment of an Asaas charge id (webhooks without an externalReference)."""
        ...

    async def insert(self, record: PaymentRecord, events: Sequence[OutgoingRecord]) -> bool:
        """Stores a new record (version 1); False when one with its id exists."""
        ...

    async def save(self, record: PaymentRecord, events: Sequence[OutgoingRecord]) -> None:
        """Replaces the record read at `record.version` and appends `events` to its outbox,
        in one write; raises StaleRecord if the stored version moved on."""
        ...

    async def publish(self, record_id: str) -> None:
        """Relays the record's pending events now (a sweep catches what this misses)."""
        ...

    async def in_status(
        self, status: ChargeStatus, created_before: datetime, limit: int, *, unwanted: bool = False
    ) -> list[PaymentRecord]:
        """Up to `limit` records in `status` created before `created_before`, oldest first
        (only those marked unwanted, if asked): the money audit's indexed look."""
        ...


WEBHOOK_JOB = "webhook"
"""Apply a stored webhook event (key: the inbox id): the stored event is the job itself."""
CHARGE_JOB = "charge"
"""Create the charge of a payment still CREATING on Asaas (key: the payment record id)."""
DELETION_JOB = "deletion"
"""Delete on Asaas the pending charge of a payment its order cancelled (key: the payment record
id)."""
REFUND_JOB = "refund"
"""Call Asaas's refund (key: the payment record id)."""
RECONCILE_JOB = "reconcile"
"""Read a quiet open payment back from Asaas (key: the payment record id)."""
JOB_KINDS = (WEBHOOK_JOB, CHARGE_JOB, DELETION_JOB, REFUND_JOB, RECONCILE_JOB)


@dataclass(frozen=True)
class Job:
    """Durable work for a background loop: a webhook to process, a charge to create or delete, a
    refund, a reconciliation."""

    kind: str
    key: str
    due_at: datetime
    attempts: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    client_id: str = ""
    """The restaurant it is for: the runner runs only a few of one restaurant's jobs at once."""
    trace_context: dict[str, str] = field(default_factory=current_context)
    """The trace it was queued in (W3C headers), which its run continues: a charge made by a
    job is still part of the order's trace."""

    def again_at(self, due_at: datetime) -> Job:
        """The same job, due again at `due_at` with one more attempt counted."""
        return replace(self, due_at=due_at, attempts=self.attempts + 1)


class JobQueue(Protocol):
    async def add(self, job: Job) -> bool:
        """Adds the job unless one of its kind and key exists (then False, the job unchanged)."""
        ...

    async def put(self, job: Job) -> None:
        """Adds or replaces the job of its kind and key."""
        ...

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        """Up to `limit` jobs of `kind` due at `now`, earliest first, but none of the
        restaurants in `skip_clients` (those the runner has enough of in hand)."""
        ...

    async def remove(self, kind: str, key: str) -> None: ...

    async def claim(self, job: Job, now: datetime, lease: timedelta) -> bool:
        """True when this caller may run this version of the job now: replicas sharing the
        queue never run one at the same time, and a claim whose lease ran out can be retaken."""
        ...

    async def prune_claims(self, older_than: datetime) -> int:
        """Forgets claims whose lease ended before `older_than`."""
        ...


class DueJobs(Protocol):
    """Where a job runner's loop finds the due jobs of a kind, and reschedules one that failed."""

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]: ...

    async def put(self, job: Job) -> None: ...


class WebhookInbox(Protocol):
    """The received webhook events, each its own job while it waits to be applied: due at the
    job's `due_at` until it is marked."""

    async def add(self, job: Job, document: dict[str, Any]) -> bool:
        """Stores a received event (key: the inbox id) as a job due at `job.due_at`; False when
        its id was stored before."""
        ...

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        """Up to `limit` stored events not yet marked and due at `now`, earliest first, but
        none of the restaurants in `skip_clients` (`kind` is always `WEBHOOK_JOB`)."""
        ...

    async def put(self, job: Job) -> None:
        """Makes a stored event not yet marked due again at `job.due_at` (`job.attempts`)."""
        ...

    async def mark(self, inbox_id: str, outcome: str, at: datetime) -> None:
        """Records how processing ended (applied, ignored, unmatched): no longer due."""
        ...

    async def prune(self, older_than: datetime) -> int:
        """Forgets events received before `older_than` (past any redelivery by Asaas)."""
        ...


@dataclass(frozen=True)
class StoredCredentials:
    """A restaurant's Asaas credentials as stored: secrets encrypted (Fernet tokens)."""

    client_id: str
    api_key_encrypted: str
    webhook_token_encrypted: str
    base_url: str
    webhook_id: str | None
    webhook_url: str
    updated_at: datetime


class CredentialsRepository(Protocol):
    async def get(self, client_id: str) -> StoredCredentials | None: ...

    async def put(self, credentials: StoredCredentials) -> None: ...

    def client_ids(self) -> AsyncIterator[str]:
        """Every restaurant with stored credentials (a scan: for key rotation, not a hot path)."""
        ...

    async def replace_secrets(self, was: StoredCredentials, now: StoredCredentials) -> bool:
        """Stores `now` only if the restaurant's secrets are still those of `was`; False when
        they changed in between (new credentials are never overwritten by older ones)."""
        ...


UNCLEAR_FAILURES = (GatewayUnavailable, httpx.TransportError)
"""What an Asaas call raises when its effect is unknown (timeout, 5xx, lost answer); a
`GatewayRefused` is a clear, final no."""


class RefusedForBalance(GatewayRefused):
    """Asaas refused a refund for want of balance (a payment's fees settle later): try later."""


@dataclass(frozen=True)
class ChargeRequest:
    """The charge of an order's attempt, as the use cases ask for it."""

    reference: str
    """Its `externalReference`: `domain.charge_reference`."""
    customer_id: str
    method: PaymentMethod
    amount_cents: int
    due_date: date
    description: str


@dataclass(frozen=True)
class Charge:
    """A charge as Asaas reports it."""

    charge_id: str
    status: str = ""
    """Asaas's status word (`PENDING`, `RECEIVED`, ...): `domain.event_for_status` reads it."""
    deleted: bool = False
    refund_under_way: bool = False
    """Asaas took a refund of it (requested, in progress or done)."""
    invoice_url: str | None = None
    due_date: str | None = None
    """As Asaas wrote it (a store-local date); the account reads it back for the instructions."""


class AsaasAccount(Protocol):
    """One restaurant's Asaas account, in the use cases' terms. Calls raise `GatewayRefused`
    (final) or one of `UNCLEAR_FAILURES`; reads and deletes are retried inside."""

    async def customer_id(self, customer: PaymentCustomer) -> str:
        """The Asaas customer of this payer (by CPF), created if there is none."""
        ...

    async def create_charge(self, request: ChargeRequest) -> Charge:
        """One attempt, never retried: Asaas has no idempotency key, so after an unclear
        failure the caller looks for the charge with `charges_of_reference` first."""
        ...

    async def charges_of_reference(self, reference: str) -> list[Charge]:
        """The charges of one `externalReference` (an order's attempt) that are not deleted."""
        ...

    async def charge(self, charge_id: str) -> Charge: ...

    async def instructions(
        self, charge: Charge, method: PaymentMethod, time_zone: str
    ) -> PaymentInstructions:
        """How the customer pays the charge: the PIX code, or the hosted page (also for PIX
        when the code cannot be had, since the page shows it too)."""
        ...

    async def refund(self, charge_id: str) -> None:
        """One attempt of a full refund; `RefusedForBalance` when Asaas has not the money yet."""
        ...

    async def delete_charge(self, charge_id: str) -> None: ...


class AsaasAccounts(Protocol):
    async def account(self, client_id: str) -> AsaasAccount | None:
        """The restaurant's Asaas account, or None when it has no (readable) credentials."""
        ...


@dataclass(frozen=True)
class PixImage:
    """A PIX QR code's PNG, named by a random token, served until `expires_at`."""

    token: str
    png: bytes
    expires_at: datetime


class PixImageStore(Protocol):
    async def put(self, image: PixImage) -> None: ...

    async def get(self, token: str) -> PixImage | None: ...

    async def prune(self, now: datetime) -> int:
        """Forgets the images expired at `now`; how many."""
        ...
