"""One contract for both timer stores: MongoDB (on the real server) and the in-memory twin."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from services.scheduler.adapters import mongo_timer_store
from services.scheduler.adapters.in_memory_timer_store import InMemoryTimerStore
from services.scheduler.adapters.mongo_timer_store import DONE, INDEXES, TIMERS, MongoTimerStore
from services.scheduler.domain import Timer
from services.scheduler.ports import TimerStore
from shared.contracts.scheduler import TimerPurpose
from shared.mongo import Database, ensure_indexes

T0 = datetime(2026, 5, 24, 15, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


def timer(timer_id: str, due_in: float, *, scheduled_at: datetime = T0, by: str = "") -> Timer:
    return Timer(
        timer_id=timer_id,
        client_id="client-1",
        store_id="store-1",
        purpose=TimerPurpose.CONFIRMATION_DEADLINE,
        due_at=T0 + timedelta(seconds=due_in),
        correlation_id="turn-1",
        scheduled_by=by or uuid.uuid4().hex,
        scheduled_at=scheduled_at,
        order_id="order-1",
        payload={"k": "v"},
        trace_context={"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
    )


@pytest.fixture
def in_memory_store() -> TimerStore:
    return InMemoryTimerStore()


@pytest.fixture
async def mongo_store(database: Database) -> TimerStore:
    await ensure_indexes(database, INDEXES)
    return MongoTimerStore(database)


@pytest.fixture(params=["in_memory_store", "mongo_store"])
def store(request: pytest.FixtureRequest) -> TimerStore:
    """Each test runs against both stores (sync, so the async fixtures set up outside the loop)."""
    found: TimerStore = request.getfixturevalue(request.param)
    return found


def ids(timers: list[Timer]) -> list[str]:
    return [t.timer_id for t in timers]


async def claimed_at(store: TimerStore, seconds: float, limit: int = 10) -> list[str]:
    return ids((await store.claim_due(T0 + timedelta(seconds=seconds), LEASE, limit)).claimed)


async def test_a_timer_is_claimed_at_its_due_time_and_not_before(store: TimerStore) -> None:
    scheduled = timer("a", 5)
    assert await store.upsert(scheduled)
    early = await store.claim_due(T0 + timedelta(seconds=4.999), LEASE, 10)
    assert early.claimed == []
    assert early.next_due_at == T0 + timedelta(seconds=5)
    on_time = await store.claim_due(T0 + timedelta(seconds=5), LEASE, 10)
    assert on_time.claimed == [scheduled]
    assert on_time.next_due_at is None


async def test_due_timers_come_oldest_first_and_at_most_the_limit(store: TimerStore) -> None:
    for name, due in [("c", 3), ("a", 1), ("b", 2), ("later", 60)]:
        await store.upsert(timer(name, due))
    first = await store.claim_due(T0 + timedelta(seconds=10), LEASE, 2)
    assert ids(first.claimed) == ["a", "b"]
    assert first.next_due_at == T0 + timedelta(seconds=10), "more are due: tick again at once"
    second = await store.claim_due(T0 + timedelta(seconds=10), LEASE, 2)
    assert ids(second.claimed) == ["c"]
    assert second.next_due_at == T0 + timedelta(seconds=10) + LEASE, "a lease runs out first"


async def test_a_later_command_moves_the_due_time_and_an_older_one_does_not(
    store: TimerStore,
) -> None:
    await store.upsert(timer("a", 5, scheduled_at=T0))
    assert await store.upsert(timer("a", 30, scheduled_at=T0 + timedelta(seconds=1)))
    assert not await store.upsert(timer("a", 1, scheduled_at=T0 - timedelta(seconds=1)))
    assert await claimed_at(store, 29) == []
    assert await claimed_at(store, 30) == ["a"]


async def test_a_cancelled_timer_is_never_claimed(store: TimerStore) -> None:
    await store.upsert(timer("a", 1))
    assert await store.cancel("a")
    assert not await store.cancel("a")
    nothing = await store.claim_due(T0 + timedelta(hours=1), LEASE, 10)
    assert nothing.claimed == []
    assert nothing.next_due_at is None


async def test_a_redelivered_command_changes_nothing_even_after_a_cancel(store: TimerStore) -> None:
    command = timer("a", 1, by="command-1")
    assert await store.upsert(command)
    assert not await store.upsert(command)
    await store.cancel("a")
    assert not await store.upsert(command), "a redelivered command must not undo the cancel"
    assert await claimed_at(store, 2) == []


async def test_a_claim_holds_until_its_lease_runs_out_then_the_timer_is_due_again(
    store: TimerStore,
) -> None:
    await store.upsert(timer("a", 1))
    first = (await store.claim_due(T0 + timedelta(seconds=1), LEASE, 10)).claimed
    assert ids(first) == ["a"]
    assert await claimed_at(store, 10) == []
    second = (await store.claim_due(T0 + timedelta(seconds=11), LEASE, 10)).claimed
    assert ids(second) == ["a"]
    assert await store.complete(second) == 1
    assert await store.complete(first) == 0, "retired once, whoever completes first"
    assert (await store.claim_due(T0 + timedelta(hours=1), LEASE, 10)).next_due_at is None


async def test_a_fired_timer_is_not_set_again_by_its_own_command_but_a_new_command_sets_it(
    store: TimerStore,
) -> None:
    original = timer("a", 1, by="command-1")
    await store.upsert(original)
    await store.complete((await store.claim_due(T0 + timedelta(seconds=1), LEASE, 10)).claimed)
    assert not await store.upsert(original), "a redelivered command must not re-arm its timer"
    assert await store.upsert(timer("a", 9, by="command-2", scheduled_at=T0 + timedelta(seconds=2)))
    assert await claimed_at(store, 9) == ["a"]


async def test_a_timer_moved_while_claimed_is_not_retired_by_the_old_claim(
    store: TimerStore,
) -> None:
    await store.upsert(timer("a", 1, scheduled_at=T0))
    claimed = (await store.claim_due(T0 + timedelta(seconds=1), LEASE, 10)).claimed
    await store.upsert(timer("a", 60, scheduled_at=T0 + timedelta(seconds=1)))
    await store.complete(claimed)
    later = await store.claim_due(T0 + timedelta(seconds=2), LEASE, 10)
    assert later.claimed == []
    assert later.next_due_at == T0 + timedelta(seconds=60)
    assert await claimed_at(store, 60) == ["a"]


async def test_a_sub_millisecond_due_time_is_kept_exactly_and_never_fires_early(
    store: TimerStore,
) -> None:
    due = T0 + timedelta(seconds=5, microseconds=400)
    await store.upsert(timer("a", (due - T0).total_seconds()))
    assert (await store.claim_due(due - timedelta(microseconds=1), LEASE, 10)).claimed == []
    [claimed] = (await store.claim_due(T0 + timedelta(seconds=5.001), LEASE, 10)).claimed
    assert claimed.due_at == due


async def test_replicas_claiming_at_the_same_moment_never_share_a_timer(database: Database) -> None:
    await ensure_indexes(database, INDEXES)
    first, second = MongoTimerStore(database), MongoTimerStore(database)
    for n in range(300):
        await first.upsert(timer(f"t{n}", 1))
    claimed: list[str] = []
    for _ in range(3):
        a, b = await asyncio.gather(
            first.claim_due(T0 + timedelta(seconds=2), LEASE, 120),
            second.claim_due(T0 + timedelta(seconds=2), LEASE, 120),
        )
        claimed += ids(a.claimed) + ids(b.claimed)
    assert sorted(claimed) == sorted(f"t{n}" for n in range(300))


def owned(timer_id: str, partition: int, due_in: float = 1) -> Timer:
    return dataclasses.replace(timer(timer_id, due_in), partition=partition)


async def test_a_replica_fires_only_the_timers_of_its_partitions(database: Database) -> None:
    await ensure_indexes(database, INDEXES)
    first, second = MongoTimerStore(database), MongoTimerStore(database)
    await first.adopt({0})
    await second.adopt({1})
    for n in range(10):
        await (first if n % 2 == 0 else second).upsert(owned(f"t{n}", n % 2))
    assert await claimed_at(first, 2) == [f"t{n}" for n in range(0, 10, 2)]
    assert await claimed_at(second, 2) == [f"t{n}" for n in range(1, 10, 2)]


async def test_partitions_taken_over_bring_their_pending_timers_along(database: Database) -> None:
    await ensure_indexes(database, INDEXES)
    leaving, staying = MongoTimerStore(database), MongoTimerStore(database)
    await leaving.adopt({0})
    await staying.adopt({1})
    await leaving.upsert(owned("early", 0, due_in=1))
    await leaving.upsert(owned("later", 0, due_in=30))
    assert ids((await leaving.claim_due(T0 + timedelta(seconds=2), LEASE, 10)).claimed) == ["early"]
    # The partition moves without `early` having been completed: its lease must run out first.
    await leaving.release({0})
    await staying.adopt({0, 1})
    assert await claimed_at(staying, 2) == []
    assert await claimed_at(staying, 31) == ["early", "later"]
    assert await claimed_at(leaving, 31) == []


async def test_a_rescheduled_timer_is_stored_even_if_its_fired_version_is_compacted_meanwhile(
    database: Database,
) -> None:
    await ensure_indexes(database, INDEXES)
    store = MongoTimerStore(database, tombstone_grace=timedelta(0))
    await store.upsert(timer("a", 1))
    await store.complete((await store.claim_due(T0 + timedelta(seconds=1), LEASE, 10)).claimed)
    timers = database[TIMERS]

    class CompactedBeforeRead:
        """The timers collection, with a compaction (another task's) just before each read."""

        def __getattr__(self, name: str) -> Any:
            return getattr(timers, name)

        async def find_one(self, *args: Any, **kwargs: Any) -> Any:
            await store.compact()
            return await timers.find_one(*args, **kwargs)

    store._timers = CompactedBeforeRead()  # type: ignore[assignment]
    rescheduled = timer("a", 30, scheduled_at=T0 + timedelta(seconds=2))

    assert await store.upsert(rescheduled)

    stored = await timers.find_one({"_id": "a"}, {"scheduledBy": 1})
    assert stored == {"_id": "a", "scheduledBy": rescheduled.scheduled_by}
    assert await claimed_at(MongoTimerStore(database), 30) == ["a"], "a restarted replica fires it"


class ReadsThatFail:
    """A collection whose next `failures` reads (`find`) fail as an unreachable server does."""

    def __init__(self, collection: Any, failures: int) -> None:
        self._collection = collection
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection refused")
        return self._collection.find(*args, **kwargs)


async def test_a_partition_whose_load_failed_stays_owned_and_reconcile_loads_it(
    database: Database,
) -> None:
    await ensure_indexes(database, INDEXES)
    await MongoTimerStore(database).upsert(owned("stored", 0))
    store = MongoTimerStore(database)
    store._timers = ReadsThatFail(store._timers, failures=1)  # type: ignore[assignment]

    with pytest.raises(AutoReconnect):
        await store.adopt({0})
    await store.upsert(owned("set-meanwhile", 0))
    assert await claimed_at(store, 2) == ["set-meanwhile"]

    assert await store.reconcile() == 1
    assert await claimed_at(store, 2) == ["stored"]


@pytest.fixture
async def owner_and_letting_go(database: Database) -> tuple[MongoTimerStore, MongoTimerStore]:
    """Two replicas on one database: one taking a partition over, one letting it go."""
    await ensure_indexes(database, INDEXES)
    return MongoTimerStore(database), MongoTimerStore(database)


async def test_reconcile_finds_a_timer_written_for_an_owned_partition_behind_the_views_back(
    owner_and_letting_go: tuple[MongoTimerStore, MongoTimerStore],
) -> None:
    owner, letting_go = owner_and_letting_go
    await letting_go.adopt({0})
    await owner.adopt({1})
    # The partition moves while `letting_go` still handles a ScheduleTimer: its write lands
    # after `owner` loaded the partition, and `letting_go` no longer keeps it.
    await letting_go.release({0})
    await owner.adopt({0, 1})
    await letting_go.upsert(owned("late", 0))
    assert await claimed_at(owner, 2) == []

    assert await owner.reconcile() == 1
    assert await owner.reconcile() == 0, "found once"
    assert await claimed_at(owner, 2) == ["late"]
    assert await claimed_at(letting_go, 2) == []


async def test_reconcile_drops_a_timer_cancelled_elsewhere_and_keeps_the_leases_it_knows(
    owner_and_letting_go: tuple[MongoTimerStore, MongoTimerStore],
) -> None:
    owner, letting_go = owner_and_letting_go
    await owner.adopt({0})
    await owner.upsert(owned("cancelled-elsewhere", 0, due_in=30))
    await owner.upsert(owned("claimed", 0, due_in=1))
    assert await claimed_at(owner, 1) == ["claimed"]
    await letting_go.cancel("cancelled-elsewhere")

    assert await owner.reconcile() == 0
    assert await claimed_at(owner, 2) == [], "the claim's lease is still known"
    assert await claimed_at(owner, 31) == ["claimed"], "only the lease's end makes it due again"


async def test_reconcile_keeps_what_this_replica_set_or_cancelled_while_it_read(
    database: Database,
) -> None:
    await ensure_indexes(database, INDEXES)
    store = MongoTimerStore(database)
    await store.adopt({0})
    await store.upsert(owned("moved", 0, due_in=1))
    await store.upsert(owned("cancelled", 0, due_in=1))
    timers = database[TIMERS]
    moved = dataclasses.replace(
        owned("moved", 0, due_in=20), scheduled_at=T0 + timedelta(seconds=1)
    )

    class WritesDuringTheRead:
        """The timers collection, with this replica's own writes landing as a pass reads it."""

        def __getattr__(self, name: str) -> Any:
            return getattr(timers, name)

        def find(self, *args: Any, **kwargs: Any) -> Any:
            cursor = timers.find(*args, **kwargs)
            store._timers = timers
            return _after(cursor, store.upsert(moved), store.cancel("cancelled"))

    store._timers = WritesDuringTheRead()  # type: ignore[assignment]
    await store.reconcile()

    assert await claimed_at(store, 19) == []
    assert await claimed_at(store, 20) == ["moved"]


def _after(cursor: Any, *writes: Any) -> Any:
    """An async iterator over `cursor` that first awaits `writes` (once the read is under way)."""

    async def documents() -> Any:
        first = True
        async for document in cursor:
            if first:
                for write in writes:
                    await write
                first = False
            yield document

    return documents()


async def test_fired_timers_leave_nothing_in_the_memory_of_replicas_sharing_them(
    database: Database,
) -> None:
    await ensure_indexes(database, INDEXES)
    grace = timedelta(0)
    first, second = MongoTimerStore(database, grace), MongoTimerStore(database, grace)
    for store, partition in ((first, 0), (second, 1)):
        await store.adopt({partition})
    for n in range(200):
        await (first if n % 2 == 0 else second).upsert(owned(f"t{n}", n % 2))
    for store in (first, second):
        assert (
            await store.complete(
                (await store.claim_due(T0 + timedelta(seconds=2), LEASE, 500)).claimed
            )
            == 100
        )

    await first.maintain()  # one replica compacts what both fired

    assert await pending_timers(database) == 0
    for store in (first, second):
        assert store._view == {}
        assert store._touched is None
        assert set(vars(store)) == MEMORY, "no other state a fired timer could be remembered in"


async def test_compaction_deletes_every_fired_timer_batch_by_batch_and_keeps_one_set_again(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mongo_timer_store, "DELETE_BATCH", 3)
    await ensure_indexes(database, INDEXES)
    store = MongoTimerStore(database, tombstone_grace=timedelta(0))
    for n in range(7):
        await store.upsert(timer(f"t{n}", 1))
    fired = (await store.claim_due(T0 + timedelta(seconds=1), LEASE, 10)).claimed
    assert await store.complete(fired) == 7
    assert await store.upsert(timer("t0", 9, by="later", scheduled_at=T0 + timedelta(seconds=2)))

    await store.compact()

    assert [d["_id"] async for d in database[TIMERS].find({}, {"_id": 1})] == ["t0"]
    assert await database[DONE].count_documents({}) == 0
    assert await claimed_at(store, 9) == ["t0"]


MEMORY = {
    "_tombstone_grace",
    "_timers",
    "_claims",
    "_done",
    "_view",
    "_owned",
    "_touched",
    "_reading",
}


async def pending_timers(database: Database) -> int:
    return int(await database[TIMERS].count_documents({}))
