"""Two payment service replicas on one database: commands split by partition, webhook,
refund and reconciliation jobs claimed by one replica at a time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from shared.broker import BrokerSink
from shared.contracts.payments import PaymentCreated, PaymentRefunded, PaymentSucceeded
from shared.mongo import Document
from tests.payment.conftest import PaymentEvents, Restaurant, Stack, start_stack
from tests.processes import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(
    module_tmp: Path,
    kafka_bootstrap: str,
    mongodb_uri: str,
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[Stack]:
    """A first replica (it takes the webhooks) and a second one on the same database."""
    first = start_stack(
        module_tmp, kafka_bootstrap, mongodb_uri, mongo_client, PAYMENT_RECONCILE_AFTER_S="2"
    )
    second = ServiceProcess(
        "services.payment", dict(first.service.env), module_tmp / "payment-2.log"
    ).start()
    try:
        second.wait_ready()
        first.replicas.append(second)
        yield first
    finally:
        first.stop()
        second.stop_if_running()
        await mongo_client.drop_database(first.database.name)


async def test_two_replicas_charge_settle_and_refund_each_order_exactly_once(
    stack: Stack, sink: BrokerSink, payment_events: PaymentEvents
) -> None:
    restaurants = [Restaurant(stack, sink) for _ in range(3)]
    for restaurant in restaurants:
        await restaurant.onboard()
        await restaurant.control("faults", {"refund400": 1, "duplicateWebhooks": True})
    orders = [(restaurant, restaurant.order()) for restaurant in restaurants for _ in range(2)]

    for restaurant, order_id in orders:
        await restaurant.send(restaurant.request_payment(order_id))
    created = await asyncio.gather(
        *(payment_events.wait(order_id, PaymentCreated) for _, order_id in orders)
    )
    for (restaurant, _), charge in zip(orders, created, strict=True):
        await restaurant.sandbox(charge.payment_id, "confirm")
    await asyncio.gather(
        *(payment_events.wait(order_id, PaymentSucceeded) for _, order_id in orders)
    )
    for restaurant, order_id in orders:
        await restaurant.send(restaurant.request_refund(order_id))
    await asyncio.gather(
        *(payment_events.wait(order_id, PaymentRefunded, timeout=30) for _, order_id in orders)
    )

    for restaurant, order_id in orders:
        await payment_events.all_published(restaurant, order_id)
        # By event id: the outbox publishes at least once, and a record one replica had not yet
        # cleared when the other's write returned the outbox goes again (same id, skipped by
        # consumers).
        events = {m.event_id: m for m in payment_events.messages(order_id)}
        kinds = Counter(type(m).__name__ for m in events.values())
        assert kinds == Counter(
            PaymentCreated=1, PaymentSucceeded=1, RefundRequested=1, PaymentRefunded=1
        ), order_id
        assert len(await restaurant.charges(order_id)) == 1
    replicas = [stack.service, *stack.replicas]
    accepted = sum(r.metric("payment_refunds_total", outcome="accepted") for r in replicas)
    assert accepted == len(orders)
    for restaurant in restaurants:
        await restaurant.close()
