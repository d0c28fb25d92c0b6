"""Growth benchmark: the order look-ups and writes with 10,000 and 100,000 orders in history.

The history ends now, one order a minute back in time (the 90,000 added for the second size are
older), so the newest orders are recent, as in life. Each look-up of the order API (by id, phone,
customer, payment status, store and status, store) is timed through the order service's
repository, newest 50 first, beside a full scan of the same collection filtered and sorted in the
client, as the source design did. "by phone" and "by customer" look up the newest order's key,
which has about 2 orders at 10,000 and 20 at 100,000 (5,000 customers): its answer itself grows
tenfold. "steady key" looks up a customer with 20 orders among the newest 10,000 and none older,
the same answer at both sizes. The versioned save of the newest and of the oldest order, and an
outbox sweep finding nothing, are timed at each size too.
"""

from __future__ import annotations

import functools
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from bench.harness import Results, run_benchmark, say
from deploy.local.demo import order as demo_order
from services.order.adapters.mongo_order_repository import (
    INDEXES,
    MongoOrderRepository,
    filter_of,
    to_document,
)
from services.order.domain import decisions
from services.order.domain.change import Cause
from services.order.ports import OrderQuery
from services.order.service import order_id_for
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus, PaymentStatus
from shared.mongo import Document, ensure_indexes
from shared.outbox import OutboxRelay
from shared.outbox_documents import OUTBOX
from shared.settings import OutboxSettings
from tests.infrastructure import Servers
from tests.sinks import RecordingSink

SIZES = (10_000, 100_000)
RESTAURANTS = 100
CUSTOMERS = 5_000
STEADY = CUSTOMERS
"""The steady key's customer number: one order of every STEADY_EVERY among the newest SIZES[0]."""
STEADY_EVERY = 500
REPEATS = 3
BATCH = 1_000


def template() -> Document:
    """One order as the service stores it, placed through the domain."""
    command = demo_order("+5511900000000", "Ana", "PIX", [("X-Burger", 2, "18.90")])
    now = datetime.now(UTC)
    config = StoreOrderConfig.default_for(command.client_id, command.store_id)
    decision = decisions.place(
        command, config, order_id_for(command), Cause.of(command, now, uuid.uuid4), order_number=1
    )
    return to_document(decision.state)


def history(
    start: int, count: int, base: Document, rng: random.Random, now: datetime
) -> list[Document]:
    """Orders `start` to `start + count` back from `now`, one a minute, newest first."""
    documents = []
    for n in range(start, start + count):
        customer = rng.randrange(CUSTOMERS)
        if n < SIZES[0] and n % STEADY_EVERY == STEADY_EVERY // 2:
            customer = STEADY
        created = now - timedelta(minutes=n)
        documents.append(
            base
            | {
                "_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "clientId": f"rest-{rng.randrange(RESTAURANTS):03d}",
                "storeId": "loja-1",
                "customerId": f"cust-{customer}",
                "phoneNumber": f"+55119{customer:08d}",
                "status": rng.choice(list(OrderStatus)).value,
                "paymentStatus": rng.choice(list(PaymentStatus)).value,
                "createdAt": created,
                "updatedAt": created,
            }
        )
    for document in documents:
        document["orderId"] = document["_id"]
    return documents


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    """The median of REPEATS runs of `action`, in seconds."""
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        await action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def matches(document: Document, query: OrderQuery) -> bool:
    """The query's filter applied in the client (the queries timed here have no page cursor)."""
    return all(document.get(field) == value for field, value in filter_of(query).items())


def newest_50(documents: list[Document], query: OrderQuery) -> list[Document]:
    """What the source design did: scan everything, filter and sort in the client."""
    found = [document for document in documents if matches(document, query)]
    return sorted(found, key=lambda d: (d["createdAt"], d["_id"]), reverse=True)[:50]


async def measure(repository: MongoOrderRepository, newest: Document, oldest: Document) -> Results:
    collection = repository.collection
    scanned: list[Document] = []

    async def full_scan() -> None:
        scanned[:] = [document async for document in collection.find({}, {OUTBOX: 0})]

    figures: Results = {"full_scan_s": await timed(full_scan)}
    say(f"    full scan: {figures['full_scan_s'] * 1000:.0f} ms")
    queries = {
        "by phone": OrderQuery(phone_number=newest["phoneNumber"]),
        "by phone, steady key": OrderQuery(phone_number=f"+55119{STEADY:08d}"),
        "by customer": OrderQuery(customer_id=newest["customerId"]),
        "by customer, steady key": OrderQuery(customer_id=f"cust-{STEADY}"),
        "by payment status": OrderQuery(payment_status=PaymentStatus.FAILED),
        "by store and status": OrderQuery(
            client_id=newest["clientId"], store_id="loja-1", status=OrderStatus.PENDING
        ),
        "by store": OrderQuery(client_id=newest["clientId"], store_id="loja-1"),
    }
    for name, query in queries.items():
        found = await repository.find(query)
        assert [o.order_id for o in found] == [d["_id"] for d in newest_50(scanned, query)], name
        figures[name] = await timed(functools.partial(repository.find, query))
        say(f"    {name}: {figures[name] * 1000:.0f} ms")
    figures["by id, newest"] = await timed(lambda: repository.get(newest["_id"]))
    figures["by id, oldest"] = await timed(lambda: repository.get(oldest["_id"]))

    async def save(document: Document) -> None:
        order = await repository.get(document["_id"])
        assert order is not None
        await repository.save(order, order.version, [], datetime.now(UTC))

    figures["save newest"] = await timed(lambda: save(newest))
    figures["save oldest"] = await timed(lambda: save(oldest))
    relay = OutboxRelay(RecordingSink(), OutboxSettings())
    relay.attach(collection)
    figures["outbox sweep, none pending"] = await timed(relay.sweep)
    say(f"    outbox sweep: {figures['outbox sweep, none pending'] * 1000:.0f} ms")
    return figures


async def run(servers: Servers) -> Results:
    client: AsyncMongoClient[Document] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    database = client[f"bench_growth_{uuid.uuid4().hex[:6]}"]
    await ensure_indexes(database, INDEXES)
    repository = MongoOrderRepository(database, OutboxRelay(RecordingSink(), OutboxSettings()))
    rng = random.Random(20261129)  # noqa: S311 - synthetic data, not secrets
    base = template()
    results: Results = {}
    stored = 0
    now = datetime.now(UTC).replace(microsecond=0)  # MongoDB keeps milliseconds
    newest: Document | None = None
    try:
        for size in SIZES:
            say(f"orders: writing history up to {size}...")
            started = time.perf_counter()
            while stored < size:
                batch = history(stored, min(BATCH, size - stored), base, rng, now)
                newest = newest or batch[0]
                await repository.collection.insert_many(batch, ordered=False)
                stored += len(batch)
                if stored % 10_000 == 0:
                    say(f"  {stored} stored ({stored / (time.perf_counter() - started):.0f}/s)")
            assert newest is not None
            say(f"  timing look-ups and writes with {size} orders...")
            results[str(size)] = await measure(repository, newest, batch[-1])
    finally:
        await client.drop_database(database.name)
        await client.close()
    return results


def report(results: Results) -> None:
    sizes = [results[str(size)] for size in SIZES]
    header = "".join(f"{size:>10} orders  x scan" for size in SIZES)
    growth = f"  {SIZES[-1]} / {SIZES[0]}" if len(SIZES) > 1 else ""
    say(f"\norder look-ups (newest 50)        {header}{growth}")
    for name in ["full_scan_s", *(name for name in sizes[0] if name != "full_scan_s")]:
        row = f"{name.removesuffix('_s').replace('_', ' '):<32}"
        for figures in sizes:
            row += f"{figures[name] * 1000:13.1f} ms {figures[name] / figures['full_scan_s']:8.2g}"
        if growth:
            row += f" {sizes[-1][name] / sizes[0][name]:11.2g}x"
        say(row)


if __name__ == "__main__":
    sys.exit(run_benchmark("growth", run, report))
