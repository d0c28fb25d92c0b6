"""Which events a consumer already handled, so a redelivered event takes effect once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from shared.mongo import Database

log = logging.getLogger(__name__)

COLLECTION = "processed_events"
INDEXES = {COLLECTION: [IndexModel([("processedAt", ASCENDING)])]}


def event_key(scope: str, event_id: object) -> str:
    """How a consumer names an event it took (`<scope>|<eventId>`): its processed-event record's
    id, or the name a handler keeps in the one write that takes the event once."""
    return f"{scope}|{event_id}"


class ProcessedEvents(Protocol):
    async def contains(self, consumer: str, event_id: str) -> bool: ...

    async def add(self, consumer: str, event_id: str, at: datetime) -> None: ...


class MongoProcessedEvents:
    """One small document per (consumer, eventId); `_id` makes a second insert a no-op."""

    def __init__(self, database: Database) -> None:
        self._collection = database[COLLECTION]

    async def contains(self, consumer: str, event_id: str) -> bool:
        found = await self._collection.find_one({"_id": event_key(consumer, event_id)}, {"_id": 1})
        return found is not None

    async def add(self, consumer: str, event_id: str, at: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._collection.insert_one(
                {"_id": event_key(consumer, event_id), "processedAt": at}
            )

    async def prune(self, older_than: datetime) -> int:
        """Forgets ids older than Kafka's retention, after which no redelivery can come."""
        result = await self._collection.delete_many({"processedAt": {"$lt": older_than}})
        return int(result.deleted_count)

    async def keep_pruned(
        self,
        clock: Callable[[], datetime],
        retention: timedelta = timedelta(days=8),
        every: timedelta = timedelta(hours=1),
    ) -> None:
        """Prunes forever (a background loop): a failed pass is logged and tried next time."""
        while True:
            try:
                forgotten = await self.prune(clock() - retention)
                if forgotten:
                    log.info("forgot %d processed event id(s)", forgotten)
            except Exception:
                log.exception("pruning processed event ids failed")
            await asyncio.sleep(every.total_seconds())


class InMemoryProcessedEvents:
    """The in-memory twin, for unit and component tests."""

    def __init__(self) -> None:
        self.ids: set[tuple[str, str]] = set()

    async def contains(self, consumer: str, event_id: str) -> bool:
        return (consumer, event_id) in self.ids

    async def add(self, consumer: str, event_id: str, at: datetime) -> None:
        self.ids.add((consumer, event_id))
