"""Order numbers in MongoDB: each number of a store is claimed by inserting a document of its own.

`_id` = `<clientId>:<storeId>#<n>`. The unique `_id` insert is the one write that MongoDB and
FerretDB 1.x both make atomic: FerretDB's `findAndModify` with `$inc` reads the counter and
writes it back, so two at once hand out the same number. A store's claims are therefore 1..N
without holes, and the next free one is found from the last number this process claimed, or,
the first time, by a galloping search from 1 (about 2 log2 N reads by `_id`).
"""

from __future__ import annotations

from datetime import datetime

from pymongo.errors import DuplicateKeyError

from shared.locks import KeyedLocks
from shared.mongo import Database
from shared.remembered import Remembered

COLLECTION = "order_numbers"

REMEMBERED_STORES = 10_000
"""Stores whose last number a process keeps; a forgotten one is searched for again."""


def claim_id(store: str, number: int) -> str:
    return f"{store}#{number}"


class MongoOrderNumbers:
    """Claims each store's numbers in order; a claim lost to another replica moves on to the
    next free number."""

    def __init__(self, database: Database) -> None:
        self.collection = database[COLLECTION]
        self._last: Remembered[str, int] = Remembered(REMEMBERED_STORES)
        self._locks = KeyedLocks()

    async def next(self, client_id: str, store_id: str, order_id: str, now: datetime) -> int:
        store = f"{client_id}:{store_id}"
        async with self._locks.hold(store):
            last = self._last.get(store)
            number = last + 1 if last is not None else await self._first_free(store, 1)
            while True:
                try:
                    await self.collection.insert_one(
                        {"_id": claim_id(store, number), "orderId": order_id, "claimedAt": now}
                    )
                except DuplicateKeyError:
                    number = await self._first_free(store, number + 1)
                    continue
                self._remember(store, number)
                return number

    async def release(self, client_id: str, store_id: str, order_id: str, number: int) -> None:
        store = f"{client_id}:{store_id}"
        async with self._locks.hold(store):
            if self._last.get(store) != number:
                return  # a later number was claimed here meanwhile: this one stays a gap
            await self.collection.delete_one({"_id": claim_id(store, number), "orderId": order_id})
            self._remember(store, number - 1)

    async def _taken(self, store: str, number: int) -> bool:
        found = await self.collection.find_one({"_id": claim_id(store, number)}, {"_id": 1})
        return found is not None

    async def _first_free(self, store: str, start: int) -> int:
        """The lowest number from `start` on that no claim holds: past the taken ones by
        doubling steps, then halving the last step."""
        if not await self._taken(store, start):
            return start
        taken, step = start, 1
        while await self._taken(store, taken + step):
            taken, step = taken + step, step * 2
        free = taken + step
        while free - taken > 1:
            middle = (taken + free) // 2
            if await self._taken(store, middle):
                taken = middle
            else:
                free = middle
        return free

    def _remember(self, store: str, number: int) -> None:
        self._last.put(store, number)
