"""build_app(): the order service's wiring: its repositories, the POS topics, its consumers, its
routes and the key it mints tokens with."""

from __future__ import annotations

from fastapi import FastAPI

from services.order import audit
from services.order.access_routes import access_routes
from services.order.adapters import mongo_order_repository, mongo_store_config_repository
from services.order.adapters.mongo_order_numbers import MongoOrderNumbers
from services.order.adapters.mongo_order_repository import MongoOrderRepository
from services.order.adapters.mongo_store_config_repository import MongoStoreConfigRepository
from services.order.adapters.pos_topics import PosTopics
from services.order.audit import OrderAudit
from services.order.config import Settings
from services.order.handlers import subscriptions
from services.order.recent_configs import RecentConfigs
from services.order.routes import order_routes
from services.order.service import OrderService
from shared.audit import keep_auditing
from shared.runtime import Clock, ServiceRuntime, utc_now
from shared.tokens import TokenSigner, load_signing_key
from shared.topics import (
    AUTH_REVOCATIONS,
    FIXED_TOPICS,
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    POS_TOPICS,
    SCHEDULER_COMMANDS,
    STORES_CONFIG,
)

SERVICE = "order"
POS_TOPIC_PARTITIONS = 1
"""A POS topic carries one restaurant's key, so one partition holds all it will ever use."""


def build_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, clock)
    orders = MongoOrderRepository(runtime.database, runtime.relay, clock)
    service = OrderService(
        orders,
        MongoStoreConfigRepository(runtime.database, runtime.relay),
        numbers=MongoOrderNumbers(runtime.database),
        sink=runtime.sink,
        store_topics=PosTopics(settings.kafka, POS_TOPIC_PARTITIONS),
        clock=clock,
        recent_configs=RecentConfigs(settings.store_configs.max_age_s),
    )
    signing_key = settings.tokens.signing_key
    signer = (
        None
        if signing_key is None
        else TokenSigner(load_signing_key(signing_key.get_secret_value()), clock)
    )
    access = runtime.access(settings.access, *([signer.public_key] if signer else []))
    runtime.indexes(mongo_order_repository.INDEXES, mongo_store_config_repository.INDEXES)
    runtime.topics(*FIXED_TOPICS)
    runtime.publishes(
        ORDERS_EVENTS, PAYMENTS_COMMANDS, SCHEDULER_COMMANDS, STORES_CONFIG, AUTH_REVOCATIONS
    )
    runtime.publishes(POS_TOPICS)  # each store's `...orders`
    runtime.creates(POS_TOPICS)
    runtime.consume(*subscriptions(service))
    money_audit = OrderAudit(orders, service, settings.audit, clock)
    runtime.loop(
        "money-audit",
        lambda: keep_auditing(money_audit.run_pass, audit.KINDS, settings.audit.interval_s),
    )
    return runtime.app(
        routers=[
            order_routes(service, access, settings.queries),
            access_routes(access, signer, settings.tokens, runtime.sink, clock),
        ]
    )
