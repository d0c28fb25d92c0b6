"""What every payment use case shares: the payment records (one use case of a payment at a
time, each change saved with its events in one write, then relayed; the reconciliation watch),
the restaurants' Asaas accounts, the event mapping, the policy and the clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.payment.config import PaymentPolicy
from services.payment.domain import ChargeStatus
from services.payment.outgoing import PaymentMessages
from services.payment.ports import (
    RECONCILE_JOB,
    AsaasAccounts,
    Job,
    JobQueue,
    PaymentRecord,
    PaymentRepository,
)
from shared.locks import KeyedLocks
from shared.records import OutgoingRecord

# The service's own reason codes; the others are Asaas's error codes.
CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
SAVE_ATTEMPTS = 5
"""Saves of one change tried on a fresh read when another write moved the payment on."""


class Payments:
    """The payment records, one lock per payment shared by every use case of this process."""

    def __init__(
        self,
        repository: PaymentRepository,
        jobs: JobQueue,
        use_case_locks: KeyedLocks,
        policy: PaymentPolicy,
    ) -> None:
        self._repository = repository
        self._jobs = jobs
        self._use_case_locks = use_case_locks
        self._policy = policy

    def one_use_case_at_a_time(self, record_id: str) -> AbstractAsyncContextManager[None]:
        """Holds the payment's use-case lock: within this process, the use cases of one payment
        run one after the other, so a webhook that arrives while its charge is being created
        waits for the saved charge instead of finding it CREATING and being ignored. These are
        not the document write locks that the repository and the outbox relay take inside a
        save; across processes, the version check of every save refuses a lost update."""
        return self._use_case_locks.hold(record_id)

    async def get(self, record_id: str) -> PaymentRecord | None:
        return await self._repository.get(record_id)

    async def find_by_payment_id(self, client_id: str, payment_id: str) -> PaymentRecord | None:
        return await self._repository.find_by_payment_id(client_id, payment_id)

    async def insert(self, record: PaymentRecord) -> PaymentRecord | None:
        """The new record as stored (version 1), or None when one with its id exists."""
        if not await self._repository.insert(record, []):
            return None
        return replace(record, version=1)

    async def save(
        self, record: PaymentRecord, events: Sequence[OutgoingRecord] = ()
    ) -> PaymentRecord:
        """Saves the record with `events` in its outbox (raises StaleRecord if it moved on);
        returns it as now stored."""
        await self._repository.save(record, events)
        return replace(record, version=record.version + 1)

    async def publish(self, record_id: str) -> None:
        """Relays what the record's outbox holds now; call it once the use case is done."""
        await self._repository.publish(record_id)

    async def in_status(
        self, status: ChargeStatus, created_before: datetime, limit: int, *, unwanted: bool = False
    ) -> list[PaymentRecord]:
        return await self._repository.in_status(status, created_before, limit, unwanted=unwanted)

    async def watch(self, record_id: str, client_id: str, since: datetime) -> None:
        """(Re)starts the reconciliation clock of an open payment: read after a quiet spell."""
        due = since + timedelta(seconds=self._policy.reconcile_after_s)
        await self._jobs.put(Job(RECONCILE_JOB, record_id, due, client_id=client_id))

    async def unwatch(self, record_id: str) -> None:
        await self._jobs.remove(RECONCILE_JOB, record_id)


@dataclass(frozen=True)
class UseCaseContext:
    """One of these serves every use-case class of the service."""

    payments: Payments
    accounts: AsaasAccounts
    messages: PaymentMessages
    policy: PaymentPolicy
    clock: Callable[[], datetime]


class UseCase:
    """Base of the use-case classes: what they share, under short names."""

    def __init__(self, context: UseCaseContext) -> None:
        self._payments = context.payments
        self._accounts = context.accounts
        self._messages = context.messages
        self._policy = context.policy
        self._clock = context.clock
