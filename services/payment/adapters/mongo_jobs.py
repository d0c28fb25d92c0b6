"""The payment service's durable jobs in MongoDB: one small collection per kind (removed when
done), and claims on them made by unique `_id` inserts, atomic on FerretDB too."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.payment.ports import JOB_KINDS, Job
from shared.mongo import Database, Document

JOBS = {kind: f"payment_jobs_{kind}" for kind in JOB_KINDS}
"""One small collection per kind: FerretDB reads a whole collection for a range query, so the
charge loop's poll never reads the (longer) list of payments waiting for reconciliation. A
webhook's job is its stored event (`MongoWebhookInbox`): the webhook kind's collection holds
only what an earlier version stored there, until the housekeeping moves it."""
CLAIMS = "payment_job_claims"
MAX_CLAIM_ATTEMPTS = 20
JOB_INDEXES = {
    **{name: [IndexModel([("dueAt", ASCENDING)], name="due")] for name in JOBS.values()},
    CLAIMS: [IndexModel([("until", ASCENDING)], name="until")],
}


def _job_id(kind: str, key: str) -> str:
    return f"{kind}|{key}"


def claim_base(job: Job) -> str:
    """Names one version of a job: rescheduling it makes a new version to claim."""
    return f"{job.kind}|{job.key}@{job.due_at.astimezone(UTC).isoformat(timespec='milliseconds')}"


class MongoJobQueue:
    """Jobs, and claims on them made by unique `_id` inserts (atomic on FerretDB too)."""

    def __init__(self, database: Database) -> None:
        self._collections = {kind: database[name] for kind, name in JOBS.items()}
        self._claims = database[CLAIMS]

    async def claim(self, job: Job, now: datetime, lease: timedelta) -> bool:
        base = claim_base(job)
        for attempt in range(1, MAX_CLAIM_ATTEMPTS + 1):
            claim_id = f"{base}#{attempt}"
            try:
                await self._claims.insert_one({"_id": claim_id, "until": now + lease})
            except DuplicateKeyError:
                held = await self._claims.find_one({"_id": claim_id})
                if held is not None and held["until"].astimezone(UTC) > now:
                    return False
                continue  # that holder's lease ran out (it died?): the next attempt is free
            return True
        return False

    async def prune_claims(self, older_than: datetime) -> int:
        result = await self._claims.delete_many({"until": {"$lt": older_than}})
        return int(result.deleted_count)

    @staticmethod
    def _document(job: Job) -> Document:
        identity = {"_id": _job_id(job.kind, job.key), "kind": job.kind, "key": job.key}
        return identity | job_fields(job)

    async def add(self, job: Job) -> bool:
        try:
            await self._collections[job.kind].insert_one(self._document(job))
        except DuplicateKeyError:
            return False
        return True

    async def put(self, job: Job) -> None:
        # No upsert: FerretDB answers some upserts oddly. Insert, else replace by _id.
        if not await self.add(job):
            await self._collections[job.kind].replace_one(
                {"_id": _job_id(job.kind, job.key)}, self._document(job)
            )

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        return await due_in(self._collections[kind], kind, now, limit, skip_clients, key="key")

    async def remove(self, kind: str, key: str) -> None:
        await self._collections[kind].delete_one({"_id": _job_id(kind, key)})


def job_fields(job: Job) -> Document:
    """A job's fields as stored: in its job document, or in a webhook event while it is due."""
    return {
        "dueAt": job.due_at,
        "attempts": job.attempts,
        "data": job.data,
        "clientId": job.client_id,
        "trace": job.trace_context,
    }


async def due_in(
    collection: Any,
    kind: str,
    now: datetime,
    limit: int,
    skip_clients: Collection[str],
    *,
    key: str,
    leave_out: Collection[str] = (),
) -> list[Job]:
    """Up to `limit` jobs of `kind` in `collection` due at `now`, earliest first, but none of the
    restaurants in `skip_clients`; each one's key is its document's field `key`."""
    query: Document = {"dueAt": {"$lte": now}}
    if skip_clients:
        query["clientId"] = {"$nin": list(skip_clients)}
    projection = {field: 0 for field in leave_out} or None
    cursor = collection.find(query, projection).sort("dueAt", ASCENDING).limit(limit)
    return [
        Job(
            kind=kind,
            key=document[key],
            due_at=document["dueAt"].astimezone(UTC),
            attempts=int(document.get("attempts", 0)),
            data=dict(document.get("data") or {}),
            client_id=document.get("clientId") or "",
            trace_context=dict(document.get("trace") or {}),
        )
        async for document in cursor
    ]
