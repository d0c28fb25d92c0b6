"""Timer ownership on the real server: a replica's partitions are loaded, retried and
reconciled by the service, so that no timer is left in the store and in no replica's view."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition

from services.scheduler.adapters.mongo_timer_store import INDEXES, MongoTimerStore
from services.scheduler.domain import Timer
from services.scheduler.handlers import TimerOwnership
from services.scheduler.service import FiringPolicy, TimerService
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import TimerFired, TimerPurpose
from shared.mongo import Database, ensure_indexes
from shared.retry import Backoff
from shared.topics import SCHEDULER_COMMANDS
from tests.scheduler.test_timer_store import ReadsThatFail
from tests.sinks import RecordingSink
from tests.waiting import eventually

POLICY = FiringPolicy(
    max_sleep=timedelta(seconds=0.2),
    reconcile_every=timedelta(seconds=50),
    settle=timedelta(seconds=0.5),
    load_backoff=Backoff(initial=0.05, maximum=0.2),
)
"""Quick retries and a quick settling pass; the periodic pass never comes within a test."""


def now() -> datetime:
    return datetime.now(UTC)


def stored_timer(timer_id: str, partition: int, due_at: datetime) -> Timer:
    return Timer(
        timer_id=timer_id,
        client_id="client-1",
        store_id="store-1",
        purpose=TimerPurpose.CONFIRMATION_DEADLINE,
        due_at=due_at,
        correlation_id="turn-1",
        scheduled_by=uuid.uuid4().hex,
        scheduled_at=due_at - timedelta(minutes=5),
        order_id=timer_id,
        partition=partition,
    )


def fired(sink: RecordingSink) -> list[str]:
    return sorted(decode_as(record.value, TimerFired).timer_id for record in sink.records)


@dataclasses.dataclass
class Replica:
    store: MongoTimerStore
    timers: TimerService
    sink: RecordingSink

    async def assigned(self, *partitions: int) -> None:
        """As aiokafka tells it, which logs what the listener raises and carries on."""
        ownership = TimerOwnership(self.timers)
        await ownership.on_partitions_assigned(
            [TopicPartition(SCHEDULER_COMMANDS, partition) for partition in partitions]
        )


@pytest.fixture
async def replica(database: Database) -> AsyncIterator[Replica]:
    """A scheduler replica's service on the real server, firing and reconciling."""
    await ensure_indexes(database, INDEXES)
    store, sink = MongoTimerStore(database), RecordingSink()
    timers = TimerService(store, sink, now, POLICY)
    loops = [asyncio.create_task(timers.run()), asyncio.create_task(timers.reconcile())]
    yield Replica(store, timers, sink)
    for loop in loops:
        loop.cancel()
    await asyncio.gather(*loops, return_exceptions=True)


async def test_a_load_that_fails_at_a_rebalance_is_retried_until_the_partitions_timers_fire(
    database: Database, replica: Replica
) -> None:
    earlier_owner = MongoTimerStore(database)
    for n in range(5):
        await earlier_owner.upsert(stored_timer(f"t{n}", 0, now() - timedelta(seconds=1)))
    failing = ReadsThatFail(replica.store._timers, failures=2)
    replica.store._timers = failing  # type: ignore[assignment]

    await replica.assigned(0)

    await eventually(lambda: len(replica.sink.records) == 5, timeout=10, what="all 5 fired")
    assert failing.failures == 0, "the load failed twice, then was retried until it succeeded"
    assert fired(replica.sink) == [f"t{n}" for n in range(5)]


async def test_a_timer_the_previous_owner_wrote_as_it_let_go_fires_after_the_settling_pass(
    database: Database, replica: Replica
) -> None:
    letting_go = MongoTimerStore(database)
    await letting_go.adopt({3})
    await letting_go.release({3})
    await replica.assigned(3)
    await letting_go.upsert(stored_timer("late", 3, now()))  # lands after the load

    await eventually(lambda: len(replica.sink.records) == 1, timeout=10, what="late fired")
    assert fired(replica.sink) == ["late"]
