"""The order service's money audit on the real MongoDB-protocol server: orders cancelled but
still paid and refunds never answered get their refund asked for again, refunds unanswered too
long and paid orders their POS never got are reported, and healthy orders beside them are left
alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from services.order.adapters import mongo_order_repository
from services.order.adapters.in_memory import (
    InMemoryOrderNumbers,
    InMemoryStoreConfigRepository,
    InMemoryStoreTopics,
)
from services.order.adapters.mongo_order_repository import MongoOrderRepository
from services.order.audit import (
    CANCELLED_BUT_PAID,
    PAID_NOT_RELEASED,
    REFUND_NEVER_ANSWERED,
    REFUND_UNANSWERED,
    OrderAudit,
)
from services.order.config import AuditSettings
from services.order.domain.order import Order
from services.order.service import OrderService
from shared.audit import Finding
from shared.contracts.payments import RequestRefund
from shared.contracts.values import OrderStatus, PaymentStatus
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.settings import OutboxSettings
from shared.topics import PAYMENTS_COMMANDS
from tests.order.test_repositories import T0, an_order
from tests.sinks import RecordingSink, messages, sent

GRACE = timedelta(minutes=5)
ASK_AGAIN = timedelta(minutes=15)
ANSWER_MAX = timedelta(minutes=45)
NOW = T0 + timedelta(hours=1)


@dataclass
class World:
    orders: MongoOrderRepository
    audit: OrderAudit
    sink: RecordingSink

    async def seed(
        self,
        order_id: str,
        status: OrderStatus,
        payment: PaymentStatus,
        changed: timedelta = GRACE * 2,
        **fields: Any,
    ) -> None:
        """An online order placed at T0 and last changed `changed` before NOW."""
        order = an_order(
            order_id,
            method="PIX",
            status=status,
            payment_status=payment,
            updated_at=NOW - changed,
            payment_id=f"pay_{order_id}",
            **fields,
        )
        assert await self.orders.add(order, [], T0)

    async def order(self, order_id: str) -> Order:
        found = await self.orders.get(order_id)
        assert found is not None
        return found


@pytest.fixture
async def world(database: Database) -> World:
    await ensure_indexes(database, mongo_order_repository.INDEXES)
    sink = RecordingSink()
    orders = MongoOrderRepository(database, OutboxRelay(sink, OutboxSettings()))
    service = OrderService(
        orders,
        InMemoryStoreConfigRepository(sink),
        numbers=InMemoryOrderNumbers(),
        sink=sink,
        store_topics=InMemoryStoreTopics(),
        clock=lambda: NOW,
    )
    settings = AuditSettings(
        grace_s=GRACE.total_seconds(),
        refund_ask_again_s=ASK_AGAIN.total_seconds(),
        refund_answer_max_s=ANSWER_MAX.total_seconds(),
    )
    return World(orders, OrderAudit(orders, service, settings, lambda: NOW), sink)


async def test_a_cancelled_order_still_paid_gets_its_refund_asked_for_again(world: World) -> None:
    await world.seed("stranded", OrderStatus.CANCELLED, PaymentStatus.PAID)
    await world.seed("refunding", OrderStatus.CANCELLED, PaymentStatus.REFUND_PENDING)
    await world.seed("refunded", OrderStatus.REFUNDED, PaymentStatus.REFUNDED)
    await world.seed("just-now", OrderStatus.CANCELLED, PaymentStatus.PAID, changed=GRACE / 2)

    findings = await world.audit.run_pass()

    assert findings == [Finding(CANCELLED_BUT_PAID, "stranded", repaired=True)]
    assert (await world.order("stranded")).payment_status is PaymentStatus.REFUND_PENDING
    refunds = messages(world.sink.records, RequestRefund)
    assert [(refund.order_id, refund.payment_id) for refund in refunds] == [
        ("stranded", "pay_stranded")
    ]
    assert (PAYMENTS_COMMANDS, "RequestRefund") in sent(world.sink.records)
    assert (await world.order("just-now")).payment_status is PaymentStatus.PAID
    assert await world.audit.run_pass() == []  # repaired: not found again


async def test_a_paid_order_its_pos_never_got_is_reported_and_released_ones_are_not(
    world: World,
) -> None:
    await world.seed("unreleased", OrderStatus.PENDING, PaymentStatus.PAID)
    await world.seed(
        "awaiting-confirmation",
        OrderStatus.PENDING,
        PaymentStatus.PAID,
        released_to_pos_at=NOW - GRACE * 2,
    )
    await world.seed(
        "confirmed", OrderStatus.CONFIRMED, PaymentStatus.PAID, released_to_pos_at=NOW - GRACE
    )
    await world.seed("unpaid", OrderStatus.PENDING, PaymentStatus.PENDING)

    findings = await world.audit.run_pass()

    assert findings == [Finding(PAID_NOT_RELEASED, "unreleased")]
    assert world.sink.records == []  # reported, not acted on


async def test_a_refund_never_answered_is_asked_for_again_then_reported(world: World) -> None:
    def refund_asked(ago: timedelta, **fields: Any) -> dict[str, Any]:
        return {"refund_asked_at": NOW - ago, **fields}

    refunding = (OrderStatus.CANCELLED, PaymentStatus.REFUND_PENDING)
    await world.seed("unanswered", *refunding, **refund_asked(ASK_AGAIN + GRACE))
    await world.seed("never-answered", *refunding, **refund_asked(ANSWER_MAX + GRACE))
    await world.seed("just-asked", *refunding, **refund_asked(ASK_AGAIN - GRACE))
    await world.seed(
        "asked-again-lately",
        *refunding,
        **refund_asked(ASK_AGAIN * 2, refund_asked_again_at=NOW - ASK_AGAIN + GRACE),
    )
    await world.seed(
        "accepted",
        *refunding,
        **refund_asked(ASK_AGAIN * 2, refund_answered_at=NOW - ASK_AGAIN),
    )
    await world.seed("begun-on-asaas", *refunding)  # never asked by the order
    await world.seed(
        "refunded",
        OrderStatus.REFUNDED,
        PaymentStatus.REFUNDED,
        **refund_asked(ANSWER_MAX + GRACE),
    )

    findings = await world.audit.run_pass()

    assert set(findings) == {
        Finding(REFUND_UNANSWERED, "unanswered", repaired=True),
        Finding(REFUND_NEVER_ANSWERED, "never-answered"),
    }
    refunds = messages(world.sink.records, RequestRefund)
    assert [(refund.order_id, refund.payment_id) for refund in refunds] == [
        ("unanswered", "pay_unanswered")
    ]
    asked_again = await world.order("unanswered")
    assert asked_again.refund_asked_again_at == NOW
    assert asked_again.payment_status is PaymentStatus.REFUND_PENDING
    # Asked again just now: not again before its bound; the one reported stays reported.
    assert await world.audit.run_pass() == [Finding(REFUND_NEVER_ANSWERED, "never-answered")]
