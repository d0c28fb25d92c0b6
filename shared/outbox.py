"""The embedded outbox (DESIGN.md section 9): events saved in the same update as the state change.

A repository adds records to the changed document with `outbox_update` (or `with_outbox` on
insert), in the one atomic write of that document. The relay then produces them in order with
the idempotent producer and removes each document's records once the broker acknowledged them.
A repository gets its collection's `CollectionOutbox` from the relay (`attach`): it takes the
document's lock around each write (see shared/locks.py; the relay takes the same lock) and
`publish`es after the write, the fast path; `sweep` finds what a crash left behind. A crash
between producing and removing produces the records again: consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel

from shared.locks import KeyedLocks
from shared.metrics import OUTBOX_PENDING_DOCUMENTS, OUTBOX_PUBLISHED
from shared.mongo import Document
from shared.records import OutgoingRecord, RecordSink
from shared.settings import OutboxSettings

log = logging.getLogger(__name__)

OUTBOX = "outbox"
PENDING_SINCE = "outboxPendingSince"
OUTBOX_INDEX = IndexModel([(PENDING_SINCE, ASCENDING)], name="outbox_pending")
"""Lets the sweep find documents with pending records without scanning the collection."""


def with_outbox(document: Document, records: Sequence[OutgoingRecord], now: datetime) -> Document:
    """A new document carrying `records` in its outbox, for an insert."""
    if not records:
        return document
    return document | {OUTBOX: [record.to_document() for record in records], PENDING_SINCE: now}


def outbox_update(records: Sequence[OutgoingRecord], now: datetime) -> Document:
    """Update operators appending `records` to a document's outbox; merge into the state update."""
    if not records:
        return {}
    return {
        "$push": {OUTBOX: {"$each": [record.to_document() for record in records]}},
        "$min": {PENDING_SINCE: now},
    }


def merge_updates(*updates: Document) -> Document:
    """Combines update documents operator by operator (`$set` with `$set`, and so on)."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            target = merged.setdefault(operator, {})
            overlap = target.keys() & fields.keys()
            if overlap:
                raise ValueError(f"fields {sorted(overlap)} are updated twice by {operator}")
            target.update(fields)
    return merged


class CollectionOutbox:
    """One collection's outbox as its repository sees it: the lock each write of a document takes
    (the relay takes it too), and publishing what a write left in the document's outbox."""

    def __init__(self, collection: Any, relay: OutboxRelay) -> None:
        self.collection = collection
        self._relay = relay

    def lock(self, document_id: Any) -> AbstractAsyncContextManager[None]:
        return self._relay.locks.hold((self.collection.name, document_id))

    async def publish(self, document_id: Any) -> int:
        """Publishes the document's pending records now (the sweep catches what this misses)."""
        return await self._relay.flush(self.collection, document_id)


class OutboxRelay:
    """Publishes and clears the outboxes of the collections attached to it."""

    def __init__(
        self,
        sink: RecordSink,
        settings: OutboxSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.locks = KeyedLocks()
        self._sink = sink
        self._collections: list[Any] = []
        self._settings = settings
        self._clock = clock

    def attach(self, collection: Any) -> CollectionOutbox:
        """Relays `collection`'s outboxes from now on (the sweep included)."""
        self._collections.append(collection)
        return CollectionOutbox(collection, self)

    @property
    def attached(self) -> bool:
        return bool(self._collections)

    async def flush(self, collection: Any, document_id: Any, *, path: str = "flush") -> int:
        """Publishes one document's pending records now; returns how many were published."""
        async with self.locks.hold((collection.name, document_id)):
            found = await collection.find_one({"_id": document_id}, {OUTBOX: 1})
            entries = (found or {}).get(OUTBOX) or []
            if not entries:
                return 0
            await self._sink.send(*(OutgoingRecord.from_document(entry) for entry in entries))
            # One write when the outbox still holds exactly what was published (the usual case:
            # every write of this process takes the lock held here).
            emptied = await collection.update_one(
                {"_id": document_id, OUTBOX: entries},
                {"$set": {OUTBOX: []}, "$unset": {PENDING_SINCE: ""}},
            )
            if emptied.matched_count == 0:
                # Another process added records meanwhile: remove ours only (exact values:
                # FerretDB 1.x ignores $pull with a condition), then the marker if none is left.
                await collection.update_one({"_id": document_id}, {"$pullAll": {OUTBOX: entries}})
                await collection.update_one(
                    {"_id": document_id, OUTBOX: {"$size": 0}}, {"$unset": {PENDING_SINCE: ""}}
                )
            OUTBOX_PUBLISHED.labels(path).inc(len(entries))
            return len(entries)

    async def sweep(self) -> int:
        """Publishes the records older than the grace period, oldest document first."""
        cutoff = self._clock() - timedelta(seconds=self._settings.sweep_grace_s)
        published = 0
        for collection in self._collections:
            cursor = (
                collection.find({PENDING_SINCE: {"$lte": cutoff}}, {"_id": 1})
                .sort(PENDING_SINCE, ASCENDING)
                .limit(self._settings.batch_size)
            )
            found = [document["_id"] async for document in cursor]
            OUTBOX_PENDING_DOCUMENTS.observe(len(found))
            for document_id in found:
                published += await self.flush(collection, document_id, path="sweep")
        return published

    async def run(self) -> None:
        """Sweeps forever; a failed sweep is logged and tried again at the next interval."""
        while True:
            try:
                count = await self.sweep()
                if count:
                    log.info("outbox sweep republished %d record(s)", count)
            except Exception:
                log.exception(
                    "outbox sweep failed; retrying in %.1fs", self._settings.sweep_interval_s
                )
            await asyncio.sleep(self._settings.sweep_interval_s)
