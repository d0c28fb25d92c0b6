"""Timers in MongoDB, written with inserts, deletes and `_id` look-ups, so FerretDB serves them too.

FerretDB 1.x applies a conditional update by reading the document, changing it in Go and writing
it back whole (two replicas can both "win" one compare-and-set), and it pushes only `_id`
equality down to storage (any other filter reads the whole collection). So:

- a pending timer is an immutable document `<timerId>@<command eventId>`; `timer_heads` points
  from each `timerId` to its current document. Commands of one timer arrive in order on one
  restaurant's partition, so the head has one writer. Moving a timer inserts the new document,
  repoints the head and deletes the old document; a command whose head already names it (a
  redelivery, even after the timer fired or was cancelled) changes nothing;
- claiming inserts `<document id>#<attempt>` into `timer_claims` with a lease: one replica wins
  each attempt, and when a lease runs out the next attempt can be won, so a replica that died
  mid-fire has its timers fired again;
- fired timers leave `timers`, and the tick reads the earliest pending timers by `availableAt`
  (the due time, or the lease expiry of a claimed one) in one indexed query that also tells
  the next due time: on MongoDB it costs what is due; on FerretDB, what is pending.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.scheduler.domain import Timer
from services.scheduler.ports import DueTimers
from shared.contracts.scheduler import TimerPurpose
from shared.mongo import Database, Document

TIMERS = "timers"
HEADS = "timer_heads"
CLAIMS = "timer_claims"
INDEXES = {TIMERS: [IndexModel([("availableAt", ASCENDING)], name="due")]}


def _ceil_to_millisecond(moment: datetime) -> datetime:
    """BSON dates hold milliseconds: rounding the due time up means a timer never fires early."""
    spare = moment.microsecond % 1000
    return moment if spare == 0 else moment + timedelta(microseconds=1000 - spare)


def _exact(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def document_id(timer: Timer) -> str:
    return f"{timer.timer_id}@{timer.scheduled_by}"


def timer_document(timer: Timer) -> Document:
    return {
        "_id": document_id(timer),
        "timerId": timer.timer_id,
        "clientId": timer.client_id,
        "storeId": timer.store_id,
        "purpose": timer.purpose.value,
        "orderId": timer.order_id,
        "dueAt": _exact(timer.due_at),
        "availableAt": _ceil_to_millisecond(timer.due_at),
        "correlationId": timer.correlation_id,
        "scheduledBy": timer.scheduled_by,
        "scheduledAt": _exact(timer.scheduled_at),
        "payload": timer.payload,
    }


def _timer(document: dict[str, Any]) -> Timer:
    return Timer(
        timer_id=document["timerId"],
        client_id=document["clientId"],
        store_id=document["storeId"],
        purpose=TimerPurpose(document["purpose"]),
        order_id=document.get("orderId"),
        due_at=datetime.fromisoformat(document["dueAt"]),
        correlation_id=document["correlationId"],
        scheduled_by=document["scheduledBy"],
        scheduled_at=datetime.fromisoformat(document["scheduledAt"]),
        payload=dict(document.get("payload") or {}),
    )


def _claim_id(document: str, attempt: int) -> str:
    return f"{document}#{attempt}"


class MongoTimerStore:
    def __init__(self, database: Database) -> None:
        self._timers = database[TIMERS]
        self._heads = database[HEADS]
        self._claims = database[CLAIMS]

    async def upsert(self, timer: Timer) -> bool:
        head = await self._heads.find_one({"_id": timer.timer_id})
        if head is not None and (
            head["scheduledBy"] == timer.scheduled_by
            or datetime.fromisoformat(head["scheduledAt"]) > timer.scheduled_at
        ):
            return False
        try:
            await self._timers.insert_one(timer_document(timer))
        except DuplicateKeyError:
            return False
        await self._heads.replace_one(
            {"_id": timer.timer_id},
            {
                "document": document_id(timer),
                "scheduledBy": timer.scheduled_by,
                "scheduledAt": _exact(timer.scheduled_at),
            },
            upsert=True,
        )
        if head is not None:
            await self._retire([head["document"]])
        return True

    async def cancel(self, timer_id: str) -> bool:
        head = await self._heads.find_one({"_id": timer_id})
        return head is not None and await self._retire([head["document"]]) > 0

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> DueTimers:
        earliest = self._timers.find({}).sort("availableAt", ASCENDING).limit(limit + 1)
        documents = [document async for document in earliest]
        due = [d for d in documents if d["availableAt"] <= now][:limit]
        later = [d["availableAt"] for d in documents if d["availableAt"] > now]
        next_due = now if len(due) == limit else (later[0] if later else None)
        token = uuid.uuid4().hex  # names this claimant in its claim records
        won = [await self._claim(d, now, lease, token) for d in due]
        claimed = [_timer(d) for d, claimed in zip(due, won, strict=True) if claimed]
        return DueTimers(sorted(claimed, key=lambda timer: timer.due_at), next_due)

    async def _claim(self, document: Document, now: datetime, lease: timedelta, token: str) -> bool:
        attempt = 0
        while True:
            try:
                await self._claims.insert_one(
                    {
                        "_id": _claim_id(document["_id"], attempt),
                        "leaseUntil": now + lease,
                        "token": token,
                    }
                )
                break
            except DuplicateKeyError:
                held = await self._claims.find_one({"_id": _claim_id(document["_id"], attempt)})
                if held is None or held["leaseUntil"] > now:
                    return False  # another replica holds it (or just finished with it)
                attempt += 1  # that claimant's lease ran out: it died mid-fire
        # Hides the timer from the other replicas until the lease runs out. Only deletes race
        # with this write, and an update of a deleted document changes nothing.
        hidden = await self._timers.update_one(
            {"_id": document["_id"]}, {"$set": {"availableAt": now + lease}}
        )
        if hidden.matched_count == 0:
            # Fired and retired by another replica since we read it.
            await self._claims.delete_one({"_id": _claim_id(document["_id"], attempt)})
            return False
        return True

    async def complete(self, timers: list[Timer]) -> int:
        return await self._retire(document_id(timer) for timer in timers)

    async def _retire(self, documents: Iterable[str]) -> int:
        """Deletes timer documents, then their claims: a claimant that wins a claim on a
        document read just before finds the document gone instead of firing it again."""
        retired = await asyncio.gather(*(self._retire_one(document) for document in documents))
        return sum(retired)

    async def _retire_one(self, document: str) -> int:
        # One `_id` at a time: FerretDB reads the whole collection for `$in`.
        deleted = await self._timers.delete_one({"_id": document})
        attempt = 0
        while (await self._claims.delete_one({"_id": _claim_id(document, attempt)})).deleted_count:
            attempt += 1
        return int(deleted.deleted_count)
