"""build_app(): the one place that wires the payment service's broker, database and clients."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from services.payment.adapters.asaas_client import AsaasClients
from services.payment.adapters.mongo import (
    INDEXES,
    PAYMENTS,
    MongoCredentialsRepository,
    MongoJobQueue,
    MongoPaymentRepository,
    MongoWebhookInbox,
)
from services.payment.config import Settings
from services.payment.handlers import command_handler, decode_command
from services.payment.restaurants import Restaurants
from services.payment.routes import admin_router, webhook_router
from services.payment.use_cases import build_use_cases
from shared.background import BackgroundLoops
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.consumer import IdempotentConsumer, subscribe
from shared.http import dependencies_ready, service_http_app
from shared.locks import KeyedLocks
from shared.mongo import connect, ensure_indexes
from shared.outbox import OutboxRelay
from shared.processed_events import INDEXES as PROCESSED_INDEXES
from shared.processed_events import MongoProcessedEvents
from shared.topics import PAYMENTS_COMMANDS, PAYMENTS_EVENTS, dlq_topic

SERVICE = "payment"


def build_app(
    settings: Settings | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FastAPI:
    settings = settings or Settings()
    # Request lines carry order ids and CPFs as query values: not for the INFO log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = connect(settings.mongo, app_name=SERVICE)
    database = client[settings.mongo.database]
    broker = build_broker(settings.kafka, client_id=SERVICE)
    sink = BrokerSink(broker)
    locks = KeyedLocks()
    payments_collection = database[PAYMENTS]
    relay = OutboxRelay(sink, [payments_collection], settings.outbox, locks, clock)
    clients = AsaasClients(settings.asaas.gateway)
    restaurants = Restaurants(
        MongoCredentialsRepository(database),
        settings.encryption.cipher(),
        clients,
        public_base_url=settings.policy.public_base_url,
        webhook_email=settings.asaas.webhook_email,
        clock=clock,
    )
    use_cases = build_use_cases(
        MongoPaymentRepository(database, locks, relay),
        MongoJobQueue(database),
        MongoWebhookInbox(database),
        restaurants,
        settings.policy,
        settings.asaas.gateway,
        clock,
    )
    processed = MongoProcessedEvents(database)
    consumer = IdempotentConsumer(
        SERVICE,
        decode=decode_command,
        handler=command_handler(use_cases.charges, use_cases.refunds),
        processed=processed,
        dead_letters=sink,
        settings=settings.consumer,
        clock=clock,
    )
    subscribe(broker, consumer, topics=[PAYMENTS_COMMANDS], group_id=SERVICE)
    loops = BackgroundLoops()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_indexes(database, INDEXES | PROCESSED_INDEXES)
        await ensure_topics(
            settings.kafka.bootstrap_servers,
            [PAYMENTS_COMMANDS, PAYMENTS_EVENTS, dlq_topic(PAYMENTS_COMMANDS)],
            partitions=settings.kafka.topic_partitions,
        )
        await broker.start()
        loops.start("outbox-relay", relay.run())
        for name, loop in use_cases.background_loops().items():
            loops.start(name, loop())
        loops.start("prune-processed-events", processed.keep_pruned(clock))
        try:
            yield
        finally:
            await loops.stop()
            await broker.stop()
            await clients.close()
            client.close()

    app = service_http_app(
        SERVICE,
        lifespan=lifespan,
        readiness=dependencies_ready(client, broker),
        routers=[
            admin_router(restaurants, settings.admin.admin_token),
            webhook_router(
                use_cases.asaas_updates, restaurants, settings.asaas.webhook_body_limit_bytes
            ),
        ],
    )
    app.state.use_cases = use_cases
    return app
