"""The scheduler as real processes on the real broker and server: firing, sharing, crashing."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import KafkaBroker

from services.scheduler.adapters.mongo_timer_store import TIMERS, MongoTimerStore
from services.scheduler.domain import Timer
from shared.broker import BrokerSink
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import ScheduleTimer, TimerFired, TimerPurpose
from shared.keys import key_for
from shared.mongo import Database
from shared.records import OutgoingRecord
from shared.topics import SCHEDULER_COMMANDS, SCHEDULER_EVENTS
from tests import builders
from tests.integration.kafka_helpers import Record, read_all, read_until, running_broker
from tests.processes import Services
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SCHEDULER = "services.scheduler"
QUICK_COMPACTION = {
    "SCHEDULER_TOMBSTONE_GRACE_S": "1",
    "SCHEDULER_MAINTAIN_EVERY_S": "1",
    "SCHEDULER_RECONCILE_EVERY_S": "0.5",
}
"""Fired timers are compacted within seconds, so that tests can wait for it."""
SHORT_LEASE = {"SCHEDULER_LEASE_S": "2"} | QUICK_COMPACTION


def now() -> datetime:
    return datetime.now(UTC)


class Commands:
    """Sends scheduler commands for restaurants of this test only (ids unique to the test)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.sink = BrokerSink(broker)
        self.tag = uuid.uuid4().hex[:8]

    def client(self, n: int = 0) -> str:
        return f"r{n}-{self.tag}"

    async def schedule(self, timer_id: str, due_at: datetime, client: int = 0) -> ScheduleTimer:
        command = builders.schedule_timer(
            f"{self.tag}:{timer_id}",
            due_at,
            correlation_id=f"turn-{timer_id}",
            client_id=self.client(client),
            order_id=timer_id,
        )
        await self.sink.send(OutgoingRecord.of(SCHEDULER_COMMANDS, command))
        return command

    async def cancel(self, timer_id: str, client: int = 0) -> None:
        command = builders.cancel_timer(
            f"{self.tag}:{timer_id}",
            correlation_id=f"turn-{timer_id}",
            client_id=self.client(client),
        )
        await self.sink.send(OutgoingRecord.of(SCHEDULER_COMMANDS, command))

    def clients_on_every_partition(self, partitions: int = 6, each: int = 2) -> list[int]:
        """Client numbers whose commands land `each` on every partition of the topic."""
        partitioner, chosen = DefaultPartitioner(), defaultdict[int, list[int]](list)
        everywhere = list(range(partitions))
        n = 0
        while any(len(chosen[p]) < each for p in everywhere):
            key = key_for(SCHEDULER_COMMANDS, self.client(n))
            partition = partitioner(key, everywhere, everywhere)
            if len(chosen[partition]) < each:
                chosen[partition].append(n)
            n += 1
        return [n for p in everywhere for n in chosen[p]]

    def mine(self, records: list[Record]) -> list[TimerFired]:
        fired = [decode_as(record.value, TimerFired) for record in records]
        return [event for event in fired if event.timer_id.startswith(f"{self.tag}:")]

    async def fired(
        self, kafka_bootstrap: str, *, distinct: int, timeout: float = 60
    ) -> list[TimerFired]:
        """Reads `scheduler.events` until `distinct` of this test's timers fired."""
        records = await read_until(
            kafka_bootstrap,
            SCHEDULER_EVENTS,
            lambda rs: len({e.timer_id for e in self.mine(rs)}) >= distinct,
            timeout=timeout,
        )
        return self.mine(records)


@pytest.fixture
async def commands(kafka_bootstrap: str) -> AsyncIterator[Commands]:
    async with running_broker(kafka_bootstrap) as broker:
        yield Commands(broker)


async def pending_timers(database: Database, commands: Commands) -> int:
    """This test's timers still pending: a scheduler started here also takes up the commands
    that earlier tests left unconsumed on the shared topic, and stores their timers too."""
    mine = {"_id": {"$regex": f"^{commands.tag}:"}}
    return int(await database[TIMERS].count_documents(mine))


async def test_a_timer_fires_once_never_early_and_cancel_and_reschedule_are_obeyed(
    services: Services, commands: Commands, kafka_bootstrap: str, database: Database
) -> None:
    services.start(SCHEDULER, **QUICK_COMPACTION).wait_ready()
    # Due well after the commands that cancel and move them are consumed (the group is joined
    # by then: the replica is ready), yet soon enough for a test.
    soon = now() + timedelta(seconds=4)
    plain = await commands.schedule("plain", soon)
    await commands.schedule("cancelled", soon)
    await commands.cancel("cancelled")
    await commands.schedule("moved", soon)
    moved = await commands.schedule("moved", soon + timedelta(seconds=1.5))

    await commands.fired(kafka_bootstrap, distinct=2)
    await eventually(lambda: _none_pending(database, commands), what="both timers retired")
    fired = commands.mine(await read_all(kafka_bootstrap, SCHEDULER_EVENTS))

    assert Counter(event.order_id for event in fired) == Counter({"plain": 1, "moved": 1})
    by_order = {event.order_id: event for event in fired}
    assert by_order["moved"].due_at == moved.due_at
    # Never early, and late by less than a generous bound (DESIGN.md asks for 1 s; the
    # benchmark measures the figure, a test only guards against a broken wake-up).
    for event, scheduled in ((by_order["plain"], plain), (by_order["moved"], moved)):
        assert scheduled.due_at <= event.fired_at < scheduled.due_at + timedelta(seconds=2)


async def _none_pending(database: Database, commands: Commands) -> bool:
    return await pending_timers(database, commands) == 0


async def test_two_scheduler_processes_sharing_1000_timers_fire_each_exactly_once(
    services: Services, commands: Commands, kafka_bootstrap: str, database: Database
) -> None:
    replicas = [
        services.start(SCHEDULER, **QUICK_COMPACTION),
        services.start(SCHEDULER, **QUICK_COMPACTION),
    ]
    for replica in replicas:
        replica.wait_ready()
    start = now() + timedelta(seconds=2)
    for n in range(1000):
        await commands.schedule(f"t{n}", start + timedelta(milliseconds=2 * n), client=n % 20)

    await commands.fired(kafka_bootstrap, distinct=1000)
    await eventually(
        lambda: _none_pending(database, commands), timeout=30, what="every timer retired"
    )
    fired = commands.mine(await read_all(kafka_bootstrap, SCHEDULER_EVENTS))

    counts = Counter(event.timer_id for event in fired)
    assert len(counts) == 1000
    assert set(counts.values()) == {1}, [t for t, c in counts.items() if c > 1][:10]
    assert sum(replica.metric("timers_fired_total") for replica in replicas) >= 1000


async def test_timers_a_dead_replica_held_under_lease_are_fired_by_a_live_one(
    services: Services, commands: Commands, kafka_bootstrap: str, database: Database
) -> None:
    # The live replica runs first, so that the lease, not the time it takes to join the
    # group, is what holds the timers back.
    services.start(SCHEDULER, **QUICK_COMPACTION).wait_ready()
    dead_replica = MongoTimerStore(database)
    due = now() + timedelta(seconds=1)
    for n in range(20):
        await dead_replica.upsert(
            Timer(
                timer_id=f"{commands.tag}:held{n}",
                client_id=commands.client(),
                store_id="store-1",
                purpose=TimerPurpose.PAYMENT_DEADLINE,
                due_at=due,
                correlation_id="turn",
                scheduled_by=uuid.uuid4().hex,
                scheduled_at=due,
                order_id=f"held{n}",
                partition=n % 6,  # the partitions of scheduler.commands the dead replica owned
            )
        )
    lease = timedelta(seconds=6)
    # Claimed as of their due time, then the replica "dies": it never fires nor completes them.
    claimed_at = due + timedelta(milliseconds=1)  # due times are kept to the millisecond, up
    claimed = await dead_replica.claim_due(claimed_at, lease, limit=100)
    assert len(claimed.claimed) == 20

    fired = await commands.fired(kafka_bootstrap, distinct=20)

    assert Counter(event.order_id for event in fired) == Counter({f"held{n}": 1 for n in range(20)})
    released = claimed_at + lease
    assert all(released <= e.fired_at < released + timedelta(seconds=5) for e in fired)


async def test_a_replica_killed_while_firing_loses_no_timer(
    services: Services, commands: Commands, kafka_bootstrap: str, database: Database
) -> None:
    doomed = services.start(SCHEDULER, **SHORT_LEASE)
    survivor = services.start(SCHEDULER, **SHORT_LEASE)
    doomed.wait_ready()
    survivor.wait_ready()
    start = now() + timedelta(seconds=2)
    for n in range(600):
        await commands.schedule(f"k{n}", start + timedelta(milliseconds=5 * n), client=n % 12)

    await read_until(
        kafka_bootstrap,
        SCHEDULER_EVENTS,
        lambda rs: len(commands.mine(rs)) >= 100,
        timeout=60,
    )
    doomed.kill()

    fired = await commands.fired(kafka_bootstrap, distinct=600)
    await eventually(
        lambda: _none_pending(database, commands), timeout=30, what="every timer retired"
    )
    counts = Counter(event.timer_id for event in fired)
    duplicates = sum(count - 1 for count in counts.values())
    print(f"\nkill -9 while firing: 600 timers, {duplicates} fired twice (re-fired after lease)")
    assert len(counts) == 600


async def test_timers_survive_a_restart_of_the_scheduler(
    services: Services, commands: Commands, kafka_bootstrap: str, database: Database
) -> None:
    first = services.start(SCHEDULER, **QUICK_COMPACTION).wait_ready()
    due = now() + timedelta(seconds=6)
    for n in range(50):
        await commands.schedule(f"s{n}", due, client=n % 5)
    await eventually(
        lambda: _pending_is(database, commands, 50), timeout=30, what="all 50 timers stored"
    )
    first.terminate()

    services.start(SCHEDULER, **QUICK_COMPACTION).wait_ready()
    fired = await commands.fired(kafka_bootstrap, distinct=50)

    assert len(fired) == 50
    assert all(event.fired_at >= due for event in fired)


async def _pending_is(database: Database, commands: Commands, count: int) -> bool:
    return await pending_timers(database, commands) == count


CHURN = {
    "SCHEDULER_LEASE_S": "2",
    "SCHEDULER_TOMBSTONE_GRACE_S": "10",
    "SCHEDULER_MAINTAIN_EVERY_S": "1",
    "SCHEDULER_RECONCILE_EVERY_S": "3",
}
LEASE = timedelta(seconds=2)


async def test_replicas_joining_and_leaving_while_timers_are_scheduled_lose_no_timer(
    services: Services, commands: Commands, kafka_bootstrap: str, database: Database
) -> None:
    clients = commands.clients_on_every_partition()
    first = services.start(SCHEDULER, **CHURN)
    await asyncio.to_thread(first.wait_ready)
    start = now() + timedelta(seconds=3)
    scheduled: list[ScheduleTimer] = []

    async def schedule(batch: range) -> None:
        for n in batch:
            due = start + timedelta(milliseconds=150 * n)  # 300 due over 45 s: in churn and after
            scheduled.append(await commands.schedule(f"c{n}", due, client=clients[n % 12]))

    await schedule(range(0, 60))
    second = services.start(SCHEDULER, **CHURN)  # joins
    await asyncio.gather(schedule(range(60, 120)), asyncio.to_thread(second.wait_ready))
    third = services.start(SCHEDULER, **CHURN)  # joins
    await asyncio.gather(schedule(range(120, 180)), asyncio.to_thread(third.wait_ready))
    await asyncio.gather(schedule(range(180, 240)), asyncio.to_thread(first.terminate))  # leaves
    second.kill()  # dies, holding partitions and leases until the group and the leases notice
    killed_at = now()
    await schedule(range(240, 300))

    fired = await commands.fired(kafka_bootstrap, distinct=300, timeout=90)
    await eventually(
        lambda: _none_pending(database, commands), timeout=30, what="every timer retired"
    )
    fired = commands.mine(await read_all(kafka_bootstrap, SCHEDULER_EVENTS))

    due_at = {command.timer_id: command.due_at for command in scheduled}
    times: dict[str, list[datetime]] = defaultdict(list)
    for event in fired:
        times[event.timer_id].append(event.fired_at)
    twice = {timer_id: sorted(at) for timer_id, at in times.items() if len(at) > 1}
    due_in_churn = sum(due <= killed_at for due in due_at.values())
    churn_s = (killed_at - start).total_seconds()
    print(
        f"\nchurn (3 replicas started, 1 stopped by SIGTERM, 1 killed): {len(due_at)} timers "
        f"scheduled, {due_in_churn} due before the kill ({churn_s:.0f} s in), {len(fired)} "
        "TimerFired, "
        f"{len(times)} distinct, {len(twice)} fired twice, "
        f"{third.metric('timers_reconciled_total'):.0f} found by the survivor's reconciling pass"
    )
    assert set(times) == set(due_at), "every timer fired, and only the scheduled ones"
    assert all(event.fired_at >= due_at[event.timer_id] for event in fired), "none early"
    for timer_id, at in twice.items():
        gaps = [later - earlier for earlier, later in pairwise(at)]
        # Fired again only once the first claimant's lease ran out (it stopped mid-fire).
        assert min(gaps) >= LEASE - timedelta(seconds=0.5), (timer_id, at)
