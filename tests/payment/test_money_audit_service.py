"""The payment service's money audit as it runs, a real process on the real broker and server:
a paid charge whose order cancelled it, its refund never started (as a record written before
the refund rule, or a lost step, leaves it), is refunded on Asaas by the audit alone."""

from __future__ import annotations

import pytest

from services.payment.adapters.mongo import PAYMENTS
from shared.contracts.payments import PaymentCreated, PaymentRefunded, PaymentSucceeded
from tests.payment.conftest import PaymentEvents, Restaurant, Stack, stack_fixture

pytestmark = pytest.mark.integration

stack = stack_fixture(PAYMENT_AUDIT_INTERVAL_S="0.5")


async def paid(restaurant: Restaurant, events: PaymentEvents) -> PaymentCreated:
    order_id = restaurant.order()
    await restaurant.send(restaurant.request_payment(order_id))
    created = await events.wait(order_id, PaymentCreated)
    await restaurant.sandbox(created.payment_id, "confirm")
    await events.wait(order_id, PaymentSucceeded)
    return created


async def test_a_paid_charge_its_order_cancelled_is_refunded_by_the_audit_and_a_wanted_one_is_not(
    restaurant: Restaurant, payment_events: PaymentEvents, stack: Stack
) -> None:
    stranded = await paid(restaurant, payment_events)
    kept = await paid(restaurant, payment_events)
    # Unwanted and still PAID: what CancelPayment's marking leaves when its refund is lost.
    marked = await stack.database[PAYMENTS].update_one(
        {"_id": f"{restaurant.client_id}:{stranded.order_id}"},
        {"$set": {"unwanted": True}, "$inc": {"version": 1}},
    )
    assert marked.modified_count == 1

    refunded = await payment_events.wait(stranded.order_id, PaymentRefunded, timeout=20)

    assert refunded.payment_id == stranded.payment_id
    assert (await restaurant.charge(stranded.payment_id))["status"] == "REFUNDED"
    assert stack.service.metric("money_audit_repairs_total", kind="unwanted_but_paid") == 1
    log = stack.service.log_path.read_text()
    assert f"money audit: order {stranded.order_id} unwanted_but_paid; repaired" in log
    await payment_events.all_published(restaurant, kept.order_id)
    assert payment_events.of(kept.order_id, PaymentRefunded) == []
    assert (await restaurant.charge(kept.payment_id))["status"] != "REFUNDED"
    assert [charge for charge, _ in await restaurant.refund_requests()] == [stranded.payment_id]
