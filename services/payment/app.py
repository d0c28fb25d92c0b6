"""build_app(): the payment service's wiring: its records, Asaas, its consumer, its job loops."""

from __future__ import annotations

from fastapi import FastAPI

from services.payment.adapters.asaas_client import AsaasClients
from services.payment.adapters.mongo import (
    INDEXES,
    MongoCredentialsRepository,
    MongoPaymentRepository,
    MongoPixImageStore,
    MongoWebhookInbox,
)
from services.payment.adapters.mongo_jobs import MongoJobQueue
from services.payment.config import Settings
from services.payment.handlers import subscriptions
from services.payment.restaurants import Restaurants
from services.payment.routes import admin_router, pix_image_router, webhook_router
from services.payment.use_cases import build_use_cases
from shared.runtime import Clock, ServiceRuntime, utc_now
from shared.topics import PAYMENTS_EVENTS

SERVICE = "payment"


def build_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, clock)
    database = runtime.database
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
        MongoPaymentRepository(database, runtime.relay),
        MongoJobQueue(database),
        MongoWebhookInbox(database),
        MongoPixImageStore(database),
        restaurants,
        settings.policy,
        clock,
    )
    runtime.indexes(INDEXES)
    runtime.topics(PAYMENTS_EVENTS)
    runtime.publishes(PAYMENTS_EVENTS)
    runtime.consume(*subscriptions(use_cases.charges, use_cases.refunds))
    for name, loop in use_cases.background_loops().items():
        runtime.loop(name, loop)
    runtime.on_stop(clients.close)
    routers = [
        admin_router(restaurants, runtime.access(settings.access), settings.asaas.base_urls),
        webhook_router(
            use_cases.asaas_updates, restaurants, settings.asaas.webhook_body_limit_bytes
        ),
        pix_image_router(use_cases.pix_images),
    ]
    return runtime.app(routers)
