"""Timers in MongoDB, built from inserts and deletes only, so they are safe on FerretDB too.

FerretDB 1.x applies a conditional update by reading, changing the document in Go and writing it
back whole: two replicas can both "win" the same compare-and-set. Unique `_id` inserts and
deletes stay atomic there, so:

- a timer document is immutable, `_id` `<timerId>@<command eventId>`; moving a timer inserts
  the new document and deletes the old one (commands of one timer arrive in order, on one
  restaurant's partition);
- claiming is inserting `<document id>#<attempt>` into `timer_claims` with a lease: one replica
  wins each attempt; when a lease runs out the next attempt may be won, so a replica that died
  mid-fire has its timers fired again;
- only pending timers stay in `timers`, and `availableAt` (the due time, or the lease expiry of a
  claimed timer) is one indexed range: a tick reads what is due, not what ever was.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.scheduler.domain import Timer
from shared.contracts.scheduler import TimerPurpose
from shared.mongo import Database, Document

TIMERS = "timers"
CLAIMS = "timer_claims"
FIRED = "fired_timers"
INDEXES = {
    TIMERS: [
        IndexModel([("availableAt", ASCENDING)], name="due"),
        IndexModel([("timerId", ASCENDING)], name="timer_id"),
    ],
    CLAIMS: [IndexModel([("timerDoc", ASCENDING), ("attempt", DESCENDING)], name="latest")],
    FIRED: [IndexModel([("firedAt", ASCENDING)], name="fired_at")],
}


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


class MongoTimerStore:
    def __init__(self, database: Database) -> None:
        self._timers = database[TIMERS]
        self._claims = database[CLAIMS]
        self._fired = database[FIRED]

    async def upsert(self, timer: Timer) -> bool:
        if await self._fired.find_one({"_id": timer.timer_id, "scheduledBy": timer.scheduled_by}):
            return False
        current = [
            document
            async for document in self._timers.find({"timerId": timer.timer_id}, {"scheduledAt": 1})
        ]
        if any(datetime.fromisoformat(d["scheduledAt"]) > timer.scheduled_at for d in current):
            return False
        try:
            await self._timers.insert_one(timer_document(timer))
        except DuplicateKeyError:
            return False  # this very command, delivered again
        replaced = [d["_id"] for d in current]
        if replaced:
            await self._timers.delete_many({"_id": {"$in": replaced}})
            await self._claims.delete_many({"timerDoc": {"$in": replaced}})
        return True

    async def cancel(self, timer_id: str) -> bool:
        ids = [d["_id"] async for d in self._timers.find({"timerId": timer_id}, {"_id": 1})]
        if not ids:
            return False
        result = await self._timers.delete_many({"_id": {"$in": ids}})
        await self._claims.delete_many({"timerDoc": {"$in": ids}})
        return bool(result.deleted_count)

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> list[Timer]:
        token = uuid.uuid4().hex  # names this claimant in its claim records
        due = self._timers.find({"availableAt": {"$lte": now}})
        candidates = [d async for d in due.sort("availableAt", ASCENDING).limit(limit)]
        won = await asyncio.gather(*(self._claim(d, now, lease, token) for d in candidates))
        timers = [_timer(d) for d, claimed in zip(candidates, won, strict=True) if claimed]
        return sorted(timers, key=lambda timer: timer.due_at)

    async def _claim(self, document: Document, now: datetime, lease: timedelta, token: str) -> bool:
        latest = await self._claims.find_one(
            {"timerDoc": document["_id"]}, sort=[("attempt", DESCENDING)]
        )
        if latest is not None and latest["leaseUntil"] > now:
            return False
        attempt = 0 if latest is None else latest["attempt"] + 1
        try:
            await self._claims.insert_one(
                {
                    "_id": f"{document['_id']}#{attempt}",
                    "timerDoc": document["_id"],
                    "attempt": attempt,
                    "leaseUntil": now + lease,
                    "token": token,
                }
            )
        except DuplicateKeyError:
            return False  # another replica won this attempt
        # Hides the timer from the other replicas' due queries until the lease runs out. Only
        # deletes race with this write, and an update of a deleted document changes nothing.
        hidden = await self._timers.update_one(
            {"_id": document["_id"]}, {"$set": {"availableAt": now + lease}}
        )
        if hidden.matched_count == 0:
            # Fired and retired by another replica since we read it (its claims went with it).
            await self._claims.delete_one({"_id": f"{document['_id']}#{attempt}"})
            return False
        return True

    async def complete(self, timers: list[Timer], fired_at: datetime) -> int:
        ids = [document_id(timer) for timer in timers]
        if not ids:
            return 0
        await asyncio.gather(*(self._remember_fired(timer, fired_at) for timer in timers))
        deleted = await asyncio.gather(*(self._timers.delete_one({"_id": i}) for i in ids))
        # Claims go after their timers: a replica that wins a claim on a timer read just before
        # finds the timer gone (see _claim) instead of firing it again.
        await self._claims.delete_many({"timerDoc": {"$in": ids}})
        return sum(result.deleted_count for result in deleted)

    async def _remember_fired(self, timer: Timer, fired_at: datetime) -> None:
        # DuplicateKeyError: a replica whose lease ran out completed it at the same moment.
        with contextlib.suppress(DuplicateKeyError):
            await self._fired.replace_one(
                {"_id": timer.timer_id},
                {
                    "scheduledBy": timer.scheduled_by,
                    "dueAt": _exact(timer.due_at),
                    "firedAt": fired_at,
                },
                upsert=True,
            )

    async def next_due_at(self) -> datetime | None:
        earliest = await self._timers.find_one(
            {}, {"availableAt": 1}, sort=[("availableAt", ASCENDING)]
        )
        return None if earliest is None else earliest["availableAt"]
