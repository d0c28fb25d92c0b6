"""A failed payment keeps the order waiting; ChangePaymentMethod (DESIGN.md 5.9) switches it to
another method, refused as the contract says; events of the charge it left behind never keep
money nor confuse the order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.order.domain import decisions, payment_changes
from services.order.domain.change import OrderDecision
from services.order.domain.order import Order
from services.order.domain.validation import Rejection
from shared.contracts.orders import OrderPaymentStatusChanged, PaymentInstructionsIssued
from shared.contracts.payments import (
    CancelPayment,
    PaymentCancelled,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentInstructions,
    PaymentSucceeded,
    RequestPayment,
    RequestRefund,
)
from shared.contracts.pos import PosOrderReceived
from shared.contracts.scheduler import CancelTimer, ScheduleTimer, TimerPurpose
from shared.contracts.values import PaymentMethod
from tests.builders import cancel_order, change_payment_method
from tests.unit.order.test_decisions import (
    T0,
    cause,
    envelope_at,
    fired,
    placed,
    succeeded,
    types,
)

EVERY_METHOD = list(PaymentMethod)


def created(order: Order, minutes: float = 0.5, attempt: int = 1, **fields: Any) -> OrderDecision:
    event = PaymentCreated(
        **envelope_at(minutes), order_id=order.order_id, payment_id=f"pay_{attempt}",
        method=order.payment_method, amount_cents=order.total_cents, attempt=attempt,
        instructions=PaymentInstructions(pix_payload="000201"), **fields,
    )  # fmt: skip
    return decisions.on_payment_event(order, event, cause(minutes))


def failed(order: Order, minutes: float = 2, attempt: int = 1) -> OrderDecision:
    event = PaymentFailed(
        **envelope_at(minutes), order_id=order.order_id, payment_id=f"pay_{attempt}",
        reason="PAYMENT_CREDIT_CARD_CAPTURE_REFUSED", message="refused", attempt=attempt,
    )  # fmt: skip
    return decisions.on_payment_event(order, event, cause(minutes))


def paid(order: Order, minutes: float, attempt: int) -> OrderDecision:
    event = PaymentSucceeded(
        **envelope_at(minutes), order_id=order.order_id, payment_id=f"pay_{attempt}",
        amount_cents=order.total_cents, paid_at=T0, attempt=attempt,
    )  # fmt: skip
    return decisions.on_payment_event(order, event, cause(minutes))


def pix_failed(**config: Any) -> Order:
    """A PIX order placed at T0 (payment deadline T0 + 15 min) whose charge failed at 2 min."""
    order = placed("PIX", payment_timeout=15, **config).state
    return failed(created(order).state).state


def switch(
    order: Order, method: str, minutes: float = 3, accepted: list[PaymentMethod] | None = None
) -> OrderDecision | Rejection:
    command = change_payment_method(order.order_id, method)
    accepted = EVERY_METHOD if accepted is None else accepted
    return payment_changes.change_payment_method(order, command, accepted, cause(minutes))


def switched(order: Order, method: str, minutes: float = 3) -> OrderDecision:
    decision = switch(order, method, minutes)
    assert not isinstance(decision, Rejection), decision
    return decision


def refusal(decision: OrderDecision | Rejection) -> str:
    assert isinstance(decision, Rejection), decision
    return decision.reason_code.value


# A failed payment keeps the order


def test_a_failed_payment_keeps_the_order_pending_with_its_deadline_running() -> None:
    decision = failed(created(placed("PIX", payment_timeout=15).state).state)

    assert types(decision) == ["OrderPaymentStatusChanged"]
    told = decision.events[0]
    assert isinstance(told, OrderPaymentStatusChanged)
    assert (told.from_status, told.to_status, told.payment_method) == ("PENDING", "FAILED", "PIX")
    assert (decision.state.status, decision.state.payment_status) == ("PENDING", "FAILED")
    assert decision.state.deadlines.payment == T0 + timedelta(minutes=15)


def test_a_charge_that_could_not_be_made_leaves_the_order_waiting_as_a_failed_payment() -> None:
    event = PaymentCreationFailed(
        **envelope_at(1), order_id="order-1", reason_code="invalid_billingType",
        message="Forma de pagamento inválida.", retryable=False,
    )  # fmt: skip
    decision = decisions.on_payment_event(placed("CREDIT").state, event, cause(1))
    assert (decision.state.status, decision.state.payment_status) == ("PENDING", "FAILED")
    assert types(decision) == ["OrderPaymentStatusChanged"]


def test_the_payment_deadline_cancels_a_failed_order_and_deletes_its_charge() -> None:
    decision = fired(pix_failed(), TimerPurpose.PAYMENT_DEADLINE, 15)
    assert types(decision) == ["OrderStatusChanged", "CancelPayment"]
    assert decision.state.cancellation_reason == "PAYMENT_TIMEOUT"
    deletion = decision.events[1]
    assert isinstance(deletion, CancelPayment)
    assert (deletion.payment_id, deletion.attempt) == ("pay_1", 1)


def test_a_failed_card_paid_again_on_its_page_goes_to_the_kitchen() -> None:
    decision = paid(pix_failed(requires_confirmation=False), 4, attempt=1)
    assert (decision.state.status, decision.state.payment_status) == ("CONFIRMED", "PAID")
    assert "PosOrderReceived" in types(decision)


def test_the_customer_cancelling_a_failed_order_deletes_its_charge() -> None:
    decision = decisions.cancel_by_customer(pix_failed(), cancel_order("order-1"), cause(4))
    assert not isinstance(decision, Rejection)
    assert "CancelPayment" in types(decision)


def test_an_order_whose_charge_could_not_be_made_is_cancelled_owing_nothing() -> None:
    event = PaymentCreationFailed(
        **envelope_at(1), order_id="order-1", reason_code="PROVIDER_UNAVAILABLE",
        message="Asaas could not be reached", retryable=True,
    )  # fmt: skip
    order = decisions.on_payment_event(placed("PIX").state, event, cause(1)).state
    decision = fired(order, TimerPurpose.PAYMENT_DEADLINE, 15)
    assert types(decision) == ["OrderStatusChanged", "OrderPaymentStatusChanged"]
    assert (decision.state.status, decision.state.payment_status) == ("CANCELLED", "CANCELLED")


# Switching


def test_switching_to_another_online_method_deletes_the_charge_and_charges_a_new_attempt() -> None:
    order = pix_failed()

    decision = switched(order, "CREDIT")

    assert types(decision) == ["CancelPayment", "OrderPaymentStatusChanged", "RequestPayment"]
    deletion, told, request = decision.events
    assert isinstance(deletion, CancelPayment)
    assert (deletion.attempt, deletion.payment_id) == (1, "pay_1")
    assert isinstance(told, OrderPaymentStatusChanged)
    assert (told.from_status, told.to_status) == ("FAILED", "PENDING")
    assert (told.reason, told.payment_method) == ("PAYMENT_METHOD_CHANGED", "CREDIT")
    assert isinstance(request, RequestPayment)
    assert (request.attempt, request.payment_method) == (2, "CREDIT")
    assert request.amount_cents == order.total_cents
    assert request.customer == order.payer
    assert request.description == "Pedido #7"
    state = decision.state
    assert (state.payment_method, state.payment_status, state.payment_id) == (
        "CREDIT", "PENDING", None
    )  # fmt: skip
    assert state.payment_attempt == 2
    assert state.deadlines.payment == T0 + timedelta(minutes=15)  # kept, not restarted


def test_the_new_charge_sends_its_own_instructions() -> None:
    order = switched(pix_failed(), "CREDIT").state
    decision = created(order, minutes=4, attempt=2)
    (issued,) = decision.events
    assert isinstance(issued, PaymentInstructionsIssued)
    assert issued.payment_method == "CREDIT"
    assert decision.state.payment_id == "pay_2"


def test_a_payment_of_the_new_attempt_sends_the_order_to_the_kitchen() -> None:
    order = created(switched(pix_failed(), "DEBIT").state, 4, attempt=2).state
    decision = paid(order, 5, attempt=2)
    assert (decision.state.status, decision.state.payment_status) == ("CONFIRMED", "PAID")
    assert "PosOrderReceived" in types(decision)


def test_switching_to_cash_sends_the_order_to_the_pos_under_the_cash_rules() -> None:
    order = pix_failed(requires_confirmation=True, auto_confirmation_timeout=10, refund_timeout=5)

    decision = switched(order, "CASH", minutes=3)

    assert types(decision) == [
        "CancelPayment", "OrderPaymentStatusChanged", "CancelTimer", "ScheduleTimer",
        "PosOrderReceived",
    ]  # fmt: skip
    told = decision.events[1]
    assert isinstance(told, OrderPaymentStatusChanged)
    assert (told.to_status, told.payment_method) == ("NOT_APPLICABLE", "CASH")
    cleared, scheduled, received = decision.events[2:]
    assert isinstance(cleared, CancelTimer)
    assert cleared.timer_id == "order-1:payment"
    assert isinstance(scheduled, ScheduleTimer)
    # Cash: autoConfirmationTimeout from the release; the refund timeout is for paid orders.
    assert scheduled.due_at == T0 + timedelta(minutes=3 + 10)
    assert isinstance(received, PosOrderReceived)
    assert received.awaiting_confirmation is True
    assert received.order.payment_method == "CASH"
    state = decision.state
    assert (state.status, state.payment_status, state.refund_timeout) == (
        "PENDING", "NOT_APPLICABLE", None
    )  # fmt: skip
    assert state.deadlines.payment is None


def test_switching_to_cash_at_a_store_that_needs_no_confirmation_confirms_it() -> None:
    decision = switched(pix_failed(requires_confirmation=False), "CASH")
    assert decision.state.status == "CONFIRMED"
    assert types(decision)[-2:] == ["OrderStatusChanged", "PosOrderReceived"]


def test_a_payment_still_pending_may_be_switched_too() -> None:
    order = created(placed("PIX").state).state
    decision = switched(order, "CASH")
    deletion = decision.events[0]
    assert isinstance(deletion, CancelPayment)
    assert (deletion.payment_id, deletion.attempt) == ("pay_1", 1)
    assert decision.state.payment_status == "NOT_APPLICABLE"


def test_the_same_command_delivered_twice_switches_once() -> None:
    order = pix_failed()
    command = change_payment_method(order.order_id, "CREDIT")
    first = payment_changes.change_payment_method(order, command, EVERY_METHOD, cause(3))
    assert not isinstance(first, Rejection)

    again = payment_changes.change_payment_method(first.state, command, EVERY_METHOD, cause(4))

    assert not isinstance(again, Rejection)
    assert again.unchanged


# Refused


def test_a_switch_is_refused_once_the_order_is_no_longer_pending() -> None:
    cancelled = fired(pix_failed(), TimerPurpose.PAYMENT_DEADLINE, 15).state
    assert refusal(switch(cancelled, "CASH", 16)) == "ORDER_NOT_PENDING"


def test_a_switch_is_refused_for_an_order_already_paid() -> None:
    waiting = succeeded(placed("PIX", requires_confirmation=True).state).state
    assert waiting.status == "PENDING"
    assert refusal(switch(waiting, "CASH")) == "ALREADY_PAID"


def test_a_cash_order_already_with_the_kitchen_cannot_switch() -> None:
    order = placed("CASH", requires_confirmation=True).state
    assert refusal(switch(order, "PIX")) == "ALREADY_RELEASED"


def test_a_switch_is_refused_from_the_payment_deadline_on_even_before_its_timer_fires() -> None:
    assert refusal(switch(pix_failed(), "CASH", 15)) == "PAYMENT_DEADLINE_PASSED"
    assert not isinstance(switch(pix_failed(), "CASH", 14.9), Rejection)


def test_a_switch_to_the_method_the_order_already_has_is_refused() -> None:
    assert refusal(switch(pix_failed(), "PIX")) == "SAME_PAYMENT_METHOD"


def test_a_switch_to_a_method_the_store_does_not_accept_is_refused_naming_those_it_does() -> None:
    decision = switch(pix_failed(), "CASH", accepted=[PaymentMethod.PIX, PaymentMethod.CREDIT])
    assert refusal(decision) == "PAYMENT_METHOD_NOT_ACCEPTED"
    assert isinstance(decision, Rejection)
    assert decision.message.endswith("formas aceitas: PIX, CREDIT.")


def test_an_order_switched_five_times_takes_no_sixth() -> None:
    order = pix_failed()
    for minutes, method in enumerate(["CREDIT", "PIX", "DEBIT", "PIX", "CREDIT"], start=3):
        order = switched(order, method, minutes / 2).state
    assert order.payment_attempt == 6
    assert refusal(switch(order, "PIX", 9)) == "TOO_MANY_PAYMENT_CHANGES"


def test_an_order_kept_without_its_payer_cannot_switch_to_an_online_method() -> None:
    order = pix_failed().model_copy(update={"payer": None})
    assert refusal(switch(order, "CREDIT")) == "CPF_REQUIRED"
    assert not isinstance(switch(order, "CASH"), Rejection)


# The charge left behind


@pytest.mark.parametrize("method", ["CREDIT", "CASH"])
def test_money_paid_to_the_charge_left_behind_is_refunded_and_the_order_is_untouched(
    method: str,
) -> None:
    order = switched(pix_failed(), method).state

    decision = paid(order, 4, attempt=1)

    assert types(decision) == ["RequestRefund"]
    refund = decision.events[0]
    assert isinstance(refund, RequestRefund)
    assert (refund.attempt, refund.payment_id, refund.reason) == (
        1, "pay_1", "PAID_AFTER_METHOD_CHANGE"
    )  # fmt: skip
    assert decision.state.model_dump(exclude={"updated_at"}) == order.model_dump(
        exclude={"updated_at"}
    )


def test_a_charge_made_late_for_the_attempt_left_behind_is_deleted() -> None:
    order = switched(placed("PIX").state, "CREDIT").state  # switched before its charge existed

    decision = created(order, 4, attempt=1)

    assert types(decision) == ["CancelPayment"]
    deletion = decision.events[0]
    assert isinstance(deletion, CancelPayment)
    assert (deletion.attempt, deletion.payment_id) == (1, "pay_1")
    assert decision.state.payment_id is None


def test_failures_and_deletions_of_the_charge_left_behind_change_nothing() -> None:
    order = switched(pix_failed(), "CREDIT").state
    assert failed(order, 4, attempt=1).unchanged
    deleted = PaymentCancelled(**envelope_at(4), order_id="order-1", payment_id="pay_1")
    assert decisions.on_payment_event(order, deleted, cause(4)).unchanged
