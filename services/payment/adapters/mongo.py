"""The payment service's MongoDB collections, shaped for what FerretDB 1.x does cheaply.

`payments` holds one document per order (`_id` = `<clientId>:<orderId>`) with its embedded
outbox; writes to it take the document's lock that the outbox relay takes too, and carry a
version check. Work for the background loops lives in small job collections (`mongo_jobs`),
so no periodic query reads the payments. `webhook_events` is the inbox: a webhook's `_id` is
its Asaas event id, so a duplicate insert fails reliably, and an event is its own job until it
is applied. `pix_images` holds the PIX QR images served to WhatsApp, `_id` = their random token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.payment.adapters.mongo_jobs import JOB_INDEXES, due_in, job_fields
from services.payment.domain import ChargeStatus, Payment
from services.payment.ports import (
    CreationState,
    Job,
    PaymentRecord,
    PixImage,
    RefundState,
    StaleRecord,
    StoredCredentials,
)
from shared.contracts.values import PaymentMethod
from shared.mongo import Database, Document
from shared.outbox import OutboxRelay
from shared.outbox_documents import OUTBOX, OUTBOX_INDEX, merge_updates, outbox_update, with_outbox
from shared.records import OutgoingRecord

PAYMENTS = "payments"
INBOX = "webhook_events"
CREDENTIALS = "asaas_credentials"
PIX_IMAGES = "pix_images"
INDEXES = {
    PAYMENTS: [
        OUTBOX_INDEX,
        IndexModel([("clientId", ASCENDING), ("paymentId", ASCENDING)], name="asaas_payment"),
        IndexModel([("status", ASCENDING), ("createdAt", ASCENDING)], name="status"),
        # The audit's look for unwanted charges: few, whatever the number of paid ones.
        IndexModel(
            [("unwanted", ASCENDING), ("status", ASCENDING), ("createdAt", ASCENDING)],
            name="unwanted_status",
        ),
    ],
    **JOB_INDEXES,
    INBOX: [
        IndexModel([("receivedAt", ASCENDING)], name="received"),
        # The webhook loop's look: only events not yet applied carry a due time.
        IndexModel([("dueAt", ASCENDING)], name="due"),
    ],
    PIX_IMAGES: [IndexModel([("expiresAt", ASCENDING)], name="expires")],
}


def _refund_document(refund: RefundState | None) -> Document | None:
    if refund is None:
        return None
    return {
        "correlationId": refund.correlation_id,
        "causationId": refund.causation_id,
        "startedAt": refund.started_at,
        "attempts": refund.attempts,
        "lastError": refund.last_error,
        "unclear": refund.unclear,
    }


def _creation_document(creation: CreationState | None) -> Document | None:
    if creation is None:
        return None
    return {
        "request": creation.request,
        "startedAt": creation.started_at,
        "attempts": creation.attempts,
        "lastError": creation.last_error,
        "unclear": creation.unclear,
    }


def _creation_state(document: Document | None) -> CreationState | None:
    if not document:
        return None
    return CreationState(
        request=dict(document["request"]),
        started_at=document["startedAt"].astimezone(UTC),
        attempts=int(document.get("attempts", 0)),
        last_error=document.get("lastError", ""),
        unclear=bool(document.get("unclear")),
    )


def payment_document(record: PaymentRecord) -> Document:
    payment = record.payment
    return {
        "_id": record.record_id,
        "orderId": payment.order_id,
        "attempt": payment.attempt,
        "clientId": payment.client_id,
        "storeId": payment.store_id,
        "method": payment.method.value,
        "amountCents": payment.amount_cents,
        "status": payment.status.value,
        "createdAt": payment.created_at,
        "paymentId": payment.payment_id,
        "paidAt": payment.paid_at,
        "refundAnnounced": payment.refund_announced,
        "unwanted": payment.unwanted,
        "refundFailed": payment.refund_failed,
        "chargebacks": list(payment.chargebacks),
        "correlationId": record.correlation_id,
        "causationId": record.causation_id,
        "timeZone": record.time_zone,
        "instructions": record.instructions,
        "refund": _refund_document(record.refund),
        "creation": _creation_document(record.creation),
        "version": record.version,
    }


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def payment_record(document: Document) -> PaymentRecord:
    refund = document.get("refund")
    return PaymentRecord(
        payment=Payment(
            order_id=document["orderId"],
            client_id=document["clientId"],
            store_id=document["storeId"],
            method=PaymentMethod(document["method"]),
            amount_cents=int(document["amountCents"]),
            status=ChargeStatus(document["status"]),
            created_at=document["createdAt"].astimezone(UTC),
            payment_id=document.get("paymentId"),
            paid_at=_utc(document.get("paidAt")),
            refund_announced=bool(document.get("refundAnnounced")),
            unwanted=bool(document.get("unwanted")),
            refund_failed=bool(document.get("refundFailed")),
            chargebacks=tuple(document.get("chargebacks") or ()),
            attempt=int(document.get("attempt", 1)),
        ),
        correlation_id=document["correlationId"],
        causation_id=document["causationId"],
        time_zone=document["timeZone"],
        instructions=document.get("instructions"),
        refund=None
        if not refund
        else RefundState(
            correlation_id=refund["correlationId"],
            causation_id=refund["causationId"],
            started_at=refund["startedAt"].astimezone(UTC),
            attempts=int(refund.get("attempts", 0)),
            last_error=refund.get("lastError", ""),
            unclear=bool(refund.get("unclear")),
        ),
        creation=_creation_state(document.get("creation")),
        version=int(document["version"]),
    )


class MongoPaymentRepository:
    def __init__(self, database: Database, relay: OutboxRelay) -> None:
        self.collection = database[PAYMENTS]
        self._outbox = relay.attach(self.collection)

    async def get(self, record_id: str) -> PaymentRecord | None:
        found = await self.collection.find_one({"_id": record_id}, {OUTBOX: 0})
        return None if found is None else payment_record(found)

    async def find_by_payment_id(self, client_id: str, payment_id: str) -> PaymentRecord | None:
        found = await self.collection.find_one(
            {"clientId": client_id, "paymentId": payment_id}, {OUTBOX: 0}
        )
        return None if found is None else payment_record(found)

    async def insert(self, record: PaymentRecord, events: Sequence[OutgoingRecord]) -> bool:
        stored = PaymentRecord(**{**record.__dict__, "version": 1})
        document = with_outbox(payment_document(stored), events, datetime.now(UTC))
        try:
            await self._outbox.insert(document)
        except DuplicateKeyError:
            return False
        return True

    async def save(self, record: PaymentRecord, events: Sequence[OutgoingRecord]) -> None:
        fields = payment_document(record)
        del fields["_id"]
        fields["version"] = record.version + 1
        update = merge_updates({"$set": fields}, outbox_update(events, datetime.now(UTC)))
        if not await self._outbox.update(
            {"_id": record.record_id, "version": record.version}, update
        ):
            raise StaleRecord(f"payment {record.record_id} moved past version {record.version}")

    async def publish(self, record_id: str) -> None:
        await self._outbox.publish(record_id)

    async def in_status(
        self, status: ChargeStatus, created_before: datetime, limit: int, *, unwanted: bool = False
    ) -> list[PaymentRecord]:
        query: Document = {"status": status.value, "createdAt": {"$lt": created_before}}
        if unwanted:
            query = {"unwanted": True, **query}
        cursor = self.collection.find(query, {OUTBOX: 0}).sort("createdAt", ASCENDING).limit(limit)
        return [payment_record(document) async for document in cursor]


class MongoWebhookInbox:
    """The received events, each carrying its job's fields (`dueAt`, `attempts`, `data`,
    `trace`) until it is marked, when `dueAt` goes: the webhook loop looks for due events here."""

    def __init__(self, database: Database) -> None:
        self._collection = database[INBOX]

    async def add(self, job: Job, document: dict[str, Any]) -> bool:
        try:
            await self._collection.insert_one({"_id": job.key, **document, **job_fields(job)})
        except DuplicateKeyError:
            return False
        return True

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        return await due_in(
            self._collection, kind, now, limit, skip_clients, key="_id", leave_out=["body"]
        )

    async def put(self, job: Job) -> None:
        await self._collection.update_one(
            {"_id": job.key, "outcome": {"$exists": False}}, {"$set": job_fields(job)}
        )

    async def mark(self, inbox_id: str, outcome: str, at: datetime) -> None:
        await self._collection.update_one(
            {"_id": inbox_id},
            {"$set": {"outcome": outcome, "processedAt": at}, "$unset": {"dueAt": ""}},
        )

    async def prune(self, older_than: datetime) -> int:
        result = await self._collection.delete_many({"receivedAt": {"$lt": older_than}})
        return int(result.deleted_count)


class MongoCredentialsRepository:
    def __init__(self, database: Database) -> None:
        self._collection = database[CREDENTIALS]

    async def get(self, client_id: str) -> StoredCredentials | None:
        found = await self._collection.find_one({"_id": client_id})
        if found is None:
            return None
        return StoredCredentials(
            client_id=found["_id"],
            api_key_encrypted=found["apiKeyEncrypted"],
            webhook_token_encrypted=found["webhookTokenEncrypted"],
            base_url=found["baseUrl"],
            webhook_id=found.get("webhookId"),
            webhook_url=found.get("webhookUrl", ""),
            updated_at=found["updatedAt"].astimezone(UTC),
        )

    async def put(self, credentials: StoredCredentials) -> None:
        document = {
            "_id": credentials.client_id,
            "apiKeyEncrypted": credentials.api_key_encrypted,
            "webhookTokenEncrypted": credentials.webhook_token_encrypted,
            "baseUrl": credentials.base_url,
            "webhookId": credentials.webhook_id,
            "webhookUrl": credentials.webhook_url,
            "updatedAt": credentials.updated_at,
        }
        try:
            await self._collection.insert_one(document)
        except DuplicateKeyError:
            await self._collection.replace_one({"_id": credentials.client_id}, document)

    async def client_ids(self) -> AsyncIterator[str]:
        async for found in self._collection.find({}, {"_id": 1}):
            yield str(found["_id"])

    async def replace_secrets(self, was: StoredCredentials, now: StoredCredentials) -> bool:
        updated = await self._collection.update_one(
            {
                "_id": was.client_id,
                "apiKeyEncrypted": was.api_key_encrypted,
                "webhookTokenEncrypted": was.webhook_token_encrypted,
            },
            {
                "$set": {
                    "apiKeyEncrypted": now.api_key_encrypted,
                    "webhookTokenEncrypted": now.webhook_token_encrypted,
                }
            },
        )
        return updated.modified_count == 1


class MongoPixImageStore:
    def __init__(self, database: Database) -> None:
        self._collection = database[PIX_IMAGES]

    async def put(self, image: PixImage) -> None:
        await self._collection.insert_one(
            {"_id": image.token, "png": image.png, "expiresAt": image.expires_at}
        )

    async def get(self, token: str) -> PixImage | None:
        found = await self._collection.find_one({"_id": token})
        if found is None:
            return None
        return PixImage(
            token=found["_id"],
            png=bytes(found["png"]),
            expires_at=found["expiresAt"].astimezone(UTC),
        )

    async def prune(self, now: datetime) -> int:
        result = await self._collection.delete_many({"expiresAt": {"$lte": now}})
        return int(result.deleted_count)
