"""The notification ledger in MongoDB: one document per (source event, kind), `_id` the claim.

A unique `_id` insert claims a message (atomic on MongoDB and FerretDB alike); the outcome and
its audit event (embedded outbox) are written in one update under the document's in-process
lock, which the outbox relay shares (FerretDB rewrites whole documents on update).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.notifier.ports import Claim, ClaimOutcome, LedgerState, Outcome
from shared.locks import KeyedLocks
from shared.mongo import Database
from shared.outbox import OUTBOX_INDEX, OutboxRelay, merge_updates, outbox_update
from shared.records import OutgoingRecord, RecordSink
from shared.settings import OutboxSettings

NOTIFICATIONS = "notifications"
ORDER_WINDOWS = "order_windows"
INDEXES = {
    NOTIFICATIONS: [
        OUTBOX_INDEX,
        IndexModel([("orderId", ASCENDING), ("claimedAt", ASCENDING)], name="order"),
        IndexModel([("possibleDuplicate", ASCENDING)], name="possible_duplicate"),
    ],
}


class MongoNotificationLedger:
    def __init__(
        self,
        database: Database,
        sink: RecordSink,
        outbox: OutboxSettings,
        locks: KeyedLocks | None = None,
    ) -> None:
        self.collection = database[NOTIFICATIONS]
        self._windows = database[ORDER_WINDOWS]
        self._locks = locks or KeyedLocks()
        self.relay = OutboxRelay(sink, [self.collection], outbox, self._locks)

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
        }
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            pass
        else:
            return ClaimOutcome.CLAIMED
        async with self._locks.hold((NOTIFICATIONS, claim.notification_id)):
            found = await self.collection.find_one({"_id": claim.notification_id}, {"state": 1})
            if found is not None and found.get("state") != LedgerState.SENDING.value:
                return ClaimOutcome.DONE
            await self.collection.update_one(
                {"_id": claim.notification_id},
                {"$set": {"possibleDuplicate": True}, "$inc": {"attempts": 1}},
            )
            return ClaimOutcome.UNFINISHED

    async def record(
        self, notification_id: str, outcome: Outcome, event: OutgoingRecord, now: datetime
    ) -> None:
        fields = {
            "state": outcome.state.value,
            "twilioSid": outcome.twilio_sid,
            "body": outcome.body,
            "templateSid": outcome.template_sid,
            "errorCode": outcome.error_code,
            "errorMessage": outcome.error_message,
            "permanent": outcome.permanent,
            "finishedAt": now,
        }
        async with self._locks.hold((NOTIFICATIONS, notification_id)):
            await self.collection.update_one(
                {"_id": notification_id},
                merge_updates({"$set": fields}, outbox_update([event], now)),
            )
        await self.relay.flush(self.collection, notification_id)

    async def publish_pending(self, notification_id: str) -> None:
        await self.relay.flush(self.collection, notification_id)

    async def remember_placement(self, order_id: str, placed_at: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._windows.insert_one({"_id": order_id, "placedAt": placed_at})

    async def placed_at(self, order_id: str) -> datetime | None:
        found = await self._windows.find_one({"_id": order_id})
        return None if found is None else found["placedAt"]

    async def entry(self, notification_id: str) -> dict[str, Any] | None:
        """The raw ledger document (for operators and tests)."""
        return await self.collection.find_one({"_id": notification_id})
