"""Timers in MongoDB, shaped for what FerretDB 1.x does cheaply: inserts and `_id` look-ups.

FerretDB 1.x applies a conditional update by reading the document, changing it in Go and writing
it back whole (two replicas can both "win" one compare-and-set), and reads the whole collection
for any filter but `_id` equality (stock 1.24.2 even for updates and deletes by `_id`; the local
build's patch fixes that, see docs/local-servers.md). Inserts and `_id` finds stay cheap and
atomic. So:

- a pending timer is one document, `_id` = `timerId`, written only by the command consumer
  (commands of one timer arrive in order on one restaurant's partition);
- claiming inserts `<timerId>@<command eventId>#<attempt>` into `timer_claims` with a lease:
  one replica wins each attempt, and when a lease runs out the next attempt can be won, so a
  replica that died mid-fire has its timers fired again;
- firing or cancelling inserts a tombstone `<timerId>@<command eventId>` into `timers_done`;
  `maintain` deletes the tombstoned timers, claims and tombstones in batched deletes (served by
  indexes on FerretDB's PostgreSQL backend) once a tombstone is older than a grace period far longer
  than a lease, so a replica that won a claim can always learn from `timers_done` that the timer
  went off elsewhere; the firing path never reads the big `timers` collection (on stock FerretDB
  even an `_id` look-up there read rows until it found the document: ~55 ms at 10,000), and a new
  timer is inserted first and looked up only when its id exists already;
- a tick reads no collection: the store keeps its pending timers in memory, updated by this
  replica's own writes, so a tick costs what is due, on MongoDB and FerretDB;
- a replica owns the timers of the `scheduler.commands` partitions assigned to it (a timer's
  commands all come on its restaurant's partition): it loads them when the partitions are
  assigned (`adopt`) and forgets them when they go (`release`). A replica that dies leaves its
  partitions, with the timers it was firing under lease, to another one, which fires them once
  the leases run out. `reconcile` reads the partitions again (one pass, off the firing path, at
  a pace the service sets) for what a rebalance hid: a load that failed, a timer the previous
  owner wrote as it let go. A store that owns no partitions (tests, tools) keeps every timer.
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
COMPACTION_BATCH = 5000
DELETE_BATCH = 500
"""Versions deleted per statement: FerretDB matches each document against the whole `$in` list,
so a statement costs about its size squared (5,000 at once: 5 s on PostgreSQL)."""
INDEXES = {
    TIMERS: [
        IndexModel([("availableAt", ASCENDING)], name="due"),
        IndexModel([("partition", ASCENDING)], name="partition"),  # loads, on MongoDB
    ],
    CLAIMS: [IndexModel([("version", ASCENDING)], name="version")],
    # Compaction takes the tombstones past their grace: without it, every pass reads them all.
    DONE: [IndexModel([("at", ASCENDING)], name="settled")],
}


def _ceil_to_millisecond(moment: datetime) -> datetime:
    """BSON dates hold milliseconds: rounding the due time up means a timer never fires early."""
    spare = moment.microsecond % 1000
    return moment if spare == 0 else moment + timedelta(microseconds=1000 - spare)


def _exact(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _version(timer_id: str, scheduled_by: str) -> str:
    """One setting of a timer: which command set it."""
    return f"{timer_id}@{scheduled_by}"


def version_id(timer: Timer) -> str:
    return _version(timer.timer_id, timer.scheduled_by)


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
        "partition": timer.partition,
        "traceContext": timer.trace_context,
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
        partition=document.get("partition"),
        trace_context=dict(document.get("traceContext") or {}),
    )


TOMBSTONE_GRACE = timedelta(seconds=60)


def _among(timer: Timer, partitions: set[int] | None) -> bool:
    return partitions is None or timer.partition in partitions


class MongoTimerStore:
    def __init__(self, database: Database, tombstone_grace: timedelta = TOMBSTONE_GRACE) -> None:
        self._tombstone_grace = tombstone_grace
        self._timers = database[TIMERS]
        self._claims = database[CLAIMS]
        self._done = database[DONE]
        self._view: dict[str, tuple[Timer, datetime]] | None = None
        """Pending timers and when each is next available, kept here so that a tick reads no
        collection: loaded for the partitions adopted, updated by this replica's own writes."""
        self._owned: set[int] | None = None
        """The partitions whose timers this replica fires; None: every timer."""
        self._touched: set[str] | None = None
        """While a pass reads the collection: the timers this replica set or retired meanwhile,
        whose entry in the view is newer than what the pass read."""
        self._reading = asyncio.Lock()

    def _keeps(self, timer: Timer) -> bool:
        return self._owned is None or timer.partition in self._owned

    async def upsert(self, timer: Timer) -> bool:
        if await self._done.find_one({"_id": version_id(timer)}, {"_id": 1}):
            return False  # this command's timer fired or was cancelled: a redelivery
        try:
            await self._timers.insert_one(timer_document(timer))
        except DuplicateKeyError:
            current = await self._timers.find_one({"_id": timer.timer_id})
            if current is not None and current["scheduledBy"] == timer.scheduled_by:
                # A redelivery, maybe to the replica that took the partition over: keep it.
                await self._keep_in_view(timer)
                return False
            if current is not None and (
                datetime.fromisoformat(current["scheduledAt"]) > timer.scheduled_at
            ):
                return False
            # Upsert: a compaction may have deleted the fired version since the insert failed.
            await self._timers.replace_one(
                {"_id": timer.timer_id}, timer_document(timer), upsert=True
            )
        if self._view is not None:
            if self._keeps(timer):
                self._view[timer.timer_id] = (timer, _ceil_to_millisecond(timer.due_at))
            else:
                self._view.pop(timer.timer_id, None)
            self._touch(timer.timer_id)
        return True

    def _touch(self, timer_id: str) -> None:
        if self._touched is not None:
            self._touched.add(timer_id)

    async def _keep_in_view(self, timer: Timer) -> None:
        if self._view is None or timer.timer_id in self._view or not self._keeps(timer):
            return
        if not await self._done.find_one({"_id": version_id(timer)}, {"_id": 1}):
            self._view[timer.timer_id] = (timer, _ceil_to_millisecond(timer.due_at))
            self._touch(timer.timer_id)

    async def cancel(self, timer_id: str) -> bool:
        current = await self._timers.find_one({"_id": timer_id}, {"scheduledBy": 1})
        if current is None:
            return False
        buried = await self._bury(_version(timer_id, current["scheduledBy"]))
        if self._view is not None:  # after the tombstone, so a pass reading now sees one or other
            self._view.pop(timer_id, None)
            self._touch(timer_id)
        return buried

    async def claim_due(self, now: datetime, lease: timedelta, limit: int) -> DueTimers:
        if self._view is None:
            await self.reconcile()
        assert self._view is not None
        ordered = sorted(self._view.values(), key=lambda entry: entry[1])
        due = [timer for timer, available_at in ordered if available_at <= now]
        later = [available_at for _, available_at in ordered if available_at > now]
        token = uuid.uuid4().hex  # names this claimant in its claim records
        claimed: list[Timer] = []
        while due and len(claimed) < limit:
            # Never more attempts than claims still wanted: a won claim is a promise to fire.
            tries, due = due[: limit - len(claimed)], due[limit - len(claimed) :]
            outcomes = await asyncio.gather(*(self._claim(t, now, lease, token) for t in tries))
            for timer, (won, held_until) in zip(tries, outcomes, strict=True):
                if won:
                    claimed.append(timer)
                    self._note(timer, now + lease)
                elif held_until is not None:
                    self._note(timer, held_until)
                    later.append(held_until)
                else:
                    self._note(timer, None)  # fired, cancelled or moved elsewhere
        next_due = now if due else min(later, default=None)
        return DueTimers(claimed, next_due)

    def _note(self, timer: Timer, available_at: datetime | None) -> None:
        """Updates (or, with None, forgets) this version of a timer in the view; a newer
        version set meanwhile is left as it is."""
        entry = (self._view or {}).get(timer.timer_id)
        if self._view is None or entry is None or entry[0].scheduled_by != timer.scheduled_by:
            return
        if available_at is None:
            del self._view[timer.timer_id]
        else:
            self._view[timer.timer_id] = (timer, available_at)
        self._touch(timer.timer_id)

    async def adopt(self, partitions: set[int]) -> None:
        """Takes over these partitions: timers set on them are kept from now on, and those
        stored are loaded (one pass). If the load fails the partitions stay owned, unloaded
        until a `reconcile` succeeds."""
        if self._owned is None:
            self._owned, self._view = set(), {}
        self._owned |= partitions
        await self._read(partitions)

    async def release(self, partitions: set[int]) -> None:
        """Forgets the timers of partitions another replica now owns."""
        if self._owned is None:
            self._owned, self._view = set(), {}
        self._owned -= partitions
        if self._view is not None:
            for timer_id, (timer, _) in list(self._view.items()):
                if timer.partition in partitions:
                    del self._view[timer_id]

    async def reconcile(self) -> int:
        """Makes the view of the owned partitions (or of every timer) what is stored, in one
        pass; returns how many pending timers it found that the view lacked."""
        return await self._read(None if self._owned is None else set(self._owned))

    async def _read(self, partitions: set[int] | None) -> int:
        """Sets the view of `partitions` (None: all) to their pending timers as stored, but for
        what this replica set or retired while the pass read and the leases it knows of."""
        if partitions == set():
            return 0
        async with self._reading:
            self._touched = set()
            try:
                stored = await self._pending(partitions)
            finally:
                touched, self._touched = self._touched, None
            view = self._view or {}
            found = 0
            merged = {
                timer_id: entry
                for timer_id, entry in view.items()
                if timer_id in touched or not _among(entry[0], partitions)
            }
            for timer_id, entry in stored.items():
                if timer_id in touched or not self._keeps(entry[0]):
                    continue  # newer in the view, or released while the pass read
                current = view.get(timer_id)
                if current is not None and current[0].scheduled_by == entry[0].scheduled_by:
                    merged[timer_id] = current  # it may know of a lease
                else:
                    merged[timer_id] = entry
                    found += current is None
            self._view = merged
            return found

    async def _pending(self, partitions: set[int] | None) -> dict[str, tuple[Timer, datetime]]:
        """The pending timers of `partitions` (None: all) as stored: one pass over each
        collection (FerretDB reads the whole of it for these filters)."""
        selector = {} if partitions is None else {"partition": {"$in": sorted(partitions)}}
        buried = {document["_id"] async for document in self._done.find({}, {"_id": 1})}
        documents = [document async for document in self._timers.find(selector)]
        return {
            d["_id"]: (_timer(d), d["availableAt"])
            for d in documents
            if _version(d["_id"], d["scheduledBy"]) not in buried
        }

    async def maintain(self) -> None:
        """Compacts what was fired or cancelled."""
        await self.compact()

    async def _claim(
        self, timer: Timer, now: datetime, lease: timedelta, token: str
    ) -> tuple[bool, datetime | None]:
        """Whether this replica won the timer, else until when another one holds it."""
        version = version_id(timer)
        if await self._done.find_one({"_id": version}, {"_id": 1}):
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
        # A replica whose lease ran out may have fired it meanwhile: its tombstone says so (kept
        # far longer than a lease). Our claim then stays unused until compaction.
        if await self._done.find_one({"_id": version}, {"_id": 1}):
            return False, None
        return True, None

    async def complete(self, timers: list[Timer]) -> int:
        buried = await asyncio.gather(*(self._bury(version_id(timer)) for timer in timers))
        for timer in timers:
            self._note(timer, None)
        return sum(buried)

    async def _bury(self, version: str) -> bool:
        try:
            await self._done.insert_one({"_id": version, "at": datetime.now(UTC)})
        except DuplicateKeyError:
            return False  # buried already (a lease ran out and another replica fired it too)
        return True

    async def compact(self) -> None:
        """Deletes what the tombstones past their grace name: batched deletes per collection."""
        settled = datetime.now(UTC) - self._tombstone_grace
        buried = self._done.find({"at": {"$lte": settled}}, {"_id": 1}).limit(COMPACTION_BATCH)
        versions = [document["_id"] async for document in buried]
        for first in range(0, len(versions), DELETE_BATCH):
            await self._delete(versions[first : first + DELETE_BATCH])

    async def _delete(self, versions: list[str]) -> None:
        timer_ids, commands = zip(*(version.rsplit("@", 1) for version in versions), strict=True)
        # A command id belongs to one timer, so this deletes exactly the buried versions: a
        # timer moved since holds a newer command, and stays. The tombstones go last.
        await self._timers.delete_many(
            {"_id": {"$in": list(timer_ids)}, "scheduledBy": {"$in": list(commands)}}
        )
        await self._claims.delete_many({"version": {"$in": versions}})
        await self._done.delete_many({"_id": {"$in": versions}})
