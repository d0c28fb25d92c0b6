"""build_app(): the notifier's wiring: its ledger, Twilio, the store-config copy, its consumer."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.notifier.adapters.mongo_ledger import INDEXES, MongoNotificationLedger
from services.notifier.adapters.store_configs import KafkaStoreConfigs
from services.notifier.adapters.twilio_client import TwilioClient
from services.notifier.config import Settings
from services.notifier.handlers import subscriptions
from services.notifier.service import NotificationService, WaitingPolicy
from shared.retry import Backoff
from shared.runtime import Clock, ServiceRuntime, utc_now
from shared.topics import NOTIFICATIONS_EVENTS, STORES_CONFIG

SERVICE = "notifier"
STORE_CONFIG_CATCH_UP_S = 60.0


def build_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, clock)
    ledger = MongoNotificationLedger(runtime.database, runtime.relay)
    twilio = TwilioClient(settings.twilio)
    store_configs = KafkaStoreConfigs(
        settings.kafka,
        sync_timeout_s=settings.notifier.store_config_sync_timeout_s,
    )
    notifications = NotificationService(
        ledger,
        twilio,
        store_configs,
        clock,
        templates=settings.twilio.content_templates,
        free_form_window=timedelta(seconds=settings.notifier.free_form_window_s),
        waiting=waiting_policy(settings),
    )

    async def load_store_configs() -> None:
        await store_configs.start()
        if not await store_configs.catch_up(STORE_CONFIG_CATCH_UP_S):
            raise RuntimeError(f"{STORES_CONFIG} not read within {STORE_CONFIG_CATCH_UP_S}s")

    async def store_configs_ready() -> bool:
        return store_configs.caught_up

    runtime.indexes(INDEXES)
    runtime.topics(STORES_CONFIG, NOTIFICATIONS_EVENTS)
    runtime.reads(STORES_CONFIG)
    runtime.publishes(NOTIFICATIONS_EVENTS)
    runtime.consume(*subscriptions(notifications))
    runtime.before_start(load_store_configs)
    runtime.loop("send-waiting-notifications", notifications.keep_sending_waiting)
    runtime.loop("compact-ledger", lambda: ledger.keep_compacted(clock))
    runtime.ready_when("storeConfigs", store_configs_ready)
    runtime.on_stop(store_configs.stop)
    runtime.on_stop(twilio.aclose)
    return runtime.app()


def waiting_policy(settings: Settings) -> WaitingPolicy:
    """The retry loop's window and backoff; one send's span from Twilio's client settings (a
    63016 fallback makes two calls)."""
    twilio, notifier = settings.twilio, settings.notifier
    return WaitingPolicy(
        window=timedelta(seconds=notifier.waiting_window_s),
        backoff=Backoff(initial=notifier.retry_initial_s, maximum=notifier.retry_max_s),
        send_span=timedelta(seconds=2 * (twilio.max_elapsed_s + twilio.timeout_s)),
        poll=timedelta(seconds=notifier.retry_poll_s),
    )
