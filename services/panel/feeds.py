"""Each watched store's POS topic, read once per replica and fanned out to the browsers watching it.

The panel reads `pos.<clientId>.<storeId>.orders` as the store's POS does, but without a consumer
group: a POS integration beside the panel keeps its own offsets, and every panel replica sees
every message. A reader starts at the topic's end; the browser reloads the board from the order
service's queries each time its stream (re)opens, so nothing published before is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Literal

from aiokafka import AIOKafkaConsumer

from services.panel import metrics
from shared.clients.reading import follow, reader_from_now
from shared.contracts.pos import PosOrderCancelled, PosOrderReceived, PosUpdateRejected
from shared.settings import KafkaSettings
from shared.topics import pos_orders_topic

log = logging.getLogger(__name__)

Signal = Literal["order", "change"]
"""What a watching browser is told: a new order arrived (ring), or the board changed."""
MAX_REFUSALS = 500
"""Refusals remembered per store (the newest); a card shows its order's while it still applies."""


class FeedUnavailable(Exception):
    """The store's topic cannot be read (it does not exist yet: no order and no configuration)."""


class StoreFeed:
    """One store's topic as this replica reads it: the browsers watching it and its refusals."""

    def __init__(self, client_id: str, store_id: str, consumer: AIOKafkaConsumer) -> None:
        self.client_id = client_id
        self.store_id = store_id
        self.refusals: dict[str, PosUpdateRejected] = {}
        self._consumer = consumer
        self._watchers: set[asyncio.Queue[Signal]] = set()
        self._task = asyncio.create_task(self._read(), name=f"feed-{client_id}-{store_id}")
        self.users = 0

    @property
    def reading(self) -> bool:
        """False once its reader failed (the broker gone): the next viewer opens a new feed."""
        return not self._task.done()

    async def stop(self) -> None:
        self._task.cancel()
        # A reader that failed has said why in the log already.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        await self._consumer.stop()

    @contextlib.contextmanager
    def watch(self) -> Iterator[asyncio.Queue[Signal]]:
        """A queue of what happens on the store from now on, for one browser."""
        queue: asyncio.Queue[Signal] = asyncio.Queue(maxsize=100)
        self._watchers.add(queue)
        try:
            yield queue
        finally:
            self._watchers.discard(queue)

    def tell(self, signal: Signal) -> None:
        """Tells every watcher; a watcher too slow to keep up misses a repeat of a signal."""
        for queue in self._watchers:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(signal)

    async def _read(self) -> None:
        try:
            await self._follow()
        except Exception:
            log.exception("reading the POS topic of %s/%s failed", self.client_id, self.store_id)
            raise

    async def _follow(self) -> None:
        async for message in follow(self._consumer):
            if isinstance(message, PosOrderReceived):
                self.tell("order")
            elif isinstance(message, PosOrderCancelled):
                self.tell("change")
            elif isinstance(message, PosUpdateRejected):
                self._remember(message)
                self.tell("change")

    def _remember(self, refusal: PosUpdateRejected) -> None:
        if refusal.order_id is not None:
            self.refusals.pop(refusal.order_id, None)
            self.refusals[refusal.order_id] = refusal
            while len(self.refusals) > MAX_REFUSALS:
                del self.refusals[next(iter(self.refusals))]


class StoreFeeds:
    """The feeds of the stores watched on this replica, opened on demand, closed after a linger."""

    def __init__(self, kafka: KafkaSettings, linger_s: float, start_timeout_s: float = 10) -> None:
        self._kafka = kafka
        self._linger_s = linger_s
        self._start_timeout_s = start_timeout_s
        self._feeds: dict[tuple[str, str], StoreFeed] = {}
        self._closing: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def feed(self, client_id: str, store_id: str) -> AsyncIterator[StoreFeed]:
        """The store's feed, reading from no later than now; FeedUnavailable when it cannot."""
        feed = await self._acquire(client_id, store_id)
        try:
            yield feed
        finally:
            feed.users -= 1
            if feed.users == 0:
                key = (client_id, store_id)
                self._closing[key] = asyncio.create_task(self._close_later(key, feed))

    def known(self, client_id: str, store_id: str) -> StoreFeed | None:
        """The store's feed if this replica reads it now (for the refusals it remembers)."""
        return self._feeds.get((client_id, store_id))

    async def close(self) -> None:
        for task in self._closing.values():
            task.cancel()
        for feed in self._feeds.values():
            await feed.stop()
        self._feeds.clear()
        metrics.PANEL_FEEDS.set(0)

    async def _acquire(self, client_id: str, store_id: str) -> StoreFeed:
        key = (client_id, store_id)
        async with self._lock:
            closing = self._closing.pop(key, None)
            if closing is not None:
                closing.cancel()
            feed = self._feeds.get(key)
            if feed is not None and not feed.reading:
                del self._feeds[key]
                await feed.stop()
                feed = None
            if feed is None:
                try:
                    consumer = await reader_from_now(
                        self._kafka,
                        pos_orders_topic(client_id, store_id),
                        timeout=self._start_timeout_s,
                    )
                except TimeoutError:
                    raise FeedUnavailable(f"{client_id}/{store_id}") from None
                feed = self._feeds[key] = StoreFeed(client_id, store_id, consumer)
                metrics.PANEL_FEEDS.set(len(self._feeds))
            feed.users += 1
            return feed

    async def _close_later(self, key: tuple[str, str], feed: StoreFeed) -> None:
        await asyncio.sleep(self._linger_s)
        async with self._lock:
            if feed.users == 0 and self._feeds.get(key) is feed:
                del self._feeds[key]
                self._closing.pop(key, None)
                metrics.PANEL_FEEDS.set(len(self._feeds))
                await feed.stop()
