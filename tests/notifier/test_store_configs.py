"""The notifier's copy of stores.config on the real broker: what an event's message is told."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.notifier.adapters.store_configs import KafkaStoreConfigs
from services.notifier.metrics import STORE_CONFIG_END_ASKS
from shared.consumer import ReceivedRecord
from shared.contracts.stores import StoreOrderConfig
from shared.settings import KafkaSettings
from tests.conftest import NewTopics
from tests.notifier.events import config_changed

STORE = "store-1"


class Topics:
    """A store-config topic and an event topic of one partition, with a producer and a reader
    of the events that tells, like the services' consumers, the partition's end it fetched."""

    def __init__(self, bootstrap: str, configs: str, events: str) -> None:
        self.configs, self.events = configs, events
        self.client = f"client-{uuid.uuid4().hex[:8]}"
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.partition = TopicPartition(events, 0)

    async def publish_config(self, requires_confirmation: bool) -> StoreOrderConfig:
        config = StoreOrderConfig(
            client_id=self.client, store_id=STORE, requires_confirmation=requires_confirmation
        )
        key = f"{self.client}:{STORE}".encode()
        await self.producer.send_and_wait(self.configs, config_changed(config).to_json(), key=key)
        return config

    async def produce_events(self, count: int) -> None:
        for n in range(count):
            await self.producer.send_and_wait(self.events, f"event {n}".encode())

    async def read_events(self, count: int) -> list[ReceivedRecord]:
        if not self.reader.assignment():  # from now on it fetches: not before the first events
            self.reader.assign([self.partition])
            await self.reader.seek_to_beginning(self.partition)
        read: list[ReceivedRecord] = []
        while len(read) < count:
            batches = await self.reader.getmany(self.partition, timeout_ms=1000)
            for record in batches.get(self.partition, []):
                end = self.reader.highwater(self.partition)
                read.append(ReceivedRecord.of(record, end_seen=end))
        return read


@pytest.fixture
async def topics(kafka_bootstrap: str, new_topics: NewTopics) -> AsyncIterator[Topics]:
    configs, events = await new_topics("stores.config", "orders.events", partitions=1)
    made = Topics(kafka_bootstrap, configs, events)
    await made.producer.start()
    await made.reader.start()
    yield made
    await made.reader.stop()
    await made.producer.stop()


@pytest.fixture
async def copy(kafka_bootstrap: str, topics: Topics) -> AsyncIterator[KafkaStoreConfigs]:
    configs = KafkaStoreConfigs(
        KafkaSettings(bootstrap_servers=kafka_bootstrap), topic=topics.configs
    )
    await configs.start()
    yield configs
    await configs.stop()


async def test_a_configuration_published_before_events_reaches_them_with_one_ask_for_all(
    topics: Topics, copy: KafkaStoreConfigs
) -> None:
    published = await topics.publish_config(requires_confirmation=True)
    await topics.produce_events(3)
    events = await topics.read_events(3)
    asks = STORE_CONFIG_END_ASKS._value.get()

    told = [await copy.config_for(topics.client, STORE, event) for event in events]

    assert told == [published] * 3
    # The first event's ask came after all three were on the broker: the others need none.
    assert STORE_CONFIG_END_ASKS._value.get() - asks == 1


async def test_an_event_after_the_last_ask_asks_again_and_sees_the_configuration_before_it(
    topics: Topics, copy: KafkaStoreConfigs
) -> None:
    await topics.publish_config(requires_confirmation=True)
    await topics.produce_events(1)
    [first] = await topics.read_events(1)
    await copy.config_for(topics.client, STORE, first)
    changed = await topics.publish_config(requires_confirmation=False)
    await topics.produce_events(1)
    [second] = await topics.read_events(1)
    asks = STORE_CONFIG_END_ASKS._value.get()

    assert await copy.config_for(topics.client, STORE, second) == changed
    assert STORE_CONFIG_END_ASKS._value.get() - asks == 1


async def test_an_event_whose_partition_end_was_not_told_always_asks(
    topics: Topics, copy: KafkaStoreConfigs
) -> None:
    published = await topics.publish_config(requires_confirmation=True)
    await topics.produce_events(2)
    events = [
        ReceivedRecord(e.topic, e.partition, e.offset, e.key, e.value, e.headers)
        for e in await topics.read_events(2)
    ]
    asks = STORE_CONFIG_END_ASKS._value.get()

    told = [await copy.config_for(topics.client, STORE, event) for event in events]

    assert told == [published] * 2
    assert STORE_CONFIG_END_ASKS._value.get() - asks == 2
