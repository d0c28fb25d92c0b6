"""Topic creation on the real broker and index bootstrap on the real MongoDB-protocol server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.broker import ensure_topics
from shared.mongo import Database, ensure_indexes
from shared.outbox_documents import OUTBOX_INDEX
from shared.processed_events import INDEXES as PROCESSED_EVENT_INDEXES
from shared.processed_events import MongoProcessedEvents
from shared.topics import STORES_CONFIG

pytestmark = pytest.mark.integration


async def topic_settings(bootstrap: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        [(_, _, _, _, entries)] = response.resources
        return {name: value for name, value, *_ in entries}
    finally:
        await admin.close()


async def test_topics_are_created_once_with_compaction_for_store_configs_and_retention_for_dlqs(
    kafka_bootstrap: str,
) -> None:
    suffix = uuid.uuid4().hex[:6]
    events, dlq = f"orders.events.{suffix}", f"orders.events.{suffix}.dlq"
    created = await ensure_topics(kafka_bootstrap, [events, dlq, STORES_CONFIG], partitions=6)
    assert {events, dlq} <= set(created)
    assert await ensure_topics(kafka_bootstrap, [events, dlq, STORES_CONFIG], partitions=6) == []

    assert (await topic_settings(kafka_bootstrap, STORES_CONFIG))["cleanup.policy"] == "compact"
    assert (await topic_settings(kafka_bootstrap, events))["cleanup.policy"] == "delete"
    assert (await topic_settings(kafka_bootstrap, dlq))["retention.ms"] == str(
        14 * 24 * 3600 * 1000
    )


async def test_index_bootstrap_is_idempotent(database: Database) -> None:
    indexes = {"orders": [OUTBOX_INDEX], **PROCESSED_EVENT_INDEXES}
    await ensure_indexes(database, indexes)
    await ensure_indexes(database, indexes)
    order_indexes = await database["orders"].index_information()
    assert order_indexes["outbox_pending"]["key"] == [("outboxPendingSince", 1)]
    assert any(
        spec["key"] == [("processedAt", 1)]
        for spec in (await database["processed_events"].index_information()).values()
    )


async def test_processed_event_ids_older_than_the_retention_are_forgotten(
    database: Database,
) -> None:
    processed = MongoProcessedEvents(database)
    now = datetime.now(UTC)
    await processed.add("consumer", "old", now - timedelta(days=9))
    await processed.add("consumer", "recent", now - timedelta(days=1))

    assert await processed.prune(now - timedelta(days=8)) == 1
    assert not await processed.contains("consumer", "old")
    assert await processed.contains("consumer", "recent")
