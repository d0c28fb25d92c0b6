"""Scheduler benchmark: firing lateness with many pending timers, and tick cost beside fired ones.

Runs on the real broker and MongoDB-protocol server (the same selection as the tests). Every
figure is reported with a baseline measured in the same run: one produce acknowledged by Kafka
plus one MongoDB round trip for lateness, and a tick on an empty store for the tick cost.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bench.harness import percentile, run_benchmark, say
from services.scheduler.adapters.mongo_timer_store import (
    DONE,
    INDEXES,
    TIMERS,
    MongoTimerStore,
    timer_document,
    version_id,
)
from services.scheduler.domain import Timer
from services.scheduler.service import FiringPolicy, TimerService
from shared.broker import BrokerSink, build_broker, ensure_topics
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import ScheduleTimer, TimerFired, TimerPurpose
from shared.mongo import Database, ensure_indexes
from shared.records import OutgoingRecord
from shared.settings import KafkaSettings
from tests.infrastructure import Servers

PROBES = 200
PROBE_WINDOW = timedelta(seconds=4)
TICKS = 50
FIRED_BESIDE = (0, 10_000, 100_000)
PARTITION = 0
"""The `scheduler.commands` partition the bench's replica owns, as a replica would."""


def now() -> datetime:
    return datetime.now(UTC)


def command(name: str, due_at: datetime) -> ScheduleTimer:
    return ScheduleTimer(
        event_id=uuid.uuid4(),
        occurred_at=now(),
        correlation_id="bench",
        client_id=f"bench-{len(name) % 16}",
        store_id="store",
        timer_id=name,
        due_at=due_at,
        purpose=TimerPurpose.CONFIRMATION_DEADLINE,
    )


class FiredLog:
    """Produces TimerFired for real and notes when each one was acknowledged."""

    def __init__(self, sink: BrokerSink, expected: int) -> None:
        self.sink = sink
        self.lateness: dict[str, float] = {}
        self.expected = expected
        self.all_fired = asyncio.Event()

    async def send(self, *records: OutgoingRecord) -> None:
        await self.sink.send(*records)
        for record in records:
            fired = decode_as(record.value, TimerFired)
            self.lateness[fired.timer_id] = (now() - fired.due_at).total_seconds()
        if len(self.lateness) >= self.expected:
            self.all_fired.set()


async def baseline_round_trip(database: Database, sink: BrokerSink, topic: str) -> float:
    """Median of one acknowledged produce plus one MongoDB round trip, in seconds."""
    samples = []
    for n in range(100):
        started = time.perf_counter()
        await database.command("ping")
        await sink.send(OutgoingRecord(topic, b"bench", b"{}", {}, str(n)))
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def lateness_with_pending(
    database: Database, sink: BrokerSink, topic: str, pending: int
) -> dict[str, float]:
    store = MongoTimerStore(database)
    far = now() + timedelta(hours=1)
    say(f"  scheduling {pending} pending timers (due in an hour)...")
    documents = [
        timer_document(Timer.from_command(command(f"pending-{pending}-{n}", far), PARTITION))
        for n in range(pending)
    ]
    for first in range(0, pending, 1000):
        await database[TIMERS].insert_many(documents[first : first + 1000])
    log = FiredLog(sink, PROBES)
    scheduler = TimerService(store, log, now, FiringPolicy(), events_topic=topic)
    await scheduler.adopt({PARTITION})
    loops = [asyncio.create_task(scheduler.run()), asyncio.create_task(scheduler.maintain())]
    # Probes are scheduled well before they are due, as deadlines are in the system (minutes
    # ahead): what is measured is firing, not how fast the bench can send commands.
    started = time.perf_counter()
    await scheduler.schedule(command(f"warm-up-{pending}", now() + timedelta(hours=2)), PARTITION)
    per_command = time.perf_counter() - started
    start = now() + timedelta(seconds=1 + 3 * PROBES * per_command)
    step = PROBE_WINDOW / PROBES
    say(f"  {PROBES} probe timers due over {PROBE_WINDOW.total_seconds():.0f}s...")
    for n in range(PROBES):
        await scheduler.schedule(command(f"probe-{pending}-{n}", start + n * step), PARTITION)
    if now() > start:
        say("  warning: probes were scheduled after their due time; lateness includes that")
    try:
        async with asyncio.timeout(120):
            await log.all_fired.wait()
    finally:
        for loop in loops:
            loop.cancel()
    values = list(log.lateness.values())
    return {
        "pending": pending,
        "fired": len(values),
        "p50_s": percentile(values, 0.5),
        "p99_s": percentile(values, 0.99),
        "max_s": max(values),
    }


async def tick_cost(database: Database, fired: int) -> dict[str, float]:
    """Median seconds of an idle tick and of a housekeeping pass beside `fired` timers that
    went off: first as the firing path leaves them (each timer document with its tombstone,
    awaiting compaction), then once compaction has removed them."""
    store = MongoTimerStore(database)
    figures: dict[str, float] = {}
    if fired:
        say(f"  writing {fired} fired timers as the firing path leaves them...")
        past = now() - timedelta(minutes=5)
        for first in range(0, fired, 5000):
            timers = [
                Timer.from_command(command(f"fired-{fired}-{n}", past), PARTITION)
                for n in range(first, min(fired, first + 5000))
            ]
            await database[TIMERS].insert_many([timer_document(timer) for timer in timers])
            await database[DONE].insert_many(
                [{"_id": version_id(timer), "at": past} for timer in timers]
            )
        started = time.perf_counter()
        await store.adopt({PARTITION})
        figures["adopt_s"] = time.perf_counter() - started
        figures["tick_uncompacted_s"] = await _median_tick(store)
        started = time.perf_counter()
        while await database[DONE].count_documents({}, limit=1):
            await store.compact()
        figures["compaction_s"] = time.perf_counter() - started
        say(f"  ... compacted in {figures['compaction_s']:.1f}s")
    else:
        await store.adopt({PARTITION})
    figures["tick_s"] = await _median_tick(store)
    passes = []
    for _ in range(5):
        started = time.perf_counter()
        await store.maintain()
        passes.append(time.perf_counter() - started)
    figures["maintain_s"] = statistics.median(passes)
    return figures


async def _median_tick(store: MongoTimerStore) -> float:
    ticks = []
    for _ in range(TICKS):
        started = time.perf_counter()
        await store.claim_due(now(), timedelta(seconds=10), 500)
        ticks.append(time.perf_counter() - started)
    return statistics.median(ticks)


async def run(servers: Servers) -> dict[str, Any]:
    kafka, mongodb = servers.kafka_bootstrap_servers, servers.mongodb_uri
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb, tz_aware=True)
    broker = build_broker(KafkaSettings(bootstrap_servers=kafka), client_id="bench")
    topic = f"bench.scheduler.events.{uuid.uuid4().hex[:6]}"
    await ensure_topics(kafka, [topic], partitions=6)
    await broker.start()
    sink = BrokerSink(broker)
    results: dict[str, Any] = {}
    try:
        base_db = client[f"bench_{uuid.uuid4().hex[:6]}"]
        results["baseline_round_trip_s"] = await baseline_round_trip(base_db, sink, topic)
        say(f"baseline produce+ping: {results['baseline_round_trip_s'] * 1000:.2f} ms")
        for pending in (1_000, 10_000):
            database = client[f"bench_{uuid.uuid4().hex[:6]}"]
            await ensure_indexes(database, INDEXES)
            say(f"lateness with {pending} pending timers")
            row = await lateness_with_pending(database, sink, topic, pending)
            results[f"lateness_{pending}"] = row
            say(f"  p50 {row['p50_s'] * 1000:.0f} ms, p99 {row['p99_s'] * 1000:.0f} ms")
            await client.drop_database(database.name)
        database = client[f"bench_{uuid.uuid4().hex[:6]}"]
        await ensure_indexes(database, INDEXES)
        say("tick cost beside fired timers")
        for fired in FIRED_BESIDE:
            results[f"tick_{fired}_fired"] = await tick_cost(database, fired)
        await client.drop_database(database.name)
        await client.drop_database(base_db.name)
    finally:
        await broker.stop()
        await client.close()
    return results


def report(results: dict[str, Any]) -> None:
    base = results["baseline_round_trip_s"]
    say("\nscheduler                         value        ratio")
    for pending in (1_000, 10_000):
        row = results[f"lateness_{pending}"]
        for key in ("p50_s", "p99_s"):
            say(
                f"lateness {key[:3]} ({pending:>6} pending) {row[key] * 1000:9.1f} ms"
                f"  {row[key] / base:7.1f} x produce+ping"
            )
    idle = results["tick_0_fired"]
    for fired in FIRED_BESIDE[1:]:
        row = results[f"tick_{fired}_fired"]
        for key, name, base_key in (
            ("tick_uncompacted_s", "tick, uncompacted", "tick_s"),
            ("tick_s", "tick, compacted", "tick_s"),
            ("maintain_s", "maintain pass", "maintain_s"),
        ):
            say(
                f"{name:<18}({fired:>7} fired) {row[key] * 1000:9.2f} ms"
                f"  {row[key] / idle[base_key]:7.2f} x empty store"
            )
        say(f"compaction        ({fired:>7} fired) {row['compaction_s']:9.1f} s")


if __name__ == "__main__":
    sys.exit(run_benchmark("scheduler", run, report))
