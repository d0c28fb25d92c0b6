"""build_app(): the order service's wiring: its repositories, the POS topics, its consumers."""

from __future__ import annotations

from fastapi import FastAPI

from services.order.adapters import mongo_order_repository, mongo_store_config_repository
from services.order.adapters.mongo_order_numbers import MongoOrderNumbers
from services.order.adapters.mongo_order_repository import MongoOrderRepository
from services.order.adapters.mongo_store_config_repository import MongoStoreConfigRepository
from services.order.adapters.pos_topics import PosTopics
from services.order.config import Settings
from services.order.handlers import subscriptions
from services.order.routes import order_routes
from services.order.service import OrderService
from shared.runtime import Clock, ServiceRuntime, utc_now
from shared.topics import FIXED_TOPICS

SERVICE = "order"
POS_TOPIC_PARTITIONS = 1
"""A POS topic carries one restaurant's key, so one partition holds all it will ever use."""


def build_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, clock)
    service = OrderService(
        MongoOrderRepository(runtime.database, runtime.relay),
        MongoStoreConfigRepository(runtime.database, runtime.relay),
        numbers=MongoOrderNumbers(runtime.database),
        sink=runtime.sink,
        store_topics=PosTopics(settings.kafka.bootstrap_servers, POS_TOPIC_PARTITIONS),
        clock=clock,
    )
    runtime.indexes(mongo_order_repository.INDEXES, mongo_store_config_repository.INDEXES)
    runtime.topics(*FIXED_TOPICS)
    runtime.consume(*subscriptions(service))
    return runtime.app(
        routers=[order_routes(service, settings.admin.admin_token, settings.queries)]
    )
