"""The notifier's copy of every store's configuration, materialized from `stores.config`.

The compacted topic is read from its beginning without a consumer group (every replica keeps a
whole copy), then followed. Before an event is handled the copy catches up with the topic's end
as asked after the event reached the broker, so a configuration published before an event is
applied to it even though the two travel on different topics (docs/notifications.md).
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.notifier.metrics import (
    STORE_CONFIG_END_ASKS,
    STORE_CONFIGS,
    STORE_CONFIGS_UNREADABLE,
)
from shared.background import BackgroundLoops
from shared.consumer import ReceivedRecord, describe_error
from shared.contracts.registry import decode_as
from shared.contracts.stores import StoreConfigChanged, StoreOrderConfig
from shared.settings import KafkaSettings
from shared.topics import STORES_CONFIG

log = logging.getLogger(__name__)

StoreKey = tuple[str, str]
Partition = tuple[str, int]
METADATA_WAIT_S = 30.0
MAX_LOGGED_KEY = 200


class KafkaStoreConfigs:
    def __init__(
        self, kafka: KafkaSettings, *, topic: str = STORES_CONFIG, sync_timeout_s: float = 2.0
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._sync_timeout_s = sync_timeout_s
        self._covered: dict[Partition, int] = {}
        """By an event topic's partition: the offsets below this reached the broker before a
        completed catch-up asked for the topic's end."""
        self._configs: dict[StoreKey, StoreOrderConfig] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._advanced = asyncio.Condition()
        self._following = BackgroundLoops()
        self.caught_up = False
        """True once the copy holds everything the topic held at start (readiness)."""

    async def start(self) -> None:
        """Reads the topic from its beginning and follows it in the background from now on."""
        consumer = AIOKafkaConsumer(
            **self._kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="notifier-store-configs",
        )
        await consumer.start()
        numbers = await self._partition_numbers(consumer)
        self._partitions = [TopicPartition(self._topic, number) for number in sorted(numbers)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        self._consumer = consumer
        # End offsets are asked on a connection of their own: on the follower's, they would
        # queue behind its long-polling fetch (up to fetch_max_wait_ms per message handled).
        self._offsets = AIOKafkaConsumer(
            **self._kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            client_id="notifier-store-config-offsets",
        )
        await self._offsets.start()
        self._following.start("follow-store-configs", self._follow())

    async def _partition_numbers(self, consumer: AIOKafkaConsumer) -> set[int]:
        # A topic created a moment ago may not be in the metadata yet.
        admin = AIOKafkaAdminClient(**self._kafka.client_options())
        await admin.start()
        try:
            deadline = time.monotonic() + METADATA_WAIT_S
            while True:
                described = await admin.describe_topics([self._topic])
                numbers = {
                    partition["partition"]
                    for topic in described
                    if topic.get("topic") == self._topic and not topic.get("error_code")
                    for partition in topic.get("partitions", [])
                }
                if numbers:
                    return numbers
                if time.monotonic() > deadline:
                    await consumer.stop()
                    raise RuntimeError(f"topic {self._topic} has no partitions (does it exist?)")
                await asyncio.sleep(0.2)
        finally:
            await admin.close()

    async def stop(self) -> None:
        await self._following.stop()
        if self._offsets is not None:
            await self._offsets.stop()
            self._offsets = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _follow(self) -> None:
        """Applies the topic's records forever (a background loop)."""
        consumer = self._require()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for records in batches.values():
                for record in records:
                    self._apply(record)
            STORE_CONFIGS.set(len(self._configs))
            async with self._advanced:
                self._advanced.notify_all()

    async def catch_up(
        self, timeout_s: float | None = None, event: ReceivedRecord | None = None
    ) -> bool:
        """Waits until the copy holds what the topic holds now; False if `timeout_s` passed.
        The `event` record's partition is then covered up to the end its fetch told."""
        consumer = self._require()
        assert self._offsets is not None
        STORE_CONFIG_END_ASKS.inc()
        ends = await self._offsets.end_offsets(self._partitions)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            behind = [tp for tp, end in ends.items() if await consumer.position(tp) < end]
            if not behind:
                self.caught_up = True
                if event is not None and event.end_seen is not None:
                    where = (event.topic, event.partition)
                    self._covered[where] = max(self._covered.get(where, 0), event.end_seen)
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            async with self._advanced:
                try:
                    await asyncio.wait_for(self._advanced.wait(), timeout=remaining or 1.0)
                except TimeoutError:
                    continue

    async def config_for(
        self, client_id: str, store_id: str, event: ReceivedRecord | None = None
    ) -> StoreOrderConfig:
        if event is not None and self._covers(event):
            return self.known(client_id, store_id)
        if not await self.catch_up(self._sync_timeout_s, event):
            log.warning(
                "store configs lag behind %s after %.1fs; using the copy as it is",
                self._topic,
                self._sync_timeout_s,
            )
        return self.known(client_id, store_id)

    def _covers(self, event: ReceivedRecord) -> bool:
        """True when the event was on the broker before a completed catch-up asked for the
        topic's end: the copy already holds every configuration published before it."""
        return event.offset < self._covered.get((event.topic, event.partition), 0)

    def known(self, client_id: str, store_id: str) -> StoreOrderConfig:
        """The copy's configuration of the store, or the defaults; no catching up."""
        found = self._configs.get((client_id, store_id))
        return found or StoreOrderConfig.default_for(client_id, store_id)

    def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        key = (record.key or b"").decode(errors="replace")
        if record.value is None:  # a tombstone: the store's configuration was deleted
            client_id, _, store_id = key.partition(":")
            self._configs.pop((client_id, store_id), None)
            return
        try:
            changed = decode_as(record.value, StoreConfigChanged)
        except Exception as error:  # a poison record must not stop the copy (every start)
            STORE_CONFIGS_UNREADABLE.inc()
            log.warning(
                "skipping unreadable %s record %s[%d]@%d: %s",
                self._topic,
                key[:MAX_LOGGED_KEY],
                record.partition,
                record.offset,
                describe_error(error),
            )
            return
        self._configs[changed.client_id, changed.store_id] = changed.config

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("store configs not started")
        return self._consumer


class InMemoryStoreConfigs:
    """The in-memory twin, for unit and component tests."""

    def __init__(self, *configs: StoreOrderConfig) -> None:
        self.configs = {(config.client_id, config.store_id): config for config in configs}

    def put(self, config: StoreOrderConfig) -> None:
        self.configs[config.client_id, config.store_id] = config

    async def config_for(
        self, client_id: str, store_id: str, event: ReceivedRecord | None = None
    ) -> StoreOrderConfig:
        found = self.configs.get((client_id, store_id))
        return found or StoreOrderConfig.default_for(client_id, store_id)
