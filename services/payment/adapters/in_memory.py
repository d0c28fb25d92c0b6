"""In-memory twins of the payment service's repositories, for unit and component tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from services.payment.domain import ChargeStatus
from services.payment.ports import Job, PaymentRecord, PixImage, StaleRecord, StoredCredentials
from shared.records import OutgoingRecord, RecordSink


class InMemoryPaymentRepository:
    def __init__(self, sink: RecordSink) -> None:
        self.records: dict[str, PaymentRecord] = {}
        self.outboxes: dict[str, list[OutgoingRecord]] = {}
        self._sink = sink

    async def get(self, record_id: str) -> PaymentRecord | None:
        return self.records.get(record_id)

    async def find_by_payment_id(self, client_id: str, payment_id: str) -> PaymentRecord | None:
        for record in self.records.values():
            if record.payment.client_id == client_id and record.payment.payment_id == payment_id:
                return record
        return None

    async def insert(self, record: PaymentRecord, events: Sequence[OutgoingRecord]) -> bool:
        if record.record_id in self.records:
            return False
        self.records[record.record_id] = replace(record, version=1)
        self.outboxes[record.record_id] = list(events)
        return True

    async def save(self, record: PaymentRecord, events: Sequence[OutgoingRecord]) -> None:
        current = self.records.get(record.record_id)
        if current is None or current.version != record.version:
            raise StaleRecord(f"payment {record.record_id} moved past version {record.version}")
        self.records[record.record_id] = replace(record, version=record.version + 1)
        self.outboxes.setdefault(record.record_id, []).extend(events)

    async def publish(self, record_id: str) -> None:
        pending = self.outboxes.get(record_id, [])
        while pending:
            await self._sink.send(pending[0])
            pending.pop(0)

    async def in_status(
        self, status: ChargeStatus, created_before: datetime, limit: int, *, unwanted: bool = False
    ) -> list[PaymentRecord]:
        found = [
            record
            for record in self.records.values()
            if record.payment.status is status
            and record.payment.created_at < created_before
            and (record.payment.unwanted or not unwanted)
        ]
        return sorted(found, key=lambda record: record.payment.created_at)[:limit]


class InMemoryJobQueue:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], Job] = {}
        self.claims: dict[tuple[str, str, datetime], datetime] = {}

    async def add(self, job: Job) -> bool:
        if (job.kind, job.key) in self.jobs:
            return False
        self.jobs[job.kind, job.key] = job
        return True

    async def put(self, job: Job) -> None:
        self.jobs[job.kind, job.key] = job

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        due = [
            job
            for job in self.jobs.values()
            if job.kind == kind and job.due_at <= now and job.client_id not in skip_clients
        ]
        return sorted(due, key=lambda job: job.due_at)[:limit]

    async def remove(self, kind: str, key: str) -> None:
        self.jobs.pop((kind, key), None)

    async def claim(self, job: Job, now: datetime, lease: timedelta) -> bool:
        version = (job.kind, job.key, job.due_at)
        held_until = self.claims.get(version)
        if held_until is not None and held_until > now:
            return False
        self.claims[version] = now + lease
        return True

    async def prune_claims(self, older_than: datetime) -> int:
        expired = [version for version, until in self.claims.items() if until < older_than]
        for version in expired:
            del self.claims[version]
        return len(expired)


class InMemoryWebhookInbox:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, Job] = {}
        """The events not yet marked, as their jobs."""

    async def add(self, job: Job, document: dict[str, Any]) -> bool:
        if job.key in self.events:
            return False
        self.events[job.key] = dict(document)
        self.pending[job.key] = job
        return True

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        due = [
            job
            for job in self.pending.values()
            if job.due_at <= now and job.client_id not in skip_clients
        ]
        return sorted(due, key=lambda job: job.due_at)[:limit]

    async def put(self, job: Job) -> None:
        if job.key in self.pending:
            self.pending[job.key] = job

    async def mark(self, inbox_id: str, outcome: str, at: datetime) -> None:
        if inbox_id in self.events:
            self.events[inbox_id] |= {"outcome": outcome, "processedAt": at}
        self.pending.pop(inbox_id, None)

    async def prune(self, older_than: datetime) -> int:
        old = [key for key, event in self.events.items() if event["receivedAt"] < older_than]
        for key in old:
            del self.events[key]
            self.pending.pop(key, None)
        return len(old)


class InMemoryCredentialsRepository:
    def __init__(self) -> None:
        self.credentials: dict[str, StoredCredentials] = {}

    async def get(self, client_id: str) -> StoredCredentials | None:
        return self.credentials.get(client_id)

    async def put(self, credentials: StoredCredentials) -> None:
        self.credentials[credentials.client_id] = credentials

    async def client_ids(self) -> AsyncIterator[str]:
        for client_id in list(self.credentials):
            yield client_id

    async def replace_secrets(self, was: StoredCredentials, now: StoredCredentials) -> bool:
        current = self.credentials.get(was.client_id)
        if current is None or _secrets(current) != _secrets(was):
            return False
        self.credentials[was.client_id] = replace(
            current,
            api_key_encrypted=now.api_key_encrypted,
            webhook_token_encrypted=now.webhook_token_encrypted,
        )
        return True


def _secrets(credentials: StoredCredentials) -> tuple[str, str]:
    return credentials.api_key_encrypted, credentials.webhook_token_encrypted


class InMemoryPixImageStore:
    def __init__(self) -> None:
        self.images: dict[str, PixImage] = {}

    async def put(self, image: PixImage) -> None:
        self.images[image.token] = image

    async def get(self, token: str) -> PixImage | None:
        return self.images.get(token)

    async def prune(self, now: datetime) -> int:
        expired = [token for token, image in self.images.items() if image.expires_at <= now]
        for token in expired:
            del self.images[token]
        return len(expired)
