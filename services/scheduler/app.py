"""build_app(): the scheduler's wiring: its timer store, its consumer, its firing loops."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from services.scheduler.adapters.mongo_timer_store import INDEXES, MongoTimerStore
from services.scheduler.config import Settings
from services.scheduler.handlers import subscriptions
from services.scheduler.service import FiringPolicy, TimerService
from shared.runtime import Clock, ServiceRuntime, utc_now
from shared.topics import SCHEDULER_EVENTS

SERVICE = "scheduler"


def build_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, clock)
    firing = settings.firing
    policy = FiringPolicy(
        lease=timedelta(seconds=firing.lease_s),
        batch_size=firing.batch_size,
        max_sleep=timedelta(seconds=firing.max_sleep_s),
        maintain_every=timedelta(seconds=firing.maintain_every_s),
        reconcile_every=timedelta(seconds=firing.reconcile_every_s),
    )
    store = MongoTimerStore(runtime.database, timedelta(seconds=firing.tombstone_grace_s))
    timers = TimerService(store, runtime.sink, clock, policy)
    runtime.indexes(INDEXES)
    runtime.topics(SCHEDULER_EVENTS)
    runtime.publishes(SCHEDULER_EVENTS)
    runtime.consume(*subscriptions(timers))
    runtime.loop("fire-timers", timers.run)
    runtime.loop("maintain-timers", timers.maintain)
    runtime.loop("reconcile-timers", timers.reconcile)
    return runtime.app()
