"""One contract for the order service's repositories, run on MongoDB (FerretDB) and on the
in-memory twins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.order.adapters import mongo_order_repository, mongo_store_config_repository
from services.order.adapters.in_memory import (
    InMemoryOrderNumbers,
    InMemoryOrderRepository,
    InMemoryStoreConfigRepository,
)
from services.order.adapters.mongo_order_numbers import MongoOrderNumbers
from services.order.adapters.mongo_order_repository import (
    FIRST_WINDOW,
    MongoOrderRepository,
    reach_after,
)
from services.order.adapters.mongo_store_config_repository import MongoStoreConfigRepository
from services.order.domain.errors import ConcurrencyConflict
from services.order.domain.order import Order, new_order
from services.order.ports import OrderNumbers, OrderQuery, OrderRepository, StoreConfigRepository
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus, PaymentStatus
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.records import OutgoingRecord
from shared.settings import OutboxSettings
from tests.builders import CLIENT, STORE, place_order
from tests.sinks import RecordingSink

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
"""Whole milliseconds: MongoDB keeps no finer instants."""
NOW = T0 + timedelta(days=1)
"""The MongoDB repository's clock: its look-ups' windows start here."""


@dataclass
class Subject:
    orders: OrderRepository
    configs: StoreConfigRepository
    numbers: OrderNumbers
    sink: RecordingSink

    def published(self) -> list[str]:
        return [record.event_id for record in self.sink.records]


@pytest.fixture
def in_memory_repositories() -> Subject:
    sink = RecordingSink()
    return Subject(
        InMemoryOrderRepository(sink),
        InMemoryStoreConfigRepository(sink),
        InMemoryOrderNumbers(),
        sink,
    )


@pytest.fixture
async def mongo_repositories(database: Database) -> Subject:
    await ensure_indexes(
        database, mongo_order_repository.INDEXES | mongo_store_config_repository.INDEXES
    )
    sink = RecordingSink()
    relay = OutboxRelay(sink, OutboxSettings())
    return Subject(
        MongoOrderRepository(database, relay, clock=lambda: NOW),
        MongoStoreConfigRepository(database, relay),
        MongoOrderNumbers(database),
        sink,
    )


@pytest.fixture(params=["in_memory_repositories", "mongo_repositories"])
def subject(request: pytest.FixtureRequest) -> Subject:
    """Each test runs against both (sync, so the async fixtures set up outside the loop)."""
    found: Subject = request.getfixturevalue(request.param)
    return found


def an_order(
    order_id: str,
    *,
    minutes: float = 0,
    method: str = "CASH",
    client_id: str = CLIENT,
    store_id: str = STORE,
    **fields: object,
) -> Order:
    """A new order placed `minutes` after T0; `fields` are set on the order as placed."""
    placed_at = T0 + timedelta(minutes=minutes)
    command = place_order(method, client_id=client_id, store_id=store_id, occurred_at=placed_at)
    order = new_order(
        command,
        StoreOrderConfig.default_for(client_id, store_id),
        order_id=order_id,
        order_number=1,
        placed_event_id=f"placed-{order_id}",
        now=placed_at,
    )
    return order.model_copy(update=fields)


async def added(subject: Subject, order: Order) -> Order:
    """Adds `order` without records; returns it as read back."""
    await subject.orders.add(order, [], T0)
    read = await subject.orders.get(order.order_id)
    assert read is not None
    return read


def record(name: str) -> OutgoingRecord:
    """An outbox record whose eventId is `name` (what it carries does not matter here)."""
    return OutgoingRecord("orders.events", CLIENT.encode(), name.encode(), {}, event_id=name)


async def test_an_order_is_added_once_and_a_second_add_changes_and_publishes_nothing(
    subject: Subject,
) -> None:
    first = an_order("o1")

    assert await subject.orders.add(first, [record("placed")], T0)
    assert not await subject.orders.add(an_order("o1", minutes=5), [record("again")], T0)
    await subject.orders.publish("o1")

    assert await subject.orders.get("o1") == first
    assert subject.published() == ["placed"]


async def test_an_unknown_order_is_none(subject: Subject) -> None:
    assert await subject.orders.get("nobody") is None


async def test_a_save_at_the_version_read_replaces_the_order_and_moves_its_version(
    subject: Subject,
) -> None:
    read = await added(subject, an_order("o1"))
    assert read.version == 0

    confirmed = read.model_copy(update={"status": OrderStatus.CONFIRMED})
    await subject.orders.save(confirmed, read.version, [], T0)

    assert await subject.orders.get("o1") == confirmed.model_copy(update={"version": 1})


async def test_a_save_after_another_writer_moved_the_version_is_a_conflict_and_writes_nothing(
    subject: Subject,
) -> None:
    read = await added(subject, an_order("o1"))
    winner = read.model_copy(update={"status": OrderStatus.CONFIRMED})
    await subject.orders.save(winner, read.version, [record("confirmed")], T0)

    loser = read.model_copy(update={"status": OrderStatus.CANCELLED})
    with pytest.raises(ConcurrencyConflict):
        await subject.orders.save(loser, read.version, [record("cancelled")], T0)
    await subject.orders.publish("o1")

    stored = await subject.orders.get("o1")
    assert stored is not None
    assert (stored.status, stored.version) == (OrderStatus.CONFIRMED, 1)
    assert subject.published() == ["confirmed"]


async def test_a_save_of_an_order_never_added_is_a_conflict(subject: Subject) -> None:
    with pytest.raises(ConcurrencyConflict):
        await subject.orders.save(an_order("o1"), 0, [], T0)
    assert await subject.orders.get("o1") is None


async def test_outbox_records_are_published_in_order_once_and_only_by_publish(
    subject: Subject,
) -> None:
    order = an_order("o1")
    await subject.orders.add(order, [record("a"), record("b")], T0)
    assert subject.published() == []

    await subject.orders.publish("o1")
    await subject.orders.publish("o1")
    assert subject.published() == ["a", "b"]

    await subject.orders.save(order, 0, [record("c")], T0)
    await subject.orders.publish("o1")
    assert subject.published() == ["a", "b", "c"]


OTHER_PHONE = "+5521912345678"
ORDERS = [
    an_order("o1", minutes=1),
    an_order("o2", minutes=2, phone_number=OTHER_PHONE),
    an_order("o3", minutes=3, customer_id="cust-2"),
    an_order("o4", minutes=4, method="PIX"),
    an_order("o5", minutes=5, client_id="rest-2"),
    an_order("o6", minutes=6, store_id="store-2"),
    an_order("o7", minutes=7, status=OrderStatus.CONFIRMED),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (OrderQuery(), ["o7", "o6", "o5", "o4", "o3", "o2", "o1"]),
        (OrderQuery(phone_number=OTHER_PHONE), ["o2"]),
        (OrderQuery(customer_id="cust-2"), ["o3"]),
        (OrderQuery(payment_status=PaymentStatus.PENDING), ["o4"]),
        (OrderQuery(client_id="rest-2"), ["o5"]),
        (OrderQuery(store_id="store-2"), ["o6"]),
        (OrderQuery(status=OrderStatus.CONFIRMED), ["o7"]),
        (
            OrderQuery(client_id=CLIENT, store_id=STORE, status=OrderStatus.PENDING),
            ["o4", "o3", "o2", "o1"],
        ),
    ],
    ids=["all", "phone", "customer", "payment", "client", "store", "status", "combined"],
)
async def test_a_query_finds_the_orders_matching_all_its_filters_newest_first(
    subject: Subject, query: OrderQuery, expected: list[str]
) -> None:
    for order in ORDERS:
        await subject.orders.add(order, [], T0)

    found = await subject.orders.find(query)

    assert [order.order_id for order in found] == expected


async def test_pages_follow_each_other_through_the_cursor_ties_broken_by_order_id(
    subject: Subject,
) -> None:
    # Two pairs placed at the same instant: the cursor must split neither.
    for order_id, minutes in [("a", 1), ("b", 2), ("c", 2), ("d", 3), ("e", 3)]:
        await subject.orders.add(an_order(order_id, minutes=minutes), [], T0)

    assert await pages(subject, OrderQuery(limit=2)) == [["e", "d"], ["c", "b"], ["a"]]


async def pages(subject: Subject, query: OrderQuery) -> list[list[str]]:
    """The ids of every page of `query`, each after the cursor of the one before."""
    found: list[list[str]] = []
    before = None
    for _ in range(20):  # a cursor that moved nothing would page forever
        page = await subject.orders.find(replace(query, before=before))
        if not page:
            return found
        found.append([order.order_id for order in page])
        before = (page[-1].created_at, page[-1].order_id)
    raise AssertionError(f"still paging after {found}")


def placed_ago(order_id: str, ago: timedelta, **fields: object) -> Order:
    """An order placed `ago` before NOW (a negative `ago` is after it: a clock ahead)."""
    placed = an_order(order_id, minutes=(NOW - ago - T0) / timedelta(minutes=1))
    return placed.model_copy(update=fields)


async def test_pages_run_newest_first_through_recent_old_and_very_old_orders(
    subject: Subject,
) -> None:
    years = timedelta(days=365)
    for order in [
        placed_ago("ahead", -timedelta(minutes=5)),
        placed_ago("recent", timedelta(minutes=30)),
        placed_ago("hour", FIRST_WINDOW),
        placed_ago("hours", timedelta(minutes=90)),
        placed_ago("days", timedelta(days=10)),
        placed_ago("year", 1 * years),
        placed_ago("ages", 5 * years),
    ]:
        await subject.orders.add(order, [], T0)

    newest_first = ["ahead", "recent", "hour", "hours", "days", "year", "ages"]
    assert await pages(subject, OrderQuery(limit=50)) == [newest_first]
    assert await pages(subject, OrderQuery(limit=2)) == [
        ["ahead", "recent"],
        ["hour", "hours"],
        ["days", "year"],
        ["ages"],
    ]
    assert await pages(subject, OrderQuery(limit=3)) == [
        newest_first[:3],
        newest_first[3:6],
        ["ages"],
    ]


async def test_orders_placed_at_the_same_instant_are_split_by_no_page_nor_window(
    subject: Subject,
) -> None:
    # "b" orders sit exactly on the first window's edge, "c" orders a millisecond older.
    edge = FIRST_WINDOW
    older = FIRST_WINDOW + timedelta(milliseconds=1)
    for order_id, ago in [("b1", edge), ("b3", edge), ("b2", edge), ("c2", older), ("c1", older)]:
        await subject.orders.add(placed_ago(order_id, ago), [], T0)

    assert await pages(subject, OrderQuery(limit=2)) == [["b3", "b2"], ["b1", "c2"], ["c1"]]
    assert await pages(subject, OrderQuery(limit=4)) == [["b3", "b2", "b1", "c2"], ["c1"]]


async def test_a_store_without_orders_has_no_page(subject: Subject) -> None:
    await subject.orders.add(placed_ago("elsewhere", timedelta(minutes=1)), [], T0)
    store = OrderQuery(client_id=CLIENT, store_id="store-2")

    assert await subject.orders.find(store) == []
    assert await subject.orders.find(replace(store, before=(NOW, "zzz"))) == []


@pytest.mark.parametrize(
    "query",
    [
        OrderQuery(phone_number=OTHER_PHONE, limit=2),
        OrderQuery(client_id=CLIENT, store_id="store-2", limit=2),
    ],
    ids=["a person's, in one find", "a store's, through every window"],
)
async def test_orders_all_years_old_come_newest_first(subject: Subject, query: OrderQuery) -> None:
    years = timedelta(days=365)
    for n in range(5):
        await subject.orders.add(placed_ago(f"recent-{n}", timedelta(minutes=n)), [], T0)
    for order_id, ago in [("old-1", 4 * years), ("old-2", 3 * years), ("old-3", 3 * years)]:
        old = placed_ago(order_id, ago, phone_number=OTHER_PHONE, store_id="store-2")
        await subject.orders.add(old, [], T0)

    assert await pages(subject, query) == [["old-3", "old-2"], ["old-1"]]


def test_a_look_up_widens_its_window_to_fill_the_page_twice_over_and_opens_it_past_a_year() -> None:
    hour = timedelta(hours=1)

    assert reach_after(hour, found=0, limit=50) == 32 * hour
    assert reach_after(hour, found=10, limit=50) == 10 * hour
    assert reach_after(hour, found=49, limit=50) == hour * 100 / 49
    assert reach_after(10 * hour, found=1, limit=50) == 320 * hour
    assert reach_after(timedelta(days=12), found=0, limit=50) is None


async def test_a_store_config_is_put_read_back_replaced_and_its_records_published_once(
    subject: Subject,
) -> None:
    assert await subject.configs.get(CLIENT, STORE) is None
    first = StoreOrderConfig(client_id=CLIENT, store_id=STORE, store_name="Praça", updated_at=T0)
    second = first.model_copy(update={"requires_confirmation": True})

    await subject.configs.put(first, [record("first")], T0)
    assert await subject.configs.get(CLIENT, STORE) == first
    await subject.configs.put(second, [record("second")], T0)
    await subject.configs.publish(CLIENT, STORE)
    await subject.configs.publish(CLIENT, STORE)

    assert await subject.configs.get(CLIENT, STORE) == second
    assert await subject.configs.get(CLIENT, "store-2") is None
    assert subject.published() == ["first", "second"]


# Order numbers


async def claimed(numbers: OrderNumbers, count: int, store: str = STORE) -> list[int]:
    """`count` numbers of the store claimed at once, as they were handed out."""
    return list(
        await asyncio.gather(*(numbers.next(CLIENT, store, f"order-{n}", T0) for n in range(count)))
    )


async def test_each_stores_numbers_start_at_one_and_go_up_by_one(subject: Subject) -> None:
    numbers = subject.numbers
    assert [await numbers.next(CLIENT, STORE, f"o{n}", T0) for n in range(3)] == [1, 2, 3]
    assert await numbers.next(CLIENT, "store-2", "o4", T0) == 1
    assert await numbers.next("rest-2", STORE, "o5", T0) == 1
    assert await numbers.next(CLIENT, STORE, "o6", T0) == 4


async def test_numbers_claimed_at_once_are_all_different_with_no_hole(subject: Subject) -> None:
    assert sorted(await claimed(subject.numbers, 25)) == list(range(1, 26))


async def test_a_number_given_back_is_claimed_again_unless_a_later_one_was_claimed(
    subject: Subject,
) -> None:
    numbers = subject.numbers
    assert [await numbers.next(CLIENT, STORE, f"o{n}", T0) for n in (1, 2)] == [1, 2]

    await numbers.release(CLIENT, STORE, "o2", 2)  # o2 was stored already, with another number
    assert await numbers.next(CLIENT, STORE, "o3", T0) == 2
    assert await numbers.next(CLIENT, STORE, "o4", T0) == 3
    await numbers.release(CLIENT, STORE, "o3", 2)  # 3 was claimed since: 2 stays o3's
    assert await numbers.next(CLIENT, STORE, "o5", T0) == 4


async def test_replicas_claiming_at_once_never_share_a_number_and_leave_no_hole(
    database: Database,
) -> None:
    first, second = MongoOrderNumbers(database), MongoOrderNumbers(database)

    both = await asyncio.gather(claimed(first, 20), claimed(second, 20))

    assert sorted(both[0] + both[1]) == list(range(1, 41))


async def test_a_replica_continues_after_the_numbers_others_claimed(database: Database) -> None:
    early, late = MongoOrderNumbers(database), MongoOrderNumbers(database)
    assert sorted(await claimed(early, 37)) == list(range(1, 38))

    # The late one never saw this store: it searches past 37 claims.
    assert await late.next(CLIENT, STORE, "o38", T0) == 38
    # The early one remembers 37, which is stale now: 38 is taken, so it takes 39.
    assert await early.next(CLIENT, STORE, "o39", T0) == 39
    assert await MongoOrderNumbers(database).next(CLIENT, "store-2", "o1", T0) == 1
