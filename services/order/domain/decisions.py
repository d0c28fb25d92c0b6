"""What happens to an order on each command and event: `(order, message, cause) -> Decision`.

Each function is pure. It returns the order as it must be saved and the messages it implies
(published through the outbox with it, in one write; `outgoing.py` says where each goes), or
raises an `OrderError`. A message that finds the order already past the point it speaks of is
a duplicate or arrived late: the decision is then empty, or an answer that changes nothing (a
POS confirming a cancelled order).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from services.order.domain.change import Cause, Change, OrderDecision
from services.order.domain.errors import NotReleased
from services.order.domain.lifecycle import CLOSED, already_passed, is_allowed
from services.order.domain.order import Order, new_order
from services.order.domain.steps import (
    SETTLED,
    UNPAID,
    ask_refund,
    cancel,
    delete,
    refund,
    release,
    request_payment,
)
from services.order.domain.validation import Rejection
from shared.contracts.orders import (
    CancelOrder,
    OrderPlaced,
    PaymentInstructionsIssued,
    PlaceOrder,
)
from shared.contracts.payments import (
    PaymentCancelled,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    RefundFailed,
    RefundRequested,
    RequestRefund,
)
from shared.contracts.pos import (
    PosOrderCancelled,
    PosOrderConfirmed,
    PosOrderRejected,
    PosOrderStatusUpdated,
)
from shared.contracts.scheduler import TimerFired, TimerPurpose
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import Actor, OrderStatus, PaymentStatus, ReasonCode

PAID_AFTER_CANCELLATION = "PAID_AFTER_CANCELLATION"
PAID_AFTER_METHOD_CHANGE = "PAID_AFTER_METHOD_CHANGE"
PAYMENT_DELETED = "PAYMENT_DELETED"
STRANDED_PAYMENT = "STRANDED_PAYMENT"
REFUND_UNANSWERED = "REFUND_UNANSWERED"


# Placing and releasing


def place(
    command: PlaceOrder,
    config: StoreOrderConfig,
    order_id: str,
    cause: Cause,
    *,
    order_number: int,
) -> OrderDecision:
    """A new PENDING order: cash goes to the POS at once, online waits for its payment."""
    placed_event_id = cause.new_id()
    order = new_order(
        command,
        config,
        order_id=order_id,
        order_number=order_number,
        placed_event_id=str(placed_event_id),
        now=cause.now,
    )
    change = Change(order, cause)
    change.changed = True
    change.messages.append(
        OrderPlaced.caused_by(
            command,
            event_id=placed_event_id,
            now=cause.now,
            order_id=order_id,
            order_number=order_number,
            command_id=command.command_id,
            order=order.snapshot(),
        )
    )
    if not command.payment_method.is_online:
        release(change)
        return change.decision()
    request_payment(change)
    due = cause.now + timedelta(minutes=config.payment_timeout)
    change.update(deadlines=order.deadlines.model_copy(update={"payment": due}))
    change.schedule(TimerPurpose.PAYMENT_DEADLINE, due)
    return change.decision()


# Cancelling and refunding


def cancel_by_customer(
    order: Order, command: CancelOrder, cause: Cause
) -> OrderDecision | Rejection:
    """The customer may cancel while the order is PENDING; later it is refused."""
    if order.status is not OrderStatus.PENDING:
        return Rejection(
            ReasonCode.CANCELLATION_NOT_ALLOWED,
            "Este pedido não pode mais ser cancelado pelo WhatsApp; fale com a loja.",
        )
    change = Change(order, cause)
    cancel(change, ReasonCode.CUSTOMER_CANCELLED, Actor.CUSTOMER, words=command.reason)
    return change.decision()


# Payment events


def on_payment_created(order: Order, event: PaymentCreated, cause: Cause) -> OrderDecision:
    """The charge exists: the customer learns how to pay; a cancelled order's charge is deleted."""
    change = Change(order, cause)
    if order.payment_id is not None:
        return change.decision()
    change.update(payment_id=event.payment_id, payment_details=event.instructions)
    if order.status in CLOSED:
        delete(change, event.attempt, event.payment_id)
    elif order.payment_status is PaymentStatus.PENDING:
        change.emit(
            PaymentInstructionsIssued,
            order_id=order.order_id,
            order_number=order.order_number,
            attempt=event.attempt,
            payment_method=order.payment_method,
            phone_number=order.phone_number,
            customer_name=order.customer_name,
            total_cents=order.total_cents,
            **event.instructions.model_dump(),
        )
    return change.decision()


def on_payment_creation_failed(
    order: Order, event: PaymentCreationFailed, cause: Cause
) -> OrderDecision:
    """No charge could be made: the payment FAILED, and another method may still work (cash
    always does; a billing type the account lacks, a refused CPF or an outage concerns this
    charge only), so the order waits, as after any failed payment."""
    return _payment_failed(order, cause, reason=event.reason_code)


def on_payment_failed(
    order: Order, event: PaymentFailed | PaymentCancelled, cause: Cause
) -> OrderDecision:
    """The charge will not be paid (overdue, refused, deleted elsewhere): the payment FAILED and
    the order waits, until its payment deadline, for the customer to pay another way."""
    reason = event.reason if isinstance(event, PaymentFailed) else PAYMENT_DELETED
    return _payment_failed(order, cause, reason=reason)


def on_payment_cancelled(order: Order, event: PaymentCancelled, cause: Cause) -> OrderDecision:
    """The charge is deleted: nothing is owed for a cancelled order (payment CANCELLED); an order
    still waiting for it is left to pay another way, as when the payment fails."""
    if order.status is OrderStatus.PENDING:
        return on_payment_failed(order, event, cause)
    change = Change(order, cause)
    if order.status in CLOSED and order.payment_status in UNPAID:
        change.payment(PaymentStatus.CANCELLED, reason=PAYMENT_DELETED)
    return change.decision()


def _payment_failed(order: Order, cause: Cause, *, reason: str) -> OrderDecision:
    change = Change(order, cause)
    if order.status is OrderStatus.PENDING and order.payment_status is PaymentStatus.PENDING:
        change.payment(PaymentStatus.FAILED, reason=reason)
    return change.decision()


def on_payment_succeeded(order: Order, event: PaymentSucceeded, cause: Cause) -> OrderDecision:
    """Paid (a failed payment too, when the customer tried again on the same page): the order
    goes to the POS; if it was cancelled meanwhile, the money goes back."""
    change = Change(order, cause)
    if order.payment_status in SETTLED:
        return change.decision()
    if order.payment_id is None:
        change.update(payment_id=event.payment_id)
    change.payment(PaymentStatus.PAID, reason="PAYMENT_CONFIRMED")
    change.clear_deadline(TimerPurpose.PAYMENT_DEADLINE)
    if order.status is OrderStatus.PENDING:
        release(change)
    else:
        refund(change, PAID_AFTER_CANCELLATION)
    return change.decision()


def on_left_behind_charge(order: Order, event: PaymentEvent, cause: Cause) -> OrderDecision:
    """An event of a charge attempt the order no longer follows (its method was changed): money
    paid to it goes back, a charge made for it is deleted, the rest changes nothing."""
    change = Change(order, cause)
    match event:
        case PaymentSucceeded():
            change.emit(
                RequestRefund,
                order_id=order.order_id,
                attempt=event.attempt,
                payment_id=event.payment_id,
                reason=PAID_AFTER_METHOD_CHANGE,
            )
        case PaymentCreated():
            delete(change, event.attempt, event.payment_id)
    return change.decision()


def on_refund_requested(order: Order, event: RefundRequested, cause: Cause) -> OrderDecision:
    """Asaas accepted a refund (ours, or one started on its panel)."""
    change = Change(order, cause)
    if order.payment_status is PaymentStatus.PAID:
        change.payment(PaymentStatus.REFUND_PENDING, reason="REFUND_IN_PROGRESS")
    _refund_answered(change)
    return change.decision()


def on_refund_failed(order: Order, event: RefundFailed, cause: Cause) -> OrderDecision:
    """The payment service gave the refund up: an answer (its audit reports the refund), the
    order stays REFUND_PENDING."""
    change = Change(order, cause)
    _refund_answered(change)
    return change.decision()


def _refund_answered(change: Change) -> None:
    order = change.order
    if order.payment_status is PaymentStatus.REFUND_PENDING and order.refund_answered_at is None:
        change.update(refund_answered_at=change.now)


def on_payment_refunded(order: Order, event: PaymentRefunded, cause: Cause) -> OrderDecision:
    """The money is back with the customer: the order ends REFUNDED."""
    change = Change(order, cause)
    if order.payment_status is PaymentStatus.REFUNDED:
        return change.decision()
    change.payment(PaymentStatus.REFUNDED, reason="PAYMENT_REFUNDED")
    if is_allowed(order.status, OrderStatus.REFUNDED):
        if order.released and order.status not in CLOSED:
            change.to_pos(PosOrderCancelled, reason=ReasonCode.PAYMENT_REFUNDED)
        change.status(OrderStatus.REFUNDED, Actor.PAYMENT, notes="Valor reembolsado ao cliente")
    return change.decision()


def refund_stranded(order: Order, cause: Cause) -> OrderDecision:
    """A cancelled order still PAID (its refund never asked, or the request lost): the refund is
    asked for again; the payment service takes a repeated request as the same refund."""
    change = Change(order, cause)
    if order.status is OrderStatus.CANCELLED and order.payment_status is PaymentStatus.PAID:
        refund(change, STRANDED_PAYMENT)
    return change.decision()


def ask_refund_again(order: Order, cause: Cause) -> OrderDecision:
    """A refund the payment service never answered (its RequestRefund lost or dead-lettered) is
    asked for again; a repeated request is the same refund there."""
    change = Change(order, cause)
    if order.refund_unanswered:
        change.update(refund_asked_again_at=cause.now)
        ask_refund(change, REFUND_UNANSWERED)
    return change.decision()


# Deadlines


def on_timer_fired(order: Order, event: TimerFired, cause: Cause) -> OrderDecision:
    """A deadline passed: an order still waiting for it is cancelled."""
    change = Change(order, cause)
    if order.status is not OrderStatus.PENDING:
        return change.decision()
    if event.purpose is TimerPurpose.PAYMENT_DEADLINE:
        if order.payment_status in UNPAID:
            cancel(change, ReasonCode.PAYMENT_TIMEOUT, Actor.SYSTEM)
    elif order.released:
        cancel(change, ReasonCode.CONFIRMATION_TIMEOUT, Actor.SYSTEM)
    return change.decision()


# The POS


def on_pos_confirmed(order: Order, update: PosOrderConfirmed, cause: Cause) -> OrderDecision:
    """The restaurant confirms; a cancelled order is not resurrected, the POS is told again."""
    change = Change(order, cause)
    _require_released(order)
    if order.status in CLOSED:
        change.to_pos(PosOrderCancelled, reason=ReasonCode.ALREADY_CANCELLED)
    elif order.status is OrderStatus.PENDING:
        change.status(OrderStatus.CONFIRMED, Actor.RESTAURANT, notes="Confirmado pelo restaurante")
        change.clear_deadline(TimerPurpose.CONFIRMATION_DEADLINE)
    return change.decision()


def on_pos_rejected(order: Order, update: PosOrderRejected, cause: Cause) -> OrderDecision:
    """The restaurant refuses (or later cancels) the order; a paid one is refunded."""
    change = Change(order, cause)
    _require_released(order)
    if order.status not in CLOSED:
        cancel(change, ReasonCode.RESTAURANT_REJECTED, Actor.RESTAURANT, words=update.reason)
    return change.decision()


def on_pos_status_updated(
    order: Order, update: PosOrderStatusUpdated, cause: Cause
) -> OrderDecision:
    """The kitchen moves the order along the table; late or repeated reports change nothing."""
    change = Change(order, cause)
    _require_released(order)
    target = update.status.order_status
    if order.status in CLOSED:
        change.to_pos(PosOrderCancelled, reason=ReasonCode.ALREADY_CANCELLED)
        return change.decision()
    if already_passed(order.status, target):
        return change.decision()
    if update.delivery_time is not None:
        change.update(delivery_time=update.delivery_time)
    change.status(target, Actor.RESTAURANT, notes=f"Atualizado pelo PDV: {target}")
    return change.decision()


def _require_released(order: Order) -> None:
    if not order.released:
        raise NotReleased(order.order_id)


# Dispatch by message type

PaymentEvent = (
    PaymentCreated
    | PaymentCreationFailed
    | PaymentSucceeded
    | PaymentFailed
    | PaymentCancelled
    | RefundRequested
    | PaymentRefunded
    | RefundFailed
)
PosReport = PosOrderConfirmed | PosOrderRejected | PosOrderStatusUpdated


def on_payment_event(order: Order, event: PaymentEvent, cause: Cause) -> OrderDecision:
    """The decision for any payment event that concerns an order's state."""
    if event.attempt != order.payment_attempt:
        return on_left_behind_charge(order, event, cause)
    match event:
        case PaymentCreated():
            return on_payment_created(order, event, cause)
        case PaymentCreationFailed():
            return on_payment_creation_failed(order, event, cause)
        case PaymentSucceeded():
            return on_payment_succeeded(order, event, cause)
        case PaymentFailed():
            return on_payment_failed(order, event, cause)
        case PaymentCancelled():
            return on_payment_cancelled(order, event, cause)
        case RefundRequested():
            return on_refund_requested(order, event, cause)
        case PaymentRefunded():
            return on_payment_refunded(order, event, cause)
        case RefundFailed():
            return on_refund_failed(order, event, cause)


def on_pos_update(
    order: Order, update: PosReport, now: datetime, new_id: Callable[[], UUID]
) -> OrderDecision:
    """The decision for a POS report; its conversation turn is the order's when it names none."""
    cause = Cause(update.correlation_id or order.correlation_id, str(update.event_id), now, new_id)
    match update:
        case PosOrderConfirmed():
            return on_pos_confirmed(order, update, cause)
        case PosOrderRejected():
            return on_pos_rejected(order, update, cause)
        case PosOrderStatusUpdated():
            return on_pos_status_updated(order, update, cause)
