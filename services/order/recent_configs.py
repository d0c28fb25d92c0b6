"""The store configurations a replica read lately, reused by its decisions for a bounded time."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from shared.contracts.stores import StoreOrderConfig
from shared.remembered import Remembered

StoreKey = tuple[str, str]
Load = Callable[[], Awaitable[StoreOrderConfig]]

REMEMBERED_STORES = 10_000
"""Stores whose configuration a replica keeps; a forgotten one is read again."""


class RecentConfigs:
    """Each store's configuration as read at most `max_age_s` ago, or as this replica last
    wrote it: another replica's change is followed within `max_age_s`."""

    def __init__(self, max_age_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._entries: Remembered[StoreKey, tuple[float, StoreOrderConfig]] = Remembered(
            REMEMBERED_STORES
        )
        self._writes = 0

    async def get(self, store: StoreKey, load: Load) -> StoreOrderConfig:
        """The store's entry while young enough, else what `load` reads (kept as of its start)."""
        now = self._monotonic()
        entry = self._entries.get(store)
        if entry is not None and now - entry[0] < self._max_age_s:
            return entry[1]
        writes = self._writes
        found = await load()
        # A write of this replica that landed while reading is newer than what was read.
        if writes == self._writes:
            self._keep(store, now, found)
        return found

    async def write(
        self, store: StoreKey, config: StoreOrderConfig, write: Callable[[], Awaitable[None]]
    ) -> None:
        """Runs `write` (the store's configuration to the database) and keeps `config` once it
        is written; reads under way meanwhile keep nothing, and a failed write leaves no entry."""
        self._writes += 1
        self._entries.forget(store)
        began = self._monotonic()
        await write()
        self._writes += 1
        self._keep(store, began, config)

    def _keep(self, store: StoreKey, at: float, config: StoreOrderConfig) -> None:
        if self._max_age_s <= 0:
            return
        self._entries.put(store, (at, config))
