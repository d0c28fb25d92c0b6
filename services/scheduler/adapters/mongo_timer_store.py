"""Timers in MongoDB, shaped for what FerretDB 1.x does cheaply: inserts and `_id` look-ups.

FerretDB 1.x applies a conditional update by reading the document, changing it in Go and writing
it back whole (two replicas can both "win" one compare-and-set), and its updates and deletes,
even by `_id`, read the whole collection. Inserts and `_id` finds stay cheap and atomic. So:

- a pending timer is one document, `_id` = `timerId`, written only by the command consumer
  (commands of one timer arrive in order on one restaurant's partition);
- claiming inserts `<timerId>@<command eventId>#<attempt>` into `timer_claims` with a lease:
  one replica wins each attempt, and when a lease runs out the next attempt can be won, so a
  replica that died mid-fire has its timers fired again;
- firing or cancelling inserts a tombstone `<timerId>@<command eventId>` into `timers_done`;
  the next tick deletes the tombstoned timers, claims and tombstones in a few batched deletes
  (one pass each on FerretDB), so the per-timer cost is inserts only;
- the tick reads the earliest pending timers by `availableAt` in one indexed query that also
  tells the next due time: on MongoDB it costs what is due; on FerretDB, what is pending.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.scheduler.domain import Timer
from services.scheduler.ports import DueTimers
from shared.contracts.scheduler import TimerPurpose
from shared.mongo import Database, Document

TIMERS = "timers"
CLAIMS = "timer_claims"
DONE = "timers_done"
COMPACTION_BATCH = 1000
INDEXES = {
    TIMERS: [IndexModel([("availableAt", ASCENDING)], name="due")],
    CLAIMS: [IndexModel([("version", ASCENDING)], name="version")],
}


def _ceil_to_millisecond(moment: datetime) -> datetime:
    """BSON dates hold milliseconds: rounding the due time up means a timer never fires early."""
    spare = moment.microsecond % 1000
    return moment if spare == 0 else moment + timedelta(microseconds=1000 - spare)


def _exact(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def version_id(timer: Timer) -> str:
    """One setting of a timer: which command set it."""
    return f"{timer.timer_id}@{timer.scheduled_by}"


def timer_document(timer: Timer) -> Document:
    return {
        "_id": timer.timer_id,
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
        timer_id=document["_id"],
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
    def __init__(self, database: Database, compact_every: timedelta = timedelta(seconds=2)) -> None:
        self._timers = database[TIMERS]
        self._claims = database[CLAIMS]
        self._done = database[DONE]
        self._compact_every = compact_every
        self._compacted_at = datetime.min.replace(tzinfo=UTC)
        self._buried_here: set[str] = set()
        """Versions this replica buried since its last compaction: skipped without a look-up."""

    async def upsert(self, timer: Timer) -> bool:
        current = await self._timers.find_one({"_id": timer.timer_id})
        if current is not None and (
            current["scheduledBy"] == timer.scheduled_by
            or datetime.fromisoformat(current["scheduledAt"]) > timer.scheduled_at
        ):
            return False
        if await self._done.find_one({"_id": version_id(timer)}, {"_id": 1}):
            return False  # this command's timer fired or was cancelled: a redelivery
        if current is None:
            try:
                await self._timers.insert_one(timer_document(timer))
            except DuplicateKeyError:
                return False
        else:
            await self._timers.replace_one({"_id": timer.timer_id}, timer_document(timer))
        return True

    async def cancel(self, timer_id: str) -> bool:
        current = await self._timers.find_one({"_id": timer_id}, {"scheduledBy": 1})
        if current is None:
            return False
        return await self._bury(f"{timer_id}@{current['scheduledBy']}")

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> DueTimers:
        # Compaction is one pass over the collection on FerretDB: batched every few seconds.
        if now - self._compacted_at >= self._compact_every:
            await self.compact()
            self._compacted_at = now
        # Timers claimed by others stay due until compacted, so the window leaves room for them.
        window = limit + await self._claims.count_documents({}) + 1
        earliest = self._timers.find({}).sort("availableAt", ASCENDING).limit(window)
        documents = [document async for document in earliest]
        due = [_timer(d) for d in documents if d["availableAt"] <= now]
        later = [d["availableAt"] for d in documents if d["availableAt"] > now]
        token = uuid.uuid4().hex  # names this claimant in its claim records
        claimed: list[Timer] = []
        held_until: list[datetime] = []
        while due and len(claimed) < limit:
            # Never more attempts than claims still wanted: a won claim is a promise to fire.
            tries, due = due[: limit - len(claimed)], due[limit - len(claimed) :]
            outcomes = await asyncio.gather(*(self._claim(t, now, lease, token) for t in tries))
            claimed += [timer for timer, (won, _) in zip(tries, outcomes, strict=True) if won]
            held_until += [until for _, until in outcomes if until is not None]
        if due or (len(documents) == window and not later):
            next_due: datetime | None = now  # the window was all due: look again at once
        else:
            next_due = min([*later[:1], *held_until], default=None)
        return DueTimers(claimed, next_due)

    async def _claim(
        self, timer: Timer, now: datetime, lease: timedelta, token: str
    ) -> tuple[bool, datetime | None]:
        """Whether this replica won the timer, else until when another one holds it."""
        version = version_id(timer)
        if version in self._buried_here or await self._done.find_one({"_id": version}, {"_id": 1}):
            return False, None  # fired or cancelled, awaiting compaction
        attempt = 0
        while True:
            try:
                await self._claims.insert_one(
                    {
                        "_id": f"{version}#{attempt}",
                        "version": version,
                        "leaseUntil": now + lease,
                        "token": token,
                    }
                )
                break
            except DuplicateKeyError:
                held = await self._claims.find_one({"_id": f"{version}#{attempt}"})
                if held is None:
                    return False, None  # compacted away meanwhile
                if held["leaseUntil"] > now:
                    return False, held["leaseUntil"]
                attempt += 1  # that claimant's lease ran out: it died mid-fire
        # Another replica may have fired it and compacted it away (tombstone and claims gone)
        # since our tick read it: then its document is gone too, or holds a newer command.
        still = await self._timers.find_one({"_id": timer.timer_id}, {"scheduledBy": 1})
        return still is not None and still["scheduledBy"] == timer.scheduled_by, None

    async def complete(self, timers: list[Timer]) -> int:
        buried = await asyncio.gather(*(self._bury(version_id(timer)) for timer in timers))
        return sum(buried)

    async def _bury(self, version: str) -> bool:
        try:
            await self._done.insert_one({"_id": version})
        except DuplicateKeyError:
            return False  # buried already (a lease ran out and another replica fired it too)
        self._buried_here.add(version)
        return True

    async def compact(self) -> None:
        """Deletes what the tombstones name: one batched delete per collection."""
        buried = self._done.find({}, {"_id": 1}).limit(COMPACTION_BATCH)
        versions = [document["_id"] async for document in buried]
        if not versions:
            return
        timer_ids, commands = zip(*(version.rsplit("@", 1) for version in versions), strict=True)
        # A command id belongs to one timer, so this deletes exactly the buried versions: a
        # timer moved since holds a newer command, and stays.
        await self._timers.delete_many(
            {"_id": {"$in": list(timer_ids)}, "scheduledBy": {"$in": list(commands)}}
        )
        await self._claims.delete_many({"version": {"$in": versions}})
        await self._done.delete_many({"_id": {"$in": versions}})
        self._buried_here.clear()  # a cache only: what is still buried is found in `timers_done`
