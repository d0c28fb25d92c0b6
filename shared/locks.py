"""Per-key asyncio locks: writes to one document from one process happen one at a time.

MongoDB applies every update atomically to the current document. FerretDB 1.x reads the
document, changes it and writes it back whole, so two concurrent updates of one document can
lose one of them. Repositories and the outbox relay of a process take the document's lock
around their writes; across processes, ownership follows Kafka partitions (one consumer per
restaurant), and the relay's sweep only takes records a crash left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key], self._locks[key]

    @asynccontextmanager
    async def holding_free(self, keys: Iterable[Key]) -> AsyncIterator[list[Key]]:
        """Holds the locks of those of `keys` that no one holds or waits for, and yields them;
        never waits, so it cannot deadlock with holders of one lock wanting another."""
        taken: list[Key] = []
        for key in dict.fromkeys(keys):
            if key in self._users:
                continue
            lock = self._locks[key] = asyncio.Lock()
            await lock.acquire()  # free: returns at once, nothing else runs in between
            self._users[key] = 1
            taken.append(key)
        try:
            yield taken
        finally:
            for key in taken:
                self._locks[key].release()
                self._users[key] -= 1
                if self._users[key] == 0:
                    del self._users[key], self._locks[key]
