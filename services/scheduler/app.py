"""build_app(): the one place that wires the scheduler's broker, database and loops."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from services.scheduler.adapters.mongo_timer_store import INDEXES, MongoTimerStore
from services.scheduler.config import Settings
from services.scheduler.handlers import TimerOwnership, command_handler, decode_command
from services.scheduler.service import FiringPolicy, Scheduler
from shared.background import BackgroundLoops
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.consumer import IdempotentConsumer, subscribe
from shared.http import dependencies_ready, service_http_app
from shared.mongo import connect, ensure_indexes
from shared.processed_events import INDEXES as PROCESSED_INDEXES
from shared.processed_events import MongoProcessedEvents
from shared.topics import SCHEDULER_COMMANDS, SCHEDULER_EVENTS, dlq_topic

SERVICE = "scheduler"


def build_app(
    settings: Settings | None = None, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> FastAPI:
    settings = settings or Settings()
    client = connect(settings.mongo, app_name=SERVICE)
    database = client[settings.mongo.database]
    broker = build_broker(settings.kafka, client_id=SERVICE)
    sink = BrokerSink(broker)
    policy = FiringPolicy(
        lease=timedelta(seconds=settings.firing.lease_s),
        batch_size=settings.firing.batch_size,
        max_sleep=timedelta(seconds=settings.firing.max_sleep_s),
        maintain_every=timedelta(seconds=settings.firing.maintain_every_s),
    )
    store = MongoTimerStore(database, timedelta(seconds=settings.firing.tombstone_grace_s))
    scheduler = Scheduler(store, sink, clock, policy)
    processed = MongoProcessedEvents(database)
    consumer = IdempotentConsumer(
        SERVICE,
        decode=decode_command,
        handler=command_handler(scheduler),
        processed=processed,
        dead_letters=sink,
        settings=settings.consumer,
        clock=clock,
    )
    subscribe(
        broker,
        consumer,
        topics=[SCHEDULER_COMMANDS],
        group_id=SERVICE,
        listener=TimerOwnership(scheduler),
    )
    loops = BackgroundLoops()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await ensure_indexes(database, INDEXES | PROCESSED_INDEXES)
        await ensure_topics(
            settings.kafka.bootstrap_servers,
            [SCHEDULER_COMMANDS, SCHEDULER_EVENTS, dlq_topic(SCHEDULER_COMMANDS)],
            partitions=settings.kafka.topic_partitions,
        )
        await broker.start()
        loops.start("fire-timers", scheduler.run())
        loops.start("maintain-timers", scheduler.maintain())
        loops.start("prune-processed-events", processed.keep_pruned(clock))
        try:
            yield
        finally:
            await loops.stop()
            await broker.stop()
            client.close()

    app = service_http_app(SERVICE, lifespan=lifespan, readiness=dependencies_ready(client, broker))
    app.state.scheduler = scheduler
    return app
