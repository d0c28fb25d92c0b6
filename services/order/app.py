"""build_app(): the one place that wires the order service's broker, database and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from services.order import handlers
from services.order.adapters import mongo_order_repository, mongo_store_config_repository
from services.order.adapters.mongo_order_repository import MongoOrderRepository
from services.order.adapters.mongo_store_config_repository import MongoStoreConfigRepository
from services.order.adapters.pos_topics import PosTopics
from services.order.api import order_routes
from services.order.config import Settings
from services.order.service import OrderService
from shared.background import BackgroundLoops
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.consumer import Answer, Decoder, Handler, IdempotentConsumer, subscribe
from shared.http import dependencies_ready, service_http_app
from shared.locks import KeyedLocks
from shared.mongo import connect, ensure_indexes
from shared.outbox import OutboxRelay
from shared.processed_events import INDEXES as PROCESSED_INDEXES
from shared.processed_events import MongoProcessedEvents
from shared.topics import (
    FIXED_TOPICS,
    ORDERS_COMMANDS,
    PAYMENTS_EVENTS,
    POS_UPDATES_PATTERN,
    SCHEDULER_EVENTS,
    dlq_topic,
)

SERVICE = "order"
CONSUMED = (ORDERS_COMMANDS, PAYMENTS_EVENTS, SCHEDULER_EVENTS)
"""The fixed topics this service consumes (each gets its dead-letter topic)."""
POS_TOPIC_PARTITIONS = 1
"""A POS topic carries one restaurant's key, so one partition holds all it will ever use."""


def build_app(
    settings: Settings | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FastAPI:
    settings = settings or Settings()
    client = connect(settings.mongo, app_name=SERVICE)
    database = client[settings.mongo.database]
    broker = build_broker(settings.kafka, client_id=SERVICE)
    sink = BrokerSink(broker)
    locks = KeyedLocks()
    orders = MongoOrderRepository(database)
    configs = MongoStoreConfigRepository(database)
    relay = OutboxRelay(
        sink, [orders.collection, configs.collection], settings.outbox, locks, clock
    )

    async def flush_order(order_id: str) -> None:
        await relay.flush(orders.collection, order_id)

    async def flush_config(config_id: str) -> None:
        await relay.flush(configs.collection, config_id)

    service = OrderService(
        orders,
        configs,
        sink=sink,
        flush_order=flush_order,
        flush_config=flush_config,
        pos_topics=PosTopics(settings.kafka.bootstrap_servers, POS_TOPIC_PARTITIONS),
        locks=locks,
        clock=clock,
    )
    processed = MongoProcessedEvents(database)

    def consumer(
        name: str,
        decode: Decoder[Any],
        handle: Handler[Any],
        answer_malformed: Answer | None = None,
    ) -> IdempotentConsumer[Any]:
        return IdempotentConsumer(
            name,
            decode=decode,
            handler=handle,
            processed=processed,
            dead_letters=sink,
            settings=settings.consumer,
            clock=clock,
            answer_malformed=answer_malformed,
        )

    subscribe(
        broker,
        consumer(
            "order-commands",
            handlers.decode_command,
            handlers.command_handler(service),
            answer_malformed=handlers.answer_malformed(service),
        ),
        topics=[ORDERS_COMMANDS],
        group_id="order-commands",
    )
    subscribe(
        broker,
        consumer(
            "order-payments",
            handlers.decode_payment_event,
            handlers.payment_event_handler(service),
        ),
        topics=[PAYMENTS_EVENTS],
        group_id="order-payments",
    )
    subscribe(
        broker,
        consumer("order-timers", handlers.decode_timer_event, handlers.timer_handler(service)),
        topics=[SCHEDULER_EVENTS],
        group_id="order-timers",
    )
    subscribe(
        broker,
        consumer("order-pos", handlers.decode_pos_update, handlers.pos_update_handler(service)),
        pattern=POS_UPDATES_PATTERN,
        group_id="order-pos",
    )
    loops = BackgroundLoops()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_indexes(
            database,
            mongo_order_repository.INDEXES
            | mongo_store_config_repository.INDEXES
            | PROCESSED_INDEXES,
        )
        await ensure_topics(
            settings.kafka.bootstrap_servers,
            [*FIXED_TOPICS, *(dlq_topic(topic) for topic in CONSUMED)],
            partitions=settings.kafka.topic_partitions,
        )
        await broker.start()
        loops.start("outbox-sweep", relay.run())
        loops.start("prune-processed-events", processed.keep_pruned(clock))
        try:
            yield
        finally:
            await loops.stop()
            await broker.stop()
            client.close()

    app = service_http_app(
        SERVICE,
        lifespan=lifespan,
        readiness=dependencies_ready(client, broker),
        routers=[order_routes(service, settings.admin.admin_token, settings.queries)],
    )
    app.state.service = service
    return app
