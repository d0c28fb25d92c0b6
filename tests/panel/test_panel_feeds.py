"""A store's feed on the real broker: what the store's POS topic says reaches every browser
watching it through one reader, and refusals are remembered by order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.panel.feeds import StoreFeeds
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.contracts.pos import PosOrderCancelled, PosUpdateRejected
from shared.contracts.values import OrderStatus, ReasonCode
from shared.records import OutgoingRecord
from shared.settings import KafkaSettings
from shared.topics import pos_orders_topic

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(kafka_bootstrap: str) -> tuple[str, str]:
    client_id, store_id = f"c{uuid.uuid4().hex[:8]}", "s1"
    await ensure_topics(kafka_bootstrap, [pos_orders_topic(client_id, store_id)], partitions=1)
    return client_id, store_id


@pytest.fixture
async def feeds(kafka_bootstrap: str) -> AsyncIterator[StoreFeeds]:
    running = StoreFeeds(KafkaSettings(bootstrap_servers=kafka_bootstrap), linger_s=0)
    yield running
    await running.close()


@pytest.fixture
async def sink(kafka_bootstrap: str) -> AsyncIterator[BrokerSink]:
    broker = build_broker(KafkaSettings(bootstrap_servers=kafka_bootstrap), client_id="test")
    await broker.start()
    yield BrokerSink(broker)
    await broker.stop()


def envelope(client_id: str) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC),
        "correlation_id": "turn-1",
        "client_id": client_id,
        "store_id": "s1",
    }


async def test_every_watcher_of_a_store_hears_its_topic_through_one_reader_and_refusals_stay(
    store: tuple[str, str], feeds: StoreFeeds, sink: BrokerSink
) -> None:
    client_id, store_id = store
    topic = pos_orders_topic(client_id, store_id)
    refusal = PosUpdateRejected(
        **envelope(client_id),
        order_id="o-1",
        refused_event_id="e-1",
        reason=ReasonCode.TRANSITION_NOT_ALLOWED,
        current_status=OrderStatus.PREPARING,
    )
    cancelled = PosOrderCancelled(
        **envelope(client_id), order_id="o-2", reason=ReasonCode.CONFIRMATION_TIMEOUT
    )

    async with feeds.feed(client_id, store_id) as first, feeds.feed(client_id, store_id) as second:
        assert first is second
        with first.watch() as one, second.watch() as other:
            await sink.send(OutgoingRecord.of(topic, refusal), OutgoingRecord.of(topic, cancelled))
            async with asyncio.timeout(20):
                heard = [await one.get(), await one.get(), await other.get(), await other.get()]

    assert heard == ["change", "change", "change", "change"]
    assert first.refusals["o-1"].refused_event_id == "e-1"
