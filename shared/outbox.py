"""The embedded outbox's relay (DESIGN.md section 9): it publishes the records a write saved in
its document (`shared/outbox_documents.py`) and removes them once the broker acknowledged them.

A repository gets its collection's `CollectionOutbox` from the relay (`attach`), writes through
it under the document's lock (the relay takes the same lock) and `publish`es after the write, from
the outbox the write returned; published records are removed a moment later, many documents in
one bulk write (`clear_published`); `sweep` finds what a crash left behind. A crash between
producing and removing produces the records again: consumers are idempotent. A record Kafka
refuses for good (too large, illegal topic) is parked in the document, counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne

from shared.errors import is_unpublishable
from shared.locks import KeyedLocks
from shared.metrics import OUTBOX_PARKED, OUTBOX_PENDING_DOCUMENTS, OUTBOX_PUBLISHED
from shared.mongo import Document
from shared.outbox_documents import OUTBOX, PARKED, PENDING_SINCE
from shared.records import HEADER_EVENT_TYPE, OutgoingRecord, RecordSink
from shared.settings import OutboxSettings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500
SWEEP_FAILURES_IN_A_ROW = 3
WRITTEN_REMEMBERED = 10_000
"""Outboxes a write returned and no publish took yet (a handler that failed in between); past
this many the oldest is forgotten, and its publish reads the document instead."""
CLEARING_DELAY_S = 0.05
"""How long published records wait to be removed, so that one bulk write removes many."""
CLEARED_PER_WRITE = 32
"""Documents one bulk write clears at most: FerretDB 1.24 kept a pooled connection per statement
until the whole command ended, and a command of 50 (after a crash, the sweep's 100) stalled the
server (the local build's `update-statements.patch` mends it; the bound keeps one write short
anywhere)."""


class CollectionOutbox:
    """One collection's outbox as its repository sees it: the lock each write of a document takes
    (the relay takes it too), and publishing what a write left in the document's outbox."""

    def __init__(self, collection: Any, relay: OutboxRelay) -> None:
        self.collection = collection
        self._relay = relay

    def lock(self, document_id: Any) -> AbstractAsyncContextManager[None]:
        """The document's lock, for writes that leave its outbox alone (`insert` and `update`
        take it themselves)."""
        return self._relay.locks.hold((self.collection.name, document_id))

    async def insert(self, document: Document) -> None:
        """Inserts a new document (its records from `with_outbox`) under its lock; raises
        `DuplicateKeyError` as the driver does."""
        async with self.lock(document["_id"]):
            await self.collection.insert_one(document)
            self._relay.written(self.collection, document["_id"], document.get(OUTBOX, []))

    async def update(self, query: Document, update: Document, *, upsert: bool = False) -> bool:
        """Applies `update` to the document `query` names by `_id`, under its lock; False when
        none matched. The write returns the document (no projection: FerretDB 1.x refuses one
        in findAndModify), so `publish` has its outbox without reading it again."""
        async with self.lock(query["_id"]):
            found = await self.collection.find_one_and_update(
                query, update, upsert=upsert, return_document=ReturnDocument.AFTER
            )
            if found is None:
                return False
            self._relay.written(self.collection, query["_id"], found.get(OUTBOX) or [])
        return True

    async def publish(self, document_id: Any) -> int:
        """Publishes the document's pending records now and parks those Kafka refuses for good;
        raises on a transient failure (the sweep catches what this misses)."""
        return await self._relay.flush(self.collection, document_id)

    async def clear_published(self) -> int:
        """Removes what the relay published so far from its documents now, for a reader that
        tells published documents by their outbox (see `OutboxRelay.clear_published`)."""
        return await self._relay.clear_published()


class OutboxRelay:
    """Publishes and clears the outboxes of the collections attached to it."""

    def __init__(
        self,
        sink: RecordSink,
        settings: OutboxSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.locks = KeyedLocks()
        self._written: dict[tuple[str, Any], list[Document]] = {}
        self._published: dict[tuple[str, Any], tuple[Any, list[Document]]] = {}
        """Records produced and not yet removed from their document, by document."""
        self._to_clear = asyncio.Event()
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

    def written(self, collection: Any, document_id: Any, entries: list[Document]) -> None:
        """Notes the outbox a write just left in a document, under its lock, for its publish."""
        if len(self._written) >= WRITTEN_REMEMBERED:
            del self._written[next(iter(self._written))]
        self._written[(collection.name, document_id)] = entries

    async def flush(self, collection: Any, document_id: Any, *, path: str = "flush") -> int:
        """Publishes one document's pending records now; returns how many were published.
        A record Kafka refuses for good is parked; a transient failure raises and leaves the
        records to the sweep."""
        key = (collection.name, document_id)
        async with self.locks.hold(key):
            # Every write of this process to the document takes this lock and notes what it
            # left, so the last note is the outbox now. The sweep reads it anyway: it takes what
            # a crash or another process left, which no note of this process tells.
            entries = self._written.pop(key, None)
            if entries is None or path == "sweep":
                found = await collection.find_one({"_id": document_id}, {OUTBOX: 1})
                entries = (found or {}).get(OUTBOX) or []
            entries = self._not_yet_published(key, entries)
            if not entries:
                return 0
            try:
                await self._sink.send(*(OutgoingRecord.from_document(entry) for entry in entries))
            except Exception as error:
                if not is_unpublishable(error):
                    raise
                # Which one? The broker refuses a whole batch for one record too large.
                return await self._publish_each(collection, document_id, entries, path)
            self._clear_later(collection, key, entries)
            OUTBOX_PUBLISHED.labels(path).inc(len(entries))
            return len(entries)

    def _not_yet_published(self, key: tuple[str, Any], entries: list[Document]) -> list[Document]:
        published = self._published.get(key)
        if published is None:
            return entries
        done = {_identity(entry) for entry in published[1]}
        return [entry for entry in entries if _identity(entry) not in done]

    def _clear_later(self, collection: Any, key: tuple[str, Any], entries: list[Document]) -> None:
        if key not in self._published and len(self._published) >= WRITTEN_REMEMBERED:
            # Forgotten, they stay in their document: the sweep produces them again.
            del self._published[next(iter(self._published))]
        self._published.setdefault(key, (collection, []))[1].extend(entries)
        self._to_clear.set()

    async def clear_published(self) -> int:
        """Removes the records produced so far from their documents: one bulk write per
        collection; returns how many documents it cleared. A document this process wrote
        again and has not published yet waits for that publish."""
        waiting = [key for key in self._published if key not in self._written]
        async with self.locks.holding_free(waiting) as held:
            batches: dict[str, list[tuple[Any, Any, list[Document]]]] = {}
            for key in held:
                collection, entries = self._published.pop(key)
                batches.setdefault(key[0], []).append((collection, key[1], entries))
            writes = [
                batch[start : start + CLEARED_PER_WRITE]
                for batch in batches.values()
                for start in range(0, len(batch), CLEARED_PER_WRITE)
            ]
            for done, write in enumerate(writes):
                try:
                    await self._remove_all(write)
                except Exception:
                    for later in writes[done + 1 :]:  # for the next clearing, or the sweep
                        for collection, document_id, entries in later:
                            self._clear_later(collection, (collection.name, document_id), entries)
                    raise
        return len(held)

    async def stop(self) -> None:
        """Removes what was published before the process stops (a sweep elsewhere would
        produce it again)."""
        try:
            await self.clear_published()
        except Exception as error:
            log.warning(
                "published outbox records left in their documents at stop (a sweep produces"
                " them again): %s: %s",
                type(error).__name__,
                str(error)[:MAX_ERROR_CHARS],
            )

    async def _remove_all(self, batch: list[tuple[Any, Any, list[Document]]]) -> None:
        collection = batch[0][0]
        try:
            result = await collection.bulk_write(
                [
                    UpdateOne(
                        {"_id": document_id, OUTBOX: entries},
                        {"$set": {OUTBOX: []}, "$unset": {PENDING_SINCE: ""}},
                    )
                    for _, document_id, entries in batch
                ],
                ordered=False,
            )
            if result.matched_count == len(batch):
                return
            # Another process added records to some of them meanwhile: remove ours only.
            for _, document_id, entries in batch:
                await self._remove(collection, document_id, entries)
        except Exception:
            for _, document_id, entries in batch:  # for the next clearing, or the sweep
                self._clear_later(collection, (collection.name, document_id), entries)
            raise

    async def _publish_each(
        self, collection: Any, document_id: Any, entries: list[Document], path: str
    ) -> int:
        """Publishes the entries one at a time, in order, parking those Kafka refuses for good."""
        published = 0
        for entry in entries:
            try:
                await self._sink.send(OutgoingRecord.from_document(entry))
            except Exception as error:
                if not is_unpublishable(error):
                    raise
                await self._park(collection, document_id, entry, error)
                continue
            await self._remove(collection, document_id, [entry])
            OUTBOX_PUBLISHED.labels(path).inc()
            published += 1
        return published

    async def _remove(self, collection: Any, document_id: Any, entries: list[Document]) -> None:
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
            await self._unmark_if_empty(collection, document_id)

    async def _park(
        self, collection: Any, document_id: Any, entry: Document, error: BaseException
    ) -> None:
        """Moves `entry` from the outbox to the document's parked list, for on-call to fix and
        replay (docs/operations.md, "Parked outbox records"); logs no body (personal data)."""
        error_type = type(error).__name__
        await collection.update_one(
            {"_id": document_id},
            {
                "$pullAll": {OUTBOX: [entry]},
                "$push": {
                    PARKED: {
                        "record": entry,
                        "errorType": error_type,
                        "error": str(error)[:MAX_ERROR_CHARS],
                        "parkedAt": self._clock(),
                    }
                },
            },
        )
        await self._unmark_if_empty(collection, document_id)
        OUTBOX_PARKED.labels(collection.name, error_type).inc()
        log.error(
            "outbox record parked: %s %s of %s %r (%d bytes, topic %r) refused by Kafka: %s: %s",
            entry["headers"].get(HEADER_EVENT_TYPE, "record"),
            entry["eventId"],
            collection.name,
            document_id,
            len(entry["value"].encode()),
            entry["topic"],
            error_type,
            str(error)[:MAX_ERROR_CHARS],
        )

    async def _unmark_if_empty(self, collection: Any, document_id: Any) -> None:
        await collection.update_one(
            {"_id": document_id, OUTBOX: {"$size": 0}}, {"$unset": {PENDING_SINCE: ""}}
        )

    async def sweep(self) -> int:
        """Publishes the records older than the grace period, oldest document first. A document
        that fails goes to the back of the queue, so the ones behind it get their turn; a few
        failing in a row end the sweep (Kafka itself is unreachable then)."""
        await self.clear_published()  # what this process produced is not the sweep's to take
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
            failed_in_a_row = 0
            for document_id in found:
                try:
                    published += await self.flush(collection, document_id, path="sweep")
                except Exception as error:
                    failed_in_a_row += 1
                    await self._to_the_back(collection, document_id)
                    if failed_in_a_row >= SWEEP_FAILURES_IN_A_ROW:
                        raise
                    log.warning(
                        "outbox of %s %r not published, tried again later: %s: %s",
                        collection.name,
                        document_id,
                        type(error).__name__,
                        str(error)[:MAX_ERROR_CHARS],
                    )
                else:
                    failed_in_a_row = 0
        await self.clear_published()
        return published

    async def _to_the_back(self, collection: Any, document_id: Any) -> None:
        # The sweep takes the oldest marker first: a later one puts the document behind the
        # others (and past the grace period again), so one that keeps failing starves nobody.
        # Under the document's lock: FerretDB rewrites the whole document on update.
        async with self.locks.hold((collection.name, document_id)):
            await collection.update_one(
                {"_id": document_id, PENDING_SINCE: {"$exists": True}},
                {"$set": {PENDING_SINCE: self._clock()}},
            )

    async def run(self) -> None:
        """Clears what was published, and sweeps, until cancelled."""
        async with asyncio.TaskGroup() as loops:
            loops.create_task(self._clear_published_forever())
            loops.create_task(self._sweep_forever())

    async def _clear_published_forever(self) -> None:
        while True:
            await self._to_clear.wait()
            await asyncio.sleep(CLEARING_DELAY_S)
            self._to_clear.clear()
            try:
                await self.clear_published()
                if self._published:  # documents written again, or busy: their turn comes
                    self._to_clear.set()
            except Exception as error:
                log.warning(
                    "published outbox records not removed yet, tried again: %s: %s",
                    type(error).__name__,
                    str(error)[:MAX_ERROR_CHARS],
                )
                await asyncio.sleep(self._settings.sweep_interval_s)
                self._to_clear.set()

    async def _sweep_forever(self) -> None:
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


def _identity(entry: Document) -> tuple[str, str]:
    return entry["eventId"], entry["topic"]
