"""The order lifecycle on the real broker and server, the order service and scheduler as processes.

Each scenario plays the chatbot (orders.commands), the payment service (payments.commands and
events) and the POS (its two per-store topics) for a restaurant of its own.
"""

from __future__ import annotations

import re
import uuid

import pytest
from pymongo import AsyncMongoClient

from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PaymentInstructionsIssued,
)
from shared.contracts.payments import (
    CancelPayment,
    PaymentCancelled,
    PaymentCreated,
    PaymentFailed,
    PaymentInstructions,
    PaymentRefunded,
    PaymentSucceeded,
    RequestPayment,
    RequestRefund,
)
from shared.contracts.pos import (
    PosOrderCancelled,
    PosOrderConfirmed,
    PosOrderReceived,
    PosOrderRejected,
    PosOrderStatusUpdated,
)
from shared.contracts.scheduler import CancelTimer, ScheduleTimer
from shared.mongo import Document
from shared.processed_events import COLLECTION as PROCESSED_EVENTS
from shared.topics import (
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    PAYMENTS_EVENTS,
    SCHEDULER_COMMANDS,
    dlq_topic,
    pos_updates_topic,
)
from tests.builders import caused, now
from tests.integration.kafka_helpers import read_until
from tests.order.conftest import Restaurant
from tests.waiting import eventually

pytestmark = pytest.mark.integration


SIX_SECONDS = 0.1  # minutes


async def placed(restaurant: Restaurant, method: str = "CASH", **overrides: object) -> str:
    command = restaurant.order(method, **overrides)
    await restaurant.place(command)
    (event,) = await restaurant.messages(
        ORDERS_EVENTS, OrderPlaced, lambda e: e.command_id == command.command_id
    )
    return event.order_id


async def pay(restaurant: Restaurant, order_id: str) -> RequestPayment:
    """Plays the payment service: the charge is created, then paid."""
    (request,) = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestPayment, lambda m: m.order_id == order_id
    )
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(
            request,
            PaymentCreated,
            order_id=order_id,
            payment_id=f"pay_{order_id[:8]}",
            method=request.payment_method,
            amount_cents=request.amount_cents,
            instructions=PaymentInstructions(pix_payload="000201PIX", expires_at=now()),
        ),
    )
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(
            request,
            PaymentSucceeded,
            order_id=order_id,
            payment_id=f"pay_{order_id[:8]}",
            amount_cents=request.amount_cents,
            paid_at=now(),
        ),
    )
    return request


async def status_of(restaurant: Restaurant, order_id: str) -> tuple[str, str]:
    document = await restaurant.order_document(order_id)
    return document["status"], document["paymentStatus"]


async def test_cash_order_is_confirmed_automatically_and_sent_to_the_pos(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=False)
    order_id = await placed(restaurant)

    (received,) = await restaurant.pos_messages(PosOrderReceived)
    assert received.order_id == order_id
    assert received.awaiting_confirmation is False
    assert received.confirm_by is None
    assert received.order.status == "CONFIRMED"
    assert received.order.total_cents == 3780
    assert received.order.items[0].total_price_cents == 3780
    document = await restaurant.order_document(order_id)
    assert [entry["status"] for entry in document["statusHistory"]] == ["PENDING", "CONFIRMED"]
    assert document["statusHistory"][1]["by"] == "SYSTEM"


async def test_cash_order_is_confirmed_by_the_restaurant_and_followed_to_completion(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    order_id = await placed(restaurant)
    (received,) = await restaurant.pos_messages(PosOrderReceived)
    assert received.awaiting_confirmation is True
    assert received.confirm_by is not None

    await restaurant.pos_send(restaurant.pos_update(PosOrderConfirmed, order_id))
    for status in ("PREPARING", "READY", "DELIVERING", "DELIVERED", "COMPLETED"):
        extra = {"delivery_time": "30 minutos"} if status == "DELIVERING" else {}
        await restaurant.pos_send(
            restaurant.pos_update(PosOrderStatusUpdated, order_id, status=status, **extra)
        )
    changes = await restaurant.messages(ORDERS_EVENTS, OrderStatusChanged, count=6)
    assert [change.to_status for change in changes] == [
        "CONFIRMED",
        "PREPARING",
        "READY",
        "DELIVERING",
        "DELIVERED",
        "COMPLETED",
    ]
    assert changes[0].by == "RESTAURANT"
    assert changes[3].delivery_time == "30 minutos"
    assert all(change.correlation_id == received.correlation_id for change in changes)


async def test_online_order_is_released_to_the_pos_only_once_paid(restaurant: Restaurant) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    order_id = await placed(restaurant, "PIX")
    request = await pay(restaurant, order_id)
    assert request.amount_cents == 3780
    assert request.customer.cpf

    (instructions,) = await restaurant.messages(ORDERS_EVENTS, PaymentInstructionsIssued)
    assert instructions.pix_payload == "000201PIX"
    assert instructions.phone_number == "+5511987654321"
    (received,) = await restaurant.pos_messages(PosOrderReceived)
    assert received.order.payment_status == "PAID"
    assert received.awaiting_confirmation
    await restaurant.pos_send(restaurant.pos_update(PosOrderConfirmed, order_id))
    await eventually(
        lambda: _has_status(restaurant, order_id, ("CONFIRMED", "PAID")), what="confirmed"
    )
    (paid,) = await restaurant.messages(ORDERS_EVENTS, OrderPaymentStatusChanged)
    assert (paid.from_status, paid.to_status) == ("PENDING", "PAID")


async def _has_status(restaurant: Restaurant, order_id: str, expected: tuple[str, str]) -> bool:
    return await status_of(restaurant, order_id) == expected


async def test_cash_order_is_cancelled_at_its_confirmation_deadline(restaurant: Restaurant) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=SIX_SECONDS)
    order_id = await placed(restaurant)
    (timer,) = await restaurant.messages(SCHEDULER_COMMANDS, ScheduleTimer)
    assert timer.timer_id == f"{order_id}:confirmation"

    (cancelled,) = await restaurant.pos_messages(PosOrderCancelled, timeout=30)
    assert cancelled.reason == "CONFIRMATION_TIMEOUT"
    assert await status_of(restaurant, order_id) == ("CANCELLED", "NOT_APPLICABLE")
    document = await restaurant.order_document(order_id)
    assert document["cancellationReason"] == "CONFIRMATION_TIMEOUT"


async def test_paid_order_not_confirmed_in_time_is_cancelled_and_refunded(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(
        requiresConfirmation=True,
        autoConfirmationTimeout=0,
        refundUnconfirmedOrders=True,
        refundTimeout=SIX_SECONDS,
    )
    order_id = await placed(restaurant, "CREDIT")
    await pay(restaurant, order_id)

    (refund,) = await restaurant.messages(PAYMENTS_COMMANDS, RequestRefund, timeout=30)
    assert refund.order_id == order_id
    assert refund.reason == "CONFIRMATION_TIMEOUT"
    (cancelled,) = await restaurant.pos_messages(PosOrderCancelled)
    assert cancelled.reason == "CONFIRMATION_TIMEOUT"
    assert await status_of(restaurant, order_id) == ("CANCELLED", "REFUND_PENDING")

    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(
            refund,
            PaymentRefunded,
            order_id=order_id,
            payment_id=refund.payment_id or "p",
            amount_cents=3780,
            refunded_at=now(),
        ),
    )
    await eventually(
        lambda: _has_status(restaurant, order_id, ("REFUNDED", "REFUNDED")), what="refunded"
    )


async def test_restaurant_rejecting_a_paid_order_triggers_a_refund(restaurant: Restaurant) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    order_id = await placed(restaurant, "PIX")
    await pay(restaurant, order_id)
    await restaurant.pos_messages(PosOrderReceived)

    await restaurant.pos_send(
        restaurant.pos_update(PosOrderRejected, order_id, reason="Acabou o pão")
    )
    (refund,) = await restaurant.messages(PAYMENTS_COMMANDS, RequestRefund)
    assert refund.reason == "RESTAURANT_REJECTED"
    (change,) = await restaurant.messages(
        ORDERS_EVENTS, OrderStatusChanged, lambda c: c.to_status == "CANCELLED"
    )
    assert change.by == "RESTAURANT"
    assert change.reason == "Acabou o pão"


async def test_customer_cancels_a_pending_online_order_and_its_charge_is_deleted(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure()
    order_id = await placed(restaurant, "PIX")
    await restaurant.place(
        CancelOrder(**restaurant.envelope(), order_id=order_id, reason="Desisti")
    )
    (cancel,) = await restaurant.messages(PAYMENTS_COMMANDS, CancelPayment)
    assert cancel.order_id == order_id
    (change,) = await restaurant.messages(
        ORDERS_EVENTS, OrderStatusChanged, lambda c: c.to_status == "CANCELLED"
    )
    assert change.by == "CUSTOMER"
    assert change.reason_code == "CUSTOMER_CANCELLED"
    (unscheduled,) = await restaurant.messages(SCHEDULER_COMMANDS, CancelTimer)
    assert unscheduled.timer_id == f"{order_id}:payment"

    # The payment service deleted the charge: nothing is owed.
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(cancel, PaymentCancelled, order_id=order_id, payment_id=f"pay_{order_id[:8]}"),
    )
    await eventually(
        lambda: _has_status(restaurant, order_id, ("CANCELLED", "CANCELLED")),
        what="the payment of the cancelled order is CANCELLED",
    )
    (told,) = await restaurant.messages(
        ORDERS_EVENTS, OrderPaymentStatusChanged, lambda m: m.order_id == order_id
    )
    assert (told.from_status, told.to_status, told.order_number) == ("PENDING", "CANCELLED", 1)


async def test_a_confirmed_orders_confirmation_deadline_is_cleared_and_its_timer_cancelled(
    restaurant: Restaurant, mongo_client: AsyncMongoClient[Document], order_database: str
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    order_id = await placed(restaurant)
    (timer,) = await restaurant.messages(SCHEDULER_COMMANDS, ScheduleTimer)
    assert (await restaurant.order_document(order_id))["confirmationTimeout"] is not None

    await restaurant.pos_send(restaurant.pos_update(PosOrderConfirmed, order_id))

    (cancel,) = await restaurant.messages(SCHEDULER_COMMANDS, CancelTimer)
    assert cancel.timer_id == timer.timer_id == f"{order_id}:confirmation"
    document = await restaurant.order_document(order_id)
    assert (document["status"], document["confirmationTimeout"]) == ("CONFIRMED", None)
    database = mongo_client[order_database]
    stored = await database["orders"].find_one({"_id": order_id})
    assert stored is not None
    assert stored["deadlines"] == {"payment": None, "confirmation": None}

    async def buried() -> bool:  # the scheduler's tombstone: the timer will not fire
        name = {"$regex": f"^{re.escape(timer.timer_id)}@"}
        return await database["timers_done"].find_one({"_id": name}) is not None

    await eventually(buried, what="the scheduler cancelled the confirmation timer")


async def test_customer_cannot_cancel_a_confirmed_order(restaurant: Restaurant) -> None:
    await restaurant.configure(requiresConfirmation=False)
    order_id = await placed(restaurant)
    await restaurant.pos_messages(PosOrderReceived)
    await restaurant.place(CancelOrder(**restaurant.envelope(), order_id=order_id))
    (rejected,) = await restaurant.messages(ORDERS_EVENTS, OrderRejected)
    assert rejected.reason_code == "CANCELLATION_NOT_ALLOWED"
    assert rejected.order_id == order_id
    assert await status_of(restaurant, order_id) == ("CONFIRMED", "NOT_APPLICABLE")


async def test_payment_arriving_after_cancellation_is_refunded(restaurant: Restaurant) -> None:
    await restaurant.configure()
    order_id = await placed(restaurant, "PIX")
    await restaurant.place(CancelOrder(**restaurant.envelope(), order_id=order_id))
    await restaurant.messages(PAYMENTS_COMMANDS, CancelPayment)
    await pay(restaurant, order_id)

    (refund,) = await restaurant.messages(PAYMENTS_COMMANDS, RequestRefund)
    assert refund.reason == "PAID_AFTER_CANCELLATION"
    assert await status_of(restaurant, order_id) == ("CANCELLED", "REFUND_PENDING")
    told = await restaurant.messages(
        ORDERS_EVENTS, OrderPaymentStatusChanged, lambda m: m.order_id == order_id, count=2
    )
    assert [(m.from_status, m.to_status) for m in told] == [
        ("PENDING", "PAID"),
        ("PAID", "REFUND_PENDING"),
    ]


async def test_late_pos_confirmation_is_refused_and_answered_already_cancelled(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=SIX_SECONDS)
    order_id = await placed(restaurant)
    await restaurant.pos_messages(PosOrderCancelled, timeout=30)

    await restaurant.pos_send(restaurant.pos_update(PosOrderConfirmed, order_id))
    cancelled = await restaurant.pos_messages(PosOrderCancelled, count=2)
    assert [c.reason for c in cancelled] == ["CONFIRMATION_TIMEOUT", "ALREADY_CANCELLED"]
    assert await status_of(restaurant, order_id) == ("CANCELLED", "NOT_APPLICABLE")


async def test_pos_update_for_another_stores_order_is_dead_lettered(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    order_id = await placed(restaurant)
    await restaurant.pos_messages(PosOrderReceived)
    other_store = "s2"
    await restaurant.configure()  # same restaurant, store s1 only
    update = restaurant.pos_update(PosOrderConfirmed, order_id)
    restaurant.store_id = other_store
    await restaurant.configure()
    await restaurant.pos_send(update)

    topic = pos_updates_topic(restaurant.client_id, other_store)
    dead = await read_until(
        restaurant.bootstrap,
        dlq_topic(topic),
        lambda records: any(str(update.event_id).encode() in r.value for r in records),
        timeout=30,
    )
    assert any(b"does not belong" in dict(r.headers)["dlq-error"] for r in dead)
    restaurant.store_id = "s1"
    assert await status_of(restaurant, order_id) == ("PENDING", "NOT_APPLICABLE")


async def test_same_command_twice_gives_one_order_one_number_and_no_processed_records(
    restaurant: Restaurant, mongo_client: AsyncMongoClient[Document], order_database: str
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    command = restaurant.order()
    await restaurant.place(command)
    await restaurant.place(command.model_copy(update={"event_id": uuid.uuid4()}))
    await restaurant.place(command)
    (received,) = await restaurant.pos_messages(PosOrderReceived)
    confirmed = restaurant.pos_update(PosOrderConfirmed, received.order_id)
    await restaurant.pos_send(confirmed)
    await restaurant.messages(
        ORDERS_EVENTS, OrderStatusChanged, lambda e: e.to_status == "CONFIRMED"
    )
    await restaurant.place(command)  # again once its order has moved on
    # Commands of one restaurant are handled in order: once a later one is done, so are these.
    marker = restaurant.order()
    await restaurant.place(marker)
    await restaurant.messages(
        ORDERS_EVENTS, OrderPlaced, lambda e: e.command_id == marker.command_id
    )

    placed_events = await restaurant.messages(ORDERS_EVENTS, OrderPlaced, count=2)
    assert [event.command_id for event in placed_events] == [command.command_id, marker.command_id]
    assert [event.order_number for event in placed_events] == [1, 2]  # no repeat took one
    response = await restaurant.http.get(
        f"/stores/{restaurant.client_id}/{restaurant.store_id}/orders"
    )
    assert len(response.json()["orders"]) == 2
    shown = await restaurant.order_document(received.order_id)
    assert shown["status"] == "CONFIRMED"
    assert "handledEvents" not in shown  # the service's bookkeeping, not the order's
    # Each took itself once, with no processed-event record: the PlaceOrder by its insert, the
    # POS's confirmation by the order's write, which recorded it in the order.
    database = mongo_client[order_database]
    stored = await database["orders"].find_one({"_id": received.order_id})
    assert stored is not None
    pos_topic = pos_updates_topic(restaurant.client_id, restaurant.store_id)
    assert stored["handledEvents"] == [f"order-pos@{pos_topic}|{confirmed.event_id}"]
    # Under any consumer's name: `<consumer>|<eventId>`.
    these = {"_id": {"$regex": f"\\|({command.event_id}|{confirmed.event_id})$"}}
    assert await database[PROCESSED_EVENTS].count_documents(these) == 0


async def test_a_failed_pix_payment_switched_to_card_is_charged_anew_and_the_old_charge_refunded(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=False, paymentTimeout=10)
    order_id = await placed(restaurant, "PIX")
    (first,) = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestPayment, lambda m: m.order_id == order_id
    )
    old = {"order_id": order_id, "payment_id": "pay_old", "attempt": 1}
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(first, PaymentCreated, **old, method="PIX", amount_cents=first.amount_cents,
               instructions=PaymentInstructions(pix_payload="000201PIX", expires_at=now())),
    )  # fmt: skip
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(first, PaymentFailed, **old, reason="PAYMENT_OVERDUE", message="expired"),
    )
    (failed,) = await restaurant.messages(
        ORDERS_EVENTS, OrderPaymentStatusChanged, lambda e: e.to_status == "FAILED"
    )
    assert await status_of(restaurant, order_id) == ("PENDING", "FAILED")

    switch = ChangePaymentMethod(
        **restaurant.envelope(), order_id=order_id, payment_method="CREDIT"
    )
    await restaurant.place(switch)
    await restaurant.place(switch)  # delivered twice: switches once
    (second,) = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestPayment, lambda m: m.order_id == order_id and m.attempt == 2
    )
    assert (second.payment_method, second.amount_cents) == ("CREDIT", first.amount_cents)
    assert second.correlation_id == switch.correlation_id
    (deletion,) = await restaurant.messages(
        PAYMENTS_COMMANDS, CancelPayment, lambda m: m.order_id == order_id
    )
    assert (deletion.attempt, deletion.payment_id) == (1, "pay_old")

    # The old PIX is paid after all, late: the money goes back, the order follows the card.
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(first, PaymentSucceeded, **old, amount_cents=first.amount_cents, paid_at=now()),
    )
    (refund,) = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestRefund, lambda m: m.order_id == order_id
    )
    assert (refund.attempt, refund.payment_id, refund.reason) == (
        1, "pay_old", "PAID_AFTER_METHOD_CHANGE"
    )  # fmt: skip
    assert await status_of(restaurant, order_id) == ("PENDING", "PENDING")

    new = {"order_id": order_id, "payment_id": "pay_new", "attempt": 2}
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(second, PaymentCreated, **new, method="CREDIT", amount_cents=second.amount_cents,
               instructions=PaymentInstructions(invoice_url="https://pay.test/i/new")),
    )  # fmt: skip
    await restaurant.send(
        PAYMENTS_EVENTS,
        caused(second, PaymentSucceeded, **new, amount_cents=second.amount_cents, paid_at=now()),
    )
    (received,) = await restaurant.pos_messages(PosOrderReceived)
    assert (received.order.payment_method, received.order.payment_status) == ("CREDIT", "PAID")
    assert await status_of(restaurant, order_id) == ("CONFIRMED", "PAID")
    requests = await restaurant.messages(
        PAYMENTS_COMMANDS, RequestPayment, lambda m: m.order_id == order_id, count=2
    )
    assert [request.attempt for request in requests] == [1, 2]
    statuses = await restaurant.messages(
        ORDERS_EVENTS, OrderPaymentStatusChanged, lambda e: e.order_id == order_id, count=3
    )
    assert [(e.to_status, e.payment_method) for e in statuses] == [
        ("FAILED", "PIX"), ("PENDING", "CREDIT"), ("PAID", "CREDIT")
    ]  # fmt: skip
    assert failed.order_number == received.order.order_number


async def test_a_switch_to_cash_goes_to_the_pos_and_a_later_switch_is_refused(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(
        requiresConfirmation=True,
        autoConfirmationTimeout=30,
        acceptedPaymentMethods=["PIX", "CASH"],
    )
    order_id = await placed(restaurant, "PIX")
    refused_card = ChangePaymentMethod(
        **restaurant.envelope(), order_id=order_id, payment_method="DEBIT"
    )
    await restaurant.place(refused_card)
    to_cash = ChangePaymentMethod(**restaurant.envelope(), order_id=order_id, payment_method="CASH")
    await restaurant.place(to_cash)

    (received,) = await restaurant.pos_messages(PosOrderReceived)
    assert (received.awaiting_confirmation, received.order.payment_method) == (True, "CASH")
    assert await status_of(restaurant, order_id) == ("PENDING", "NOT_APPLICABLE")
    timers = await restaurant.messages(
        SCHEDULER_COMMANDS, CancelTimer, lambda m: m.timer_id == f"{order_id}:payment"
    )
    assert len(timers) == 1
    back_to_pix = ChangePaymentMethod(
        **restaurant.envelope(), order_id=order_id, payment_method="PIX"
    )
    await restaurant.place(back_to_pix)
    refusals = await restaurant.messages(
        ORDERS_EVENTS, OrderRejected, lambda e: e.order_id == order_id, count=2
    )
    assert [(r.causation_id, r.reason_code) for r in refusals] == [
        (str(refused_card.event_id), "PAYMENT_METHOD_NOT_ACCEPTED"),
        (str(back_to_pix.event_id), "ALREADY_RELEASED"),
    ]
    assert refusals[1].phone_number == received.order.phone_number
