"""The composition root every service shares: its database, broker, outbox relay, consumers, loops.

A service's `build_app` makes a `ServiceRuntime`, builds its adapters and use cases on the
runtime's database, sink and relay, declares what it consumes (`consume`) and which loops it
runs (`loop`), and returns `runtime.app(...)`. The app's lifespan creates the indexes and
topics the service declared, starts the broker and the loops, and tears all of it down; spans
are exported as the service's OTEL_* settings say (shared/tracing.py).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI
from pymongo import IndexModel

from shared.asyncapi import asyncapi_document
from shared.auth import Access, AccessSettings, MongoRevocations, revocations_subscription
from shared.background import BackgroundLoops
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.consumer import Subscription, consume
from shared.http import ReadinessCheck, dependencies_ready, service_http_app
from shared.mongo import connect, ensure_indexes
from shared.offsets import HandledOffsets, commit_all
from shared.outbox import OutboxRelay
from shared.processed_events import INDEXES as PROCESSED_INDEXES
from shared.processed_events import MongoProcessedEvents
from shared.settings import ServiceSettings
from shared.topics import POS_TOPICS, PREFIX_MARK, dlq_topic
from shared.tracing import Tracing, trace_http_app

Clock = Callable[[], datetime]
Hook = Callable[[], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class KafkaUsage:
    """What a service does on Kafka, which its ACLs must allow and nothing more: topics it reads,
    writes and creates (a name ending in `*` is a prefix, e.g. `pos.*`) and its consumer groups."""

    read: set[str] = field(default_factory=set)
    write: set[str] = field(default_factory=set)
    create: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    consumes: dict[str, set[str]] = field(default_factory=dict)
    """The topics (or `prefix*`es) each consumer group reads: what its lag is measured on."""
    as_pos: bool = False
    """True for a service that stands in for stores' POSes (the restaurant panel): on `pos.*` it
    reads what the order service sends a POS and writes what a POS sends."""


def pattern_prefix(pattern: str) -> str:
    r"""The topics a subscription pattern may match, as a prefix: `pos\.[a-z]+` gives `pos.*`."""
    literal = re.match(r"(?:[^\\.^$*+?()\[\]{}|]|\\.)*", pattern)
    text = literal.group(0) if literal else ""
    return re.sub(r"\\(.)", r"\1", text) + PREFIX_MARK


class ServiceRuntime:
    """What every service runs on; each `build_app` only declares its own parts."""

    def __init__(self, name: str, settings: ServiceSettings, clock: Clock = utc_now) -> None:
        self.name = name
        self.settings = settings
        self.clock = clock
        self.tracing = Tracing.start(name, settings.tracing)
        self.client = connect(settings.mongo, app_name=name)
        self.database = self.client[settings.database]
        self.broker = build_broker(settings.kafka, client_id=name)
        self.sink = BrokerSink(self.broker)
        self.relay = OutboxRelay(self.sink, settings.outbox, clock)
        self.processed = MongoProcessedEvents(self.database)
        self._indexes: dict[str, list[IndexModel]] = {}
        self._topics: set[str] = set()
        self._loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self._before_start: list[Hook] = []
        self._on_stop: list[Hook] = [self.tracing.stop]
        self._offsets: list[HandledOffsets] = []
        self._readiness = dependencies_ready(self.client, self.broker)
        self.kafka_usage = KafkaUsage()
        self.indexes(PROCESSED_INDEXES)
        self.loop("prune-processed-events", lambda: self.processed.keep_pruned(clock))

    def indexes(self, *declared: dict[str, list[IndexModel]]) -> None:
        """Indexes to create at start (only those a collection lacks)."""
        for indexes in declared:
            for collection, models in indexes.items():
                self._indexes.setdefault(collection, []).extend(models)

    def topics(self, *names: str) -> None:
        """Topics to create at start, besides the consumed ones and their dead-letter topics."""
        self._topics.update(names)

    def consume(self, *subscriptions: Subscription[Any]) -> None:
        """Consumes each subscription with the idempotent consumer; each consumed topic gets
        its dead-letter topic (a pattern's topics are created by whoever creates the store)."""
        self._offsets += consume(
            self.broker,
            subscriptions,
            processed=self.processed,
            dead_letters=self.sink,
            settings=self.settings.consumer,
            clock=self.clock,
        )
        for subscription in subscriptions:
            self.topics(*subscription.topics, *map(dlq_topic, subscription.topics))
            consumed = [*subscription.topics]
            if subscription.pattern is not None:
                consumed.append(pattern_prefix(subscription.pattern))
            self.kafka_usage.read.update(consumed)
            # Dead letters of a pattern's topics go under the same prefix.
            self.kafka_usage.write.update(
                topic if topic.endswith(PREFIX_MARK) else dlq_topic(topic) for topic in consumed
            )
            self.kafka_usage.groups.add(subscription.name)
            self.kafka_usage.consumes.setdefault(subscription.name, set()).update(consumed)

    def reads(self, *topics: str) -> None:
        """Topics the service reads outside its subscriptions (a local copy, without a group)."""
        self.kafka_usage.read.update(topics)

    def publishes(self, *topics: str) -> None:
        """Topics (or `prefix*`es) the service produces to: what its ACLs must let it write."""
        self.kafka_usage.write.update(topics)

    def acts_as_pos(self) -> None:
        """The service reads the stores' `...orders` and writes their `...updates`, as a POS."""
        self.reads(POS_TOPICS)
        self.publishes(POS_TOPICS)
        self.kafka_usage.as_pos = True

    def creates(self, *topics: str) -> None:
        """Topics (or `prefix*`es) the service creates while it runs (each store's POS topics)."""
        self.kafka_usage.create.update(topics)

    def access(self, settings: AccessSettings, *also_trusted: Any) -> Access:
        """Bearer checks for the service's routes: its own copy of the restaurants' revocations
        (consumed from `auth.revocations`), and the public keys of AUTH_PUBLIC_KEYS plus
        `also_trusted` (the order service trusts the key it signs with)."""
        revocations = MongoRevocations(self.database)
        self.consume(revocations_subscription(self.name, revocations))
        return Access(settings.admin_token, settings.verifier(*also_trusted), revocations)

    def loop(self, name: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A loop that runs while the service does (started once the broker is)."""
        self._loops.append((name, run))

    def before_start(self, hook: Hook) -> None:
        """Runs after the topics exist and before the broker consumes (a local copy to load)."""
        self._before_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        """Runs at shutdown once consumers and loops are stopped, before the database closes."""
        self._on_stop.append(hook)

    def ready_when(self, name: str, check: ReadinessCheck) -> None:
        """A readiness check besides MongoDB's and Kafka's."""
        self._readiness[name] = check

    def app(self, routers: Sequence[APIRouter] = ()) -> FastAPI:
        """The service's HTTP app, whose lifespan runs everything declared above."""
        app = service_http_app(
            self.name, lifespan=self._lifespan, readiness=self._readiness, routers=routers
        )
        app.state.kafka_usage = self.kafka_usage  # read by `make k8s-check` against its ACLs
        trace_http_app(app)

        @app.get("/asyncapi.json", include_in_schema=False)
        async def asyncapi() -> dict[str, Any]:
            """This service's Kafka contract: every topic and message; what it sends, receives."""
            return asyncapi_document(f"{self.name} service", {self.name: self.kafka_usage})

        return app

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        loops = BackgroundLoops()
        await ensure_indexes(self.database, self._indexes)
        await ensure_topics(
            self.settings.kafka,
            self._topics,
            partitions=self.settings.kafka.topic_partitions,
        )
        try:
            for hook in self._before_start:
                await hook()
            await self.broker.start()
            if self.relay.attached:
                loops.start("outbox-sweep", self.relay.run())
            for name, run in self._loops:
                loops.start(name, run())
            yield
        finally:
            await _bounded("the background loops", loops.stop())
            await _bounded("removing published outbox records", self.relay.stop())
            # Handled messages not yet committed would come again (and be skipped) on restart.
            await _bounded("the last commits", commit_all(self._offsets))
            await _bounded("the Kafka clients", self.broker.stop())
            for hook in reversed(self._on_stop):
                await _bounded(getattr(hook, "__qualname__", "a stop hook"), hook())
            await _bounded("the MongoDB client", self.client.close())


STOP_STEP_S = 10.0
"""The longest one step of a shutdown may take: a service asked to stop (SIGTERM) exits well
within Kubernetes' 30 s grace even if a client hangs while leaving (its group then notices by its
session timeout, and offsets were committed after handling, so nothing is lost)."""


async def _bounded(what: str, step: Awaitable[object]) -> None:
    try:
        async with asyncio.timeout(STOP_STEP_S):
            await step
    except TimeoutError:
        logging.getLogger(__name__).error(
            "stopping %s took over %.0f s; the service stops without waiting for it",
            what,
            STOP_STEP_S,
        )
