"""The order service's money audit as it runs, a real process on the real broker and server:
a cancelled order still PAID (its refund never asked, as a lost step leaves it) gets its refund
asked for on `payments.commands`, and so does one whose refund request was dead-lettered; a
paid order its POS never got, and a refund unanswered for hours, are reported."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.order.adapters.mongo_order_repository import COLLECTION, to_document
from shared.contracts.payments import RequestRefund
from shared.contracts.values import OrderStatus, PaymentStatus
from shared.mongo import Document
from shared.topics import PAYMENTS_COMMANDS
from tests.order.conftest import Restaurant, system_fixture
from tests.order.test_repositories import an_order
from tests.processes import ServiceProcess
from tests.waiting import eventually

pytestmark = pytest.mark.integration

system = system_fixture(
    ORDER_AUDIT_INTERVAL_S="0.5",
    ORDER_AUDIT_GRACE_S="60",
    ORDER_AUDIT_REFUND_ASK_AGAIN_S="60",
    ORDER_AUDIT_REFUND_ANSWER_MAX_S="7200",
)


async def seeded(
    restaurant: Restaurant, orders: Any, name: str, at: datetime, **fields: Any
) -> str:
    """Stores as is an online order of the restaurant placed and last changed `at`; its id."""
    order = an_order(
        f"{restaurant.client_id}-{name}",
        method="PIX",
        client_id=restaurant.client_id,
        store_id=restaurant.store_id,
        payment_id=f"pay_{name}",
        created_at=at,
        updated_at=at,
        **fields,
    )
    await orders.insert_one(to_document(order))
    return order.order_id


async def repaired_and_reported(
    service: ServiceProcess, repaired: str, *, reported: tuple[str, str]
) -> None:
    """One repair of kind `repaired` counted; the order `reported` names found as its kind, in
    the gauge and in a log line."""
    kind, order_id = reported
    assert service.metric("money_audit_repairs_total", kind=repaired) == 1
    await eventually(
        lambda: service.metric("money_audit_findings", kind=kind) == 1, what=f"{kind} reported"
    )
    assert f"money audit: order {order_id} {kind}; someone must act" in service.log_path.read_text()


async def test_a_cancelled_order_still_paid_is_refunded_and_an_unreleased_paid_one_reported(
    restaurant: Restaurant,
    system: dict[str, ServiceProcess],
    mongo_client: AsyncMongoClient[Document],
    order_database: str,
) -> None:
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    orders = mongo_client[order_database][COLLECTION]
    seeded_ids = {}
    for name, status in [("stranded", OrderStatus.CANCELLED), ("unreleased", OrderStatus.PENDING)]:
        seeded_ids[name] = await seeded(
            restaurant, orders, name, an_hour_ago, status=status, payment_status=PaymentStatus.PAID
        )
    order_service = system["order"]

    [refund] = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestRefund, lambda refund: refund.order_id == seeded_ids["stranded"]
    )

    assert refund.payment_id == "pay_stranded"
    stranded = await restaurant.order_document(seeded_ids["stranded"])
    assert stranded["paymentStatus"] == PaymentStatus.REFUND_PENDING
    unreleased_id = seeded_ids["unreleased"]
    await repaired_and_reported(
        order_service, "cancelled_but_paid", reported=("paid_not_released", unreleased_id)
    )
    unreleased = await restaurant.order_document(unreleased_id)
    assert unreleased["paymentStatus"] == PaymentStatus.PAID  # reported, not acted on


async def test_a_refund_request_dead_lettered_is_sent_again_and_one_unanswered_for_hours_reported(
    restaurant: Restaurant,
    system: dict[str, ServiceProcess],
    mongo_client: AsyncMongoClient[Document],
    order_database: str,
) -> None:
    started_at = time.time()
    now = datetime.now(UTC).replace(microsecond=0)
    orders = mongo_client[order_database][COLLECTION]
    seeded_ids = {}
    # Asked once (the request then dead-lettered), and asked longer ago than the answer's bound.
    asked = {"dead-lettered": now - timedelta(hours=1), "unanswered": now - timedelta(hours=3)}
    for name, asked_at in asked.items():
        seeded_ids[name] = await seeded(
            restaurant,
            orders,
            name,
            asked_at,
            status=OrderStatus.CANCELLED,
            payment_status=PaymentStatus.REFUND_PENDING,
            refund_asked_at=asked_at,
        )
    order_service = system["order"]

    [again] = await restaurant.messages(
        PAYMENTS_COMMANDS,
        RequestRefund,
        lambda refund: refund.order_id == seeded_ids["dead-lettered"],
    )

    assert (again.payment_id, again.attempt) == ("pay_dead-lettered", 1)
    await repaired_and_reported(
        order_service,
        "refund_unanswered",
        reported=("refund_never_answered", seeded_ids["unanswered"]),
    )
    await eventually(
        lambda: order_service.metric("money_audit_last_pass_timestamp_seconds") > started_at,
        what="a pass completed since the test began",
    )
