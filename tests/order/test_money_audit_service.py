"""The order service's money audit as it runs, a real process on the real broker and server:
a cancelled order still PAID (its refund never asked, as a lost step leaves it) gets its refund
asked for on `payments.commands`, and so does one whose refund request was dead-lettered; a
paid order its POS never got, and a refund unanswered for hours, are reported."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

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


async def test_a_cancelled_order_still_paid_is_refunded_and_an_unreleased_paid_one_reported(
    restaurant: Restaurant,
    system: dict[str, ServiceProcess],
    mongo_client: AsyncMongoClient[Document],
    order_database: str,
) -> None:
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    orders = mongo_client[order_database][COLLECTION]
    seeded = {}
    for name, status in [("stranded", OrderStatus.CANCELLED), ("unreleased", OrderStatus.PENDING)]:
        order = an_order(
            f"{restaurant.client_id}-{name}",
            method="PIX",
            client_id=restaurant.client_id,
            store_id=restaurant.store_id,
            status=status,
            payment_status=PaymentStatus.PAID,
            payment_id=f"pay_{name}",
            created_at=an_hour_ago,
            updated_at=an_hour_ago,
        )
        await orders.insert_one(to_document(order))
        seeded[name] = order.order_id
    order_service = system["order"]

    [refund] = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestRefund, lambda refund: refund.order_id == seeded["stranded"]
    )

    assert refund.payment_id == "pay_stranded"
    stranded = await restaurant.order_document(seeded["stranded"])
    assert stranded["paymentStatus"] == PaymentStatus.REFUND_PENDING
    assert order_service.metric("money_audit_repairs_total", kind="cancelled_but_paid") == 1
    await eventually(
        lambda: order_service.metric("money_audit_findings", kind="paid_not_released") == 1,
        what="the unreleased paid order reported",
    )
    log = order_service.log_path.read_text()
    assert f"money audit: order {seeded['unreleased']} paid_not_released; someone must act" in log
    unreleased = await restaurant.order_document(seeded["unreleased"])
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
    seeded = {}
    # Asked once (the request then dead-lettered), and asked longer ago than the answer's bound.
    asked = {"dead-lettered": timedelta(hours=1), "unanswered": timedelta(hours=3)}
    for name, asked_ago in asked.items():
        order = an_order(
            f"{restaurant.client_id}-{name}",
            method="PIX",
            client_id=restaurant.client_id,
            store_id=restaurant.store_id,
            status=OrderStatus.CANCELLED,
            payment_status=PaymentStatus.REFUND_PENDING,
            payment_id=f"pay_{name}",
            created_at=now - asked_ago,
            updated_at=now - asked_ago,
            refund_asked_at=now - asked_ago,
        )
        await orders.insert_one(to_document(order))
        seeded[name] = order.order_id
    order_service = system["order"]

    [again] = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestRefund, lambda refund: refund.order_id == seeded["dead-lettered"]
    )

    assert (again.payment_id, again.attempt) == ("pay_dead-lettered", 1)
    assert order_service.metric("money_audit_repairs_total", kind="refund_unanswered") == 1
    await eventually(
        lambda: order_service.metric("money_audit_findings", kind="refund_never_answered") == 1,
        what="the refund unanswered for hours reported",
    )
    log = order_service.log_path.read_text()
    assert f"money audit: order {seeded['unanswered']} refund_never_answered; someone must" in log
    await eventually(
        lambda: order_service.metric("money_audit_last_pass_timestamp_seconds") > started_at,
        what="a pass completed since the test began",
    )
