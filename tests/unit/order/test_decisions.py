"""The order decisions, pure: what each command and event does to an order and what it emits."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.order.domain import decisions
from services.order.domain.change import Cause, OrderDecision
from services.order.domain.errors import InvalidTransition, OrderError
from services.order.domain.order import Deadlines, Order
from services.order.outgoing import topic_of
from shared.contracts.orders import (
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderStatusChanged,
    PaymentInstructionsIssued,
)
from shared.contracts.payments import (
    CancelPayment,
    PaymentCancelled,
    PaymentCreated,
    PaymentInstructions,
    PaymentRefunded,
    PaymentSucceeded,
    RefundFailed,
    RefundRequested,
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
from shared.contracts.scheduler import CancelTimer, ScheduleTimer, TimerFired, TimerPurpose
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import PosStatus
from tests.builders import envelope, pos_update
from tests.unit.order.test_validation import command

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def cause(minutes: float = 0) -> Cause:
    return Cause("turn-1", str(uuid.uuid4()), T0 + timedelta(minutes=minutes), uuid.uuid4)


def types(decision: OrderDecision) -> list[str]:
    return [message.event_type for message in decision.events]


def config(**fields: Any) -> StoreOrderConfig:
    return StoreOrderConfig(client_id="rest-1", store_id="store-1", **fields)


def placed(method: str = "CASH", **fields: Any) -> OrderDecision:
    return decisions.place(command(method), config(**fields), "order-1", cause(), order_number=7)


def envelope_at(minutes: float) -> dict[str, Any]:
    """The envelope of a message `minutes` after T0."""
    return envelope(occurred_at=T0 + timedelta(minutes=minutes))


def succeeded(order: Order, minutes: float = 1) -> OrderDecision:
    event = PaymentSucceeded(
        **envelope_at(minutes), order_id=order.order_id, payment_id="pay_1", amount_cents=2620,
        paid_at=T0,
    )  # fmt: skip
    return decisions.on_payment_event(order, event, cause(minutes))


def fired(order: Order, purpose: TimerPurpose, minutes: float) -> OrderDecision:
    event = TimerFired(
        **envelope_at(minutes), timer_id="t", purpose=purpose, order_id=order.order_id,
        due_at=T0, fired_at=T0,
    )  # fmt: skip
    return decisions.on_timer_fired(order, event, cause(minutes))


def pos(order: Order, update: Any, minutes: float = 2) -> OrderDecision:
    return decisions.on_pos_update(order, update, T0 + timedelta(minutes=minutes), uuid.uuid4)


def pos_confirmed(order: Order) -> PosOrderConfirmed:
    return pos_update(PosOrderConfirmed, order.order_id, occurred_at=T0)


def test_cash_order_without_confirmation_goes_to_the_pos_confirmed() -> None:
    decision = placed(requires_confirmation=False)
    assert types(decision) == ["OrderPlaced", "OrderStatusChanged", "PosOrderReceived"]
    assert decision.state.status == "CONFIRMED"
    received = decision.events[-1]
    assert isinstance(received, PosOrderReceived)
    assert received.awaiting_confirmation is False
    assert topic_of(decision.events[-1]) == "pos.rest-1.store-1.orders"


def test_cash_order_awaiting_confirmation_gets_a_deadline() -> None:
    decision = placed(requires_confirmation=True, auto_confirmation_timeout=10)
    assert types(decision) == ["OrderPlaced", "ScheduleTimer", "PosOrderReceived"]
    timer = decision.events[1]
    assert isinstance(timer, ScheduleTimer)
    assert timer.due_at == T0 + timedelta(minutes=10)
    assert timer.timer_id == "order-1:confirmation"
    assert decision.state.confirmation_timeout == timer.due_at


def test_cash_order_with_no_timeout_waits_without_a_deadline() -> None:
    decision = placed(requires_confirmation=True, auto_confirmation_timeout=0)
    assert types(decision) == ["OrderPlaced", "PosOrderReceived"]


def test_online_order_asks_for_payment_and_waits_for_it_before_the_kitchen() -> None:
    decision = placed("PIX", payment_timeout=15)
    assert types(decision) == ["OrderPlaced", "RequestPayment", "ScheduleTimer"]
    request = decision.events[1]
    assert isinstance(request, RequestPayment)
    assert request.amount_cents == 2620
    assert decision.state.deadlines.payment == T0 + timedelta(minutes=15)
    assert decision.state.released_to_pos_at is None


def test_paid_online_order_deadline_is_the_earliest_of_confirmation_and_refund() -> None:
    order = placed(
        "PIX", requires_confirmation=True, auto_confirmation_timeout=30, refund_timeout=20
    ).state
    decision = succeeded(order)
    assert types(decision) == [
        "OrderPaymentStatusChanged", "CancelTimer", "ScheduleTimer", "PosOrderReceived"
    ]  # fmt: skip
    assert decision.state.confirmation_timeout == T0 + timedelta(minutes=21)
    assert decision.state.payment_status == "PAID"


def test_a_payment_confirmed_twice_changes_nothing_the_second_time() -> None:
    order = succeeded(placed("PIX").state).state
    assert succeeded(order).unchanged


def test_payment_deadline_cancels_an_unpaid_order_and_deletes_its_charge() -> None:
    order = placed("PIX").state
    decision = fired(order, TimerPurpose.PAYMENT_DEADLINE, 16)
    assert types(decision) == ["OrderStatusChanged", "CancelPayment"]
    assert decision.state.cancellation_reason == "PAYMENT_TIMEOUT"


def test_payment_deadline_of_a_paid_order_does_nothing() -> None:
    order = succeeded(placed("PIX").state).state
    assert fired(order, TimerPurpose.PAYMENT_DEADLINE, 16).unchanged


def test_confirmation_deadline_of_a_paid_order_cancels_refunds_and_tells_the_pos() -> None:
    order = succeeded(placed("PIX", requires_confirmation=True).state).state
    decision = fired(order, TimerPurpose.CONFIRMATION_DEADLINE, 61)
    assert types(decision) == [
        "OrderStatusChanged", "PosOrderCancelled", "OrderPaymentStatusChanged", "RequestRefund"
    ]  # fmt: skip
    assert decision.state.payment_status == "REFUND_PENDING"
    refund = decision.events[-1]
    assert isinstance(refund, RequestRefund)
    assert refund.payment_id == "pay_1"


def test_payment_after_cancellation_is_refunded_at_once() -> None:
    cancelled = fired(placed("PIX").state, TimerPurpose.PAYMENT_DEADLINE, 16).state
    decision = succeeded(cancelled, 17)
    assert types(decision) == [
        "OrderPaymentStatusChanged", "OrderPaymentStatusChanged", "RequestRefund"
    ]  # fmt: skip
    assert decision.state.status == "CANCELLED"
    assert decision.state.payment_status == "REFUND_PENDING"


def test_charge_created_for_an_order_already_cancelled_is_deleted() -> None:
    cancelled = fired(placed("PIX").state, TimerPurpose.PAYMENT_DEADLINE, 16).state
    created = PaymentCreated(
        **envelope_at(17), order_id="order-1", payment_id="pay_9", method="PIX", amount_cents=2620,
        instructions=PaymentInstructions(pix_payload="000201"),
    )  # fmt: skip
    decision = decisions.on_payment_event(cancelled, created, cause(17))
    assert types(decision) == ["CancelPayment"]
    message = decision.events[0]
    assert isinstance(message, CancelPayment)
    assert message.payment_id == "pay_9"


def test_refund_completed_ends_the_order_refunded() -> None:
    order = fired(
        succeeded(placed("PIX", requires_confirmation=True).state).state,
        TimerPurpose.CONFIRMATION_DEADLINE,
        61,
    ).state
    refunded = PaymentRefunded(
        **envelope_at(70), order_id="order-1", payment_id="pay_1", amount_cents=2620, refunded_at=T0
    )
    decision = decisions.on_payment_event(order, refunded, cause(70))
    assert (decision.state.status, decision.state.payment_status) == ("REFUNDED", "REFUNDED")
    assert decisions.on_payment_event(decision.state, refunded, cause(71)).unchanged


def refund_asked(minutes: float = 61) -> Order:
    """A paid order cancelled at its confirmation deadline, its refund asked for."""
    paid = succeeded(placed("PIX", requires_confirmation=True).state).state
    return fired(paid, TimerPurpose.CONFIRMATION_DEADLINE, minutes).state


def test_a_refund_asked_for_is_unanswered_until_the_payment_service_answers() -> None:
    order = refund_asked(61)
    assert order.refund_asked_at == T0 + timedelta(minutes=61)
    assert order.refund_unanswered

    accepted = RefundRequested(
        **envelope_at(62), order_id="order-1", payment_id="pay_1", amount_cents=2620
    )
    answered = decisions.on_payment_event(order, accepted, cause(62))

    assert answered.state.refund_answered_at == T0 + timedelta(minutes=62)
    assert not answered.state.refund_unanswered
    assert answered.events == ()  # still REFUND_PENDING: nothing to tell
    assert decisions.on_payment_event(answered.state, accepted, cause(63)).unchanged


def test_a_refund_given_up_by_the_payment_service_is_answered() -> None:
    failed = RefundFailed(
        **envelope_at(70), order_id="order-1", payment_id="pay_1", reason="no balance",
        attempts=9,
    )  # fmt: skip
    decision = decisions.on_payment_event(refund_asked(61), failed, cause(70))

    assert decision.state.refund_answered_at == T0 + timedelta(minutes=70)
    assert decision.state.payment_status == "REFUND_PENDING"
    assert decision.events == ()


def test_an_unanswered_refund_is_asked_for_again_and_an_answered_one_is_not() -> None:
    order = refund_asked(61)

    decision = decisions.ask_refund_again(order, cause(80))

    assert types(decision) == ["RequestRefund"]
    again = decision.events[0]
    assert isinstance(again, RequestRefund)
    assert (again.order_id, again.attempt, again.payment_id) == ("order-1", 1, "pay_1")
    assert decision.state.refund_asked_again_at == T0 + timedelta(minutes=80)
    assert decision.state.refund_asked_at == order.refund_asked_at
    answered = order.model_copy(update={"refund_answered_at": T0})
    assert decisions.ask_refund_again(answered, cause(80)).unchanged


def test_late_pos_confirmation_is_answered_already_cancelled() -> None:
    order = fired(
        placed(requires_confirmation=True, auto_confirmation_timeout=5).state,
        TimerPurpose.CONFIRMATION_DEADLINE,
        6,
    ).state
    decision = pos(order, pos_confirmed(order), 7)
    assert types(decision) == ["PosOrderCancelled"]
    answer = decision.events[0]
    assert isinstance(answer, PosOrderCancelled)
    assert answer.reason == "ALREADY_CANCELLED"
    assert decision.state.status == "CANCELLED"


def test_confirmation_clears_its_deadline_from_the_order_and_cancels_the_timer() -> None:
    order = succeeded(
        placed("PIX", requires_confirmation=True, auto_confirmation_timeout=5).state
    ).state
    assert order.deadlines.confirmation is not None
    assert (order.confirmation_timeout, order.refund_timeout) != (None, None)

    decision = pos(order, pos_confirmed(order), 2)

    assert types(decision) == ["OrderStatusChanged", "CancelTimer"]
    cancelled = decision.events[1]
    assert isinstance(cancelled, CancelTimer)
    assert cancelled.timer_id == "order-1:confirmation"
    confirmed = decision.state
    assert confirmed.deadlines.confirmation is None
    assert (confirmed.confirmation_timeout, confirmed.refund_timeout) == (None, None)


def test_payment_clears_the_payment_deadline_from_the_order_and_cancels_its_timer() -> None:
    order = placed("PIX", payment_timeout=15).state

    decision = succeeded(order)

    assert decision.state.deadlines.payment is None
    timers = [m.timer_id for m in decision.events if isinstance(m, CancelTimer)]
    assert timers == ["order-1:payment"]


def test_cancellation_clears_every_deadline_and_cancels_only_timers_not_yet_due() -> None:
    waiting = succeeded(
        placed("PIX", requires_confirmation=True, auto_confirmation_timeout=5).state
    ).state
    rejected = pos(waiting, pos_update(PosOrderRejected, "order-1", reason="Fechando"), 2)
    timers = [m.timer_id for m in rejected.events if isinstance(m, CancelTimer)]
    assert timers == ["order-1:confirmation"]
    assert rejected.state.deadlines == Deadlines()
    assert rejected.state.confirmation_timeout is None

    timed_out = fired(placed("PIX").state, TimerPurpose.PAYMENT_DEADLINE, 16)
    assert timed_out.state.deadlines == Deadlines()
    assert not [m for m in timed_out.events if isinstance(m, CancelTimer)]  # it fired


def test_every_message_about_a_new_order_carries_its_number() -> None:
    decision = placed(requires_confirmation=False)

    assert decision.state.order_number == 7
    placed_event, changed, received = decision.events
    assert isinstance(placed_event, OrderPlaced)
    assert isinstance(changed, OrderStatusChanged)
    assert isinstance(received, PosOrderReceived)
    assert placed_event.order_number == placed_event.order.order_number == 7
    assert changed.order_number == 7
    assert received.order_number == received.order.order_number == 7


def test_the_payment_instructions_carry_the_order_number() -> None:
    created = PaymentCreated(
        **envelope_at(1), order_id="order-1", payment_id="pay_1", method="PIX", amount_cents=2620,
        instructions=PaymentInstructions(pix_payload="000201"),
    )  # fmt: skip
    decision = decisions.on_payment_event(placed("PIX").state, created, cause(1))
    (issued,) = decision.events
    assert isinstance(issued, PaymentInstructionsIssued)
    assert issued.order_number == 7


def test_the_charge_is_described_to_the_payer_by_the_order_number() -> None:
    request = placed("PIX", store_name="Burger da Ana").events[1]
    assert isinstance(request, RequestPayment)
    assert request.description == "Pedido #7 - Burger da Ana"


def timed_out_unpaid() -> Order:
    """A PIX order cancelled at its payment deadline, its charge not yet deleted."""
    return fired(placed("PIX").state, TimerPurpose.PAYMENT_DEADLINE, 16).state


def charge_deleted(order: Order, minutes: float) -> OrderDecision:
    event = PaymentCancelled(**envelope_at(minutes), order_id=order.order_id, payment_id="pay_1")
    return decisions.on_payment_event(order, event, cause(minutes))


def test_the_deleted_charge_of_a_cancelled_order_ends_its_payment_cancelled() -> None:
    cancelled = timed_out_unpaid()
    assert cancelled.payment_status == "PENDING"

    decision = charge_deleted(cancelled, 17)

    assert types(decision) == ["OrderPaymentStatusChanged"]
    told = decision.events[0]
    assert isinstance(told, OrderPaymentStatusChanged)
    assert (told.from_status, told.to_status, told.order_number) == ("PENDING", "CANCELLED", 7)
    assert (decision.state.status, decision.state.payment_status) == ("CANCELLED", "CANCELLED")
    assert charge_deleted(decision.state, 18).unchanged


def test_a_deleted_charge_changes_nothing_for_an_order_paid_meanwhile() -> None:
    paid_after = succeeded(timed_out_unpaid(), 17)
    assert paid_after.state.payment_status == "REFUND_PENDING"
    assert charge_deleted(paid_after.state, 18).unchanged


def test_a_charge_deleted_while_its_order_waits_leaves_it_waiting_with_its_payment_failed() -> None:
    decision = charge_deleted(placed("PIX").state, 3)
    assert types(decision) == ["OrderPaymentStatusChanged"]
    assert (decision.state.status, decision.state.payment_status) == ("PENDING", "FAILED")
    assert decision.state.deadlines.payment == T0 + timedelta(minutes=15)


def test_a_payment_after_the_charge_was_deleted_is_refunded() -> None:
    deleted = charge_deleted(
        fired(placed("PIX").state, TimerPurpose.PAYMENT_DEADLINE, 16).state, 17
    )
    decision = succeeded(deleted.state, 18)
    assert decision.state.payment_status == "REFUND_PENDING"
    assert "RequestRefund" in types(decision)


def test_kitchen_status_out_of_the_table_is_refused() -> None:
    order = placed(requires_confirmation=True).state
    update = pos_update(PosOrderStatusUpdated, "order-1", occurred_at=T0, status=PosStatus.READY)
    with pytest.raises(InvalidTransition):
        pos(order, update)


def test_late_kitchen_report_changes_nothing() -> None:
    order = placed(requires_confirmation=False).state
    preparing = pos_update(
        PosOrderStatusUpdated, "order-1", occurred_at=T0, status=PosStatus.PREPARING
    )
    order = pos(order, preparing).state
    assert pos(order, preparing, 3).unchanged


def test_pos_cannot_speak_of_an_order_it_never_received() -> None:
    order = placed("PIX").state
    with pytest.raises(OrderError):
        pos(order, pos_confirmed(order))
