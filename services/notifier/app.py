"""build_app(): the one place that wires the notifier's broker, database, Twilio and loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from services.notifier.adapters.mongo_ledger import INDEXES, MongoNotificationLedger
from services.notifier.adapters.store_configs import KafkaStoreConfigs
from services.notifier.adapters.twilio_client import TwilioClient
from services.notifier.config import Settings
from services.notifier.handlers import decode_event, event_handler
from services.notifier.service import Notifier
from shared.background import BackgroundLoops
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.consumer import IdempotentConsumer, subscribe
from shared.http import dependencies_ready, service_http_app
from shared.mongo import connect, ensure_indexes
from shared.processed_events import INDEXES as PROCESSED_INDEXES
from shared.processed_events import MongoProcessedEvents
from shared.topics import (
    NOTIFICATIONS_EVENTS,
    ORDERS_EVENTS,
    PAYMENTS_EVENTS,
    STORES_CONFIG,
    dlq_topic,
)

SERVICE = "notifier"
CONSUMED_TOPICS = (ORDERS_EVENTS, PAYMENTS_EVENTS)
STORE_CONFIG_CATCH_UP_S = 60.0


def build_app(
    settings: Settings | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FastAPI:
    settings = settings or Settings()
    client = connect(settings.mongo, app_name=SERVICE)
    database = client[settings.mongo.database]
    broker = build_broker(settings.kafka, client_id=SERVICE)
    sink = BrokerSink(broker)
    ledger = MongoNotificationLedger(database, sink, settings.outbox)
    twilio = TwilioClient(settings.twilio)
    store_configs = KafkaStoreConfigs(
        settings.kafka.bootstrap_servers,
        sync_timeout_s=settings.notifier.store_config_sync_timeout_s,
    )
    notifier = Notifier(
        ledger,
        twilio,
        store_configs,
        clock,
        templates=settings.twilio.content_templates,
        free_form_window=timedelta(seconds=settings.notifier.free_form_window_s),
    )
    processed = MongoProcessedEvents(database)
    consumer = IdempotentConsumer(
        SERVICE,
        decode=decode_event,
        handler=event_handler(notifier),
        processed=processed,
        dead_letters=sink,
        settings=settings.consumer,
        clock=clock,
    )
    subscribe(broker, consumer, topics=list(CONSUMED_TOPICS), group_id=SERVICE)
    loops = BackgroundLoops()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_indexes(database, INDEXES | PROCESSED_INDEXES)
        await ensure_topics(
            settings.kafka.bootstrap_servers,
            [
                *CONSUMED_TOPICS,
                *(dlq_topic(topic) for topic in CONSUMED_TOPICS),
                STORES_CONFIG,
                NOTIFICATIONS_EVENTS,
            ],
            partitions=settings.kafka.topic_partitions,
        )
        await store_configs.start()
        loops.start("follow-store-configs", store_configs.follow())
        if not await store_configs.catch_up(STORE_CONFIG_CATCH_UP_S):
            raise RuntimeError(f"{STORES_CONFIG} not read within {STORE_CONFIG_CATCH_UP_S}s")
        await broker.start()
        loops.start("outbox-sweep", ledger.relay.run())
        loops.start("compact-ledger", ledger.keep_compacted(clock))
        loops.start("prune-processed-events", processed.keep_pruned(clock))
        try:
            yield
        finally:
            await loops.stop()
            await broker.stop()
            await store_configs.stop()
            await twilio.aclose()
            client.close()

    async def store_configs_ready() -> bool:
        return store_configs.caught_up

    app = service_http_app(
        SERVICE,
        lifespan=lifespan,
        readiness=dependencies_ready(client, broker) | {"storeConfigs": store_configs_ready},
    )
    app.state.notifier = notifier
    app.state.ledger = ledger
    return app
