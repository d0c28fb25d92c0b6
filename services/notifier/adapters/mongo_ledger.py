"""The notification ledger in MongoDB: one document per (source event, kind), `_id` the claim.

A unique `_id` insert claims a message (atomic on MongoDB and FerretDB alike); the outcome and
its audit event (embedded outbox) are written in one update under the document's in-process
lock, which the outbox relay shares (FerretDB rewrites whole documents on update).

FerretDB 1.x reads a whole collection for every filter but `_id` equality (stock 1.24.2 even for
updates by `_id`; the local build patches that, see docs/local-servers.md), so the working
collection holds only messages in flight and recently finished: `compact` moves finished,
published entries to `notification_history` (insert-only, `_id` look-ups) and deletes them in one
batched pass. An entry is archived only once it finished and its event occurred `ARCHIVED_AFTER`
ago, so a claim of an event younger than half that (by this clock) cannot have an archived twin;
an older one checks the history after its insert, so an entry archived meanwhile is never sent
again (see docs/notifications.md, "Each message once").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any, cast

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.notifier.messages import CUSTOMER_EVENTS, CustomerEvent, CustomerMessage
from services.notifier.ports import Claim, ClaimOutcome, LedgerState, Outcome, Waiting
from shared.contracts.registry import decode_as
from shared.contracts.values import NotificationKind, OrderStatus
from shared.mongo import Database
from shared.outbox import OutboxRelay
from shared.outbox_documents import OUTBOX_INDEX, PENDING_SINCE, merge_updates, outbox_update
from shared.records import OutgoingRecord
from shared.remembered import Remembered

log = logging.getLogger(__name__)

NOTIFICATIONS = "notifications"
HISTORY = "notification_history"
ORDER_WINDOWS = "order_windows"
FINISHED = [
    LedgerState.SENT.value,
    LedgerState.FAILED.value,
    LedgerState.DROPPED.value,
    LedgerState.SILENCED.value,
]
RECORDABLE = [LedgerState.SENDING.value, LedgerState.WAITING.value]
ARCHIVED_AFTER = timedelta(seconds=60)
"""How long after it finished, and after its event occurred, an entry stays in the working
collection."""
HISTORY_UNTIL = ARCHIVED_AFTER / 2
"""A claim of an event younger than this cannot meet an archived entry: the half left over covers
the clocks of two replicas disagreeing."""
PLACEMENTS_REMEMBERED = 10_000
"""Order placements kept in memory (they never change): the window's look-up costs no read."""
INDEXES = {
    NOTIFICATIONS: [
        OUTBOX_INDEX,
        IndexModel([("state", ASCENDING), ("finishedAt", ASCENDING)], name="finished"),
        IndexModel([("state", ASCENDING), ("orderId", ASCENDING)], name="waiting"),
        IndexModel([("to", ASCENDING), ("twilioSid", ASCENDING)], name="recipient_sid"),
    ],
    HISTORY: [
        IndexModel([("orderId", ASCENDING), ("claimedAt", ASCENDING)], name="order"),
        IndexModel([("to", ASCENDING), ("twilioSid", ASCENDING)], name="recipient_sid"),
        IndexModel([("finishedAt", ASCENDING)], name="finished"),
        IndexModel([("possibleDuplicate", ASCENDING)], name="possible_duplicate"),
    ],
    ORDER_WINDOWS: [IndexModel([("placedAt", ASCENDING)], name="placed")],
}


class MongoNotificationLedger:
    def __init__(self, database: Database, relay: OutboxRelay) -> None:
        self.collection = database[NOTIFICATIONS]
        self._history = database[HISTORY]
        self._windows = database[ORDER_WINDOWS]
        self._outbox = relay.attach(self.collection)
        self._placements: Remembered[str, datetime] = Remembered(PLACEMENTS_REMEMBERED)

    async def claim(self, claim: Claim) -> ClaimOutcome:
        document: dict[str, Any] = {
            "_id": claim.notification_id,
            "state": LedgerState.SENDING.value,
            "sourceEventId": claim.source_event_id,
            "kind": claim.kind.value,
            "orderId": claim.order_id,
            "clientId": claim.client_id,
            "storeId": claim.store_id,
            "to": claim.to,
            "claimedAt": claim.claimed_at,
            "attempts": 1,
            "message": _message_document(claim.message),
            "cause": claim.cause.to_wire(),
            "position": claim.position,
            "attemptAt": claim.claimed_at,
            "waits": 0,
            "eventAt": claim.cause.occurred_at,
        }
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            pass
        else:
            young = claim.claimed_at - claim.cause.occurred_at < HISTORY_UNTIL
            if young or not await self._drop_if_archived(claim.notification_id):
                return ClaimOutcome.CLAIMED
            return ClaimOutcome.DONE
        async with self._outbox.lock(claim.notification_id):
            found = await self.collection.find_one({"_id": claim.notification_id}, {"state": 1})
            if found is None or found.get("state") != LedgerState.SENDING.value:
                return ClaimOutcome.DONE  # finished (found), or archived a moment ago
            if await self._drop_if_archived(claim.notification_id):
                return ClaimOutcome.DONE  # a claim of an archived entry, left by a crash
            await self.collection.update_one(
                {"_id": claim.notification_id},
                {"$set": {"possibleDuplicate": True}, "$inc": {"attempts": 1}},
            )
            return ClaimOutcome.UNFINISHED

    async def first_claimed_at(self, notification_id: str) -> datetime | None:
        found = await self.collection.find_one({"_id": notification_id}, {"claimedAt": 1})
        return None if found is None else found.get("claimedAt")

    async def record(
        self, notification_id: str, outcome: Outcome, event: OutgoingRecord, now: datetime
    ) -> bool:
        fields = {
            "state": outcome.state.value,
            "twilioSid": outcome.twilio_sid,
            "body": outcome.body,
            "templateSid": outcome.template_sid,
            "errorCode": outcome.error_code,
            "errorMessage": outcome.error_message,
            "permanent": outcome.permanent,
            "finishedAt": now,
            "leasedUntil": None,
        }
        query: dict[str, Any] = {"_id": notification_id, "state": {"$in": RECORDABLE}}
        if outcome.state is LedgerState.DROPPED:
            query |= _not_leased(now)
        # What it took to send the message later is not kept (nor archived) once it is settled.
        settled = {"$set": fields, "$unset": {"message": "", "cause": ""}}
        return await self._outbox.update(query, merge_updates(settled, outbox_update([event], now)))

    async def wait(
        self,
        notification_id: str,
        retry_at: datetime,
        *,
        attempt_at: datetime | None,
        error: str | None,
    ) -> None:
        fields = {
            "state": LedgerState.WAITING.value,
            "retryAt": retry_at,
            "attemptAt": attempt_at,
            "leasedUntil": None,
        }
        update: dict[str, Any] = {"$set": fields}
        if error is not None:
            update |= {"$set": fields | {"lastError": error}, "$inc": {"waits": 1}}
        async with self._outbox.lock(notification_id):
            await self.collection.update_one(
                {"_id": notification_id, "state": {"$in": RECORDABLE}}, update
            )

    async def waiting(self, order_id: str | None = None, limit: int = 1000) -> list[Waiting]:
        query: dict[str, Any] = {"state": LedgerState.WAITING.value}
        if order_id is not None:
            query["orderId"] = order_id
        cursor = self.collection.find(query).sort("position", ASCENDING).limit(limit)
        return [_waiting(document) async for document in cursor]

    async def lease(self, notification_id: str, now: datetime, until: datetime) -> bool:
        async with self._outbox.lock(notification_id):
            taken = await self.collection.update_one(
                {"_id": notification_id, "state": LedgerState.WAITING.value} | _not_leased(now),
                {"$set": {"leasedUntil": until}},
            )
        return bool(taken.modified_count)

    async def attempting(self, notification_id: str, at: datetime) -> None:
        async with self._outbox.lock(notification_id):
            await self.collection.update_one(
                {"_id": notification_id, "state": LedgerState.WAITING.value},
                {"$set": {"attemptAt": at}},
            )

    async def held_sids(self, to: str, sids: list[str]) -> set[str]:
        query = {"to": to, "twilioSid": {"$in": sids}}
        held: set[str] = set()
        for collection in (self.collection, self._history):
            async for document in collection.find(query, {"twilioSid": 1}):
                held.add(document["twilioSid"])
        return held

    async def publish(self, notification_id: str) -> None:
        await self._outbox.publish(notification_id)

    async def silence(self, notification_id: str, *, event_at: datetime, now: datetime) -> None:
        silenced = {"state": LedgerState.SILENCED.value, "eventAt": event_at, "finishedAt": now}
        with contextlib.suppress(DuplicateKeyError):
            await self.collection.insert_one({"_id": notification_id} | silenced)

    async def remember_placement(self, order_id: str, placed_at: datetime) -> None:
        try:
            await self._windows.insert_one({"_id": order_id, "placedAt": placed_at})
        except DuplicateKeyError:
            return
        self._note_placement(order_id, placed_at)

    async def placed_at(self, order_id: str) -> datetime | None:
        if (known := self._placements.get(order_id)) is not None:
            return known
        found = await self._windows.find_one({"_id": order_id})
        if found is None:
            return None
        self._note_placement(order_id, found["placedAt"])
        return cast(datetime, found["placedAt"])

    def _note_placement(self, order_id: str, placed_at: datetime) -> None:
        """Remembers a stored placement: the first insert wins and no write changes it after."""
        self._placements.put(order_id, placed_at)

    async def entry(self, notification_id: str) -> dict[str, Any] | None:
        """The raw ledger document, working or archived (for operators and tests)."""
        found = await self.collection.find_one({"_id": notification_id})
        return found or await self._history.find_one({"_id": notification_id})

    async def _drop_if_archived(self, notification_id: str) -> bool:
        """Whether the entry was finished and archived; if so its fresh claim is deleted."""
        if await self._history.find_one({"_id": notification_id}, {"_id": 1}) is None:
            return False
        await self.collection.delete_one(
            {"_id": notification_id, "state": LedgerState.SENDING.value}
        )
        return True

    async def compact(self, now: datetime, limit: int = 1000) -> int:
        """Moves the entries finished and published, whose event occurred `ARCHIVED_AFTER` ago,
        to the history; returns how many moved."""
        before = now - ARCHIVED_AFTER
        await self._outbox.clear_published()  # published entries are told by their outbox
        cursor = self.collection.find(
            {
                "state": {"$in": FINISHED},
                "finishedAt": {"$lte": before},
                PENDING_SINCE: {"$exists": False},
                # Entries claimed before `eventAt` was kept go by their finish alone.
                "$or": [{"eventAt": {"$lte": before}}, {"eventAt": {"$exists": False}}],
            }
        ).limit(limit)
        moved = [document async for document in cursor]
        for document in moved:
            with contextlib.suppress(DuplicateKeyError):
                await self._history.insert_one(document)
        if moved:
            await self.collection.delete_many(
                {
                    "_id": {"$in": [document["_id"] for document in moved]},
                    "state": {"$in": FINISHED},
                }
            )
        return len(moved)

    async def prune(self, history_before: datetime, windows_before: datetime) -> int:
        """Forgets archived entries and order placements older than the given instants."""
        history = await self._history.delete_many({"finishedAt": {"$lt": history_before}})
        windows = await self._windows.delete_many({"placedAt": {"$lt": windows_before}})
        return int(history.deleted_count) + int(windows.deleted_count)

    async def keep_compacted(
        self,
        clock: Callable[[], datetime],
        *,
        every: timedelta = timedelta(seconds=5),
        keep_history: timedelta = timedelta(days=30),
        keep_windows: timedelta = timedelta(days=2),
        prune_every: timedelta = timedelta(hours=1),
    ) -> None:
        """Compacts forever, pruning now and then (a background loop); failures are logged."""
        last_prune: datetime | None = None
        while True:
            try:
                now = clock()
                await self.compact(now)
                if last_prune is None or now - last_prune >= prune_every:
                    await self.prune(now - keep_history, now - keep_windows)
                    last_prune = now
            except Exception:
                log.exception("compacting the notification ledger failed")
            await asyncio.sleep(every.total_seconds())


def _not_leased(now: datetime) -> dict[str, Any]:
    return {"$or": [{"leasedUntil": None}, {"leasedUntil": {"$lte": now}}]}


def _message_document(message: CustomerMessage) -> dict[str, Any]:
    return asdict(message) | {"template_keys": list(message.template_keys)}


def _waiting(document: dict[str, Any]) -> Waiting:
    fields = dict(document["message"])
    status = fields.pop("status", None)
    message = CustomerMessage(
        **fields
        | {
            "kind": NotificationKind(fields["kind"]),
            "template_keys": tuple(fields["template_keys"]),
            "status": None if status is None else OrderStatus(status),
        }
    )
    return Waiting(
        notification_id=document["_id"],
        message=message,
        cause=cast(CustomerEvent, decode_as(document["cause"], *CUSTOMER_EVENTS)),
        position=document["position"],
        claimed_at=document["claimedAt"],
        retry_at=document["retryAt"],
        waits=document.get("waits", 0),
        attempt_at=document.get("attemptAt"),
        last_error=document.get("lastError"),
    )
