"""What happens to an order on each command and event: `(order, message, cause) -> Decision`.

Each function is pure. It returns the order as it must be saved and the messages it implies
(published through the outbox with it, in one write; `outgoing.py` says where each goes), or
raises an `OrderError`. A message that finds the order already past the point it speaks of is
a duplicate or arrived late: the decision is then empty, or an answer that changes nothing (a
POS confirming a cancelled order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

from services.order.domain.change import Cause, Change, OrderDecision
from services.order.domain.errors import NotReleased
from services.order.domain.lifecycle import CLOSED, already_passed, is_allowed
from services.order.domain.order import Order, new_order
from services.order.domain.validation import Rejection
from shared.contracts.limits import MAX_PAYMENT_CHANGES
from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPlaced,
    PaymentInstructionsIssued,
    PlaceOrder,
)
from shared.contracts.payments import (
    CancelPayment,
    PaymentCancelled,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
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
from shared.contracts.scheduler import TimerFired, TimerPurpose
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import Actor, OrderStatus, PaymentMethod, PaymentStatus, ReasonCode

PAID_AFTER_CANCELLATION = "PAID_AFTER_CANCELLATION"
PAID_AFTER_METHOD_CHANGE = "PAID_AFTER_METHOD_CHANGE"
PAYMENT_DELETED = "PAYMENT_DELETED"
PAYMENT_METHOD_CHANGED = "PAYMENT_METHOD_CHANGED"
NO_CHARGE = "NO_CHARGE"
STRANDED_PAYMENT = "STRANDED_PAYMENT"
SETTLED = frozenset({PaymentStatus.PAID, PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED})
"""Payment statuses of an order whose money arrived (and may be on its way back)."""
UNPAID = frozenset({PaymentStatus.PENDING, PaymentStatus.FAILED})
"""Payment statuses of an online order still waiting for its money."""


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
        _release(change)
        return change.decision()
    _request_payment(change)
    due = cause.now + timedelta(minutes=config.payment_timeout)
    change.update(deadlines=order.deadlines.model_copy(update={"payment": due}))
    change.schedule(TimerPurpose.PAYMENT_DEADLINE, due)
    return change.decision()


def _request_payment(change: Change) -> None:
    """Asks for a charge of the order's current attempt and method, made for its payer."""
    order = change.order
    assert order.payer is not None  # validation requires a CPF to pay online
    store = order.policy.store_name
    change.emit(
        RequestPayment,
        order_id=order.order_id,
        attempt=order.payment_attempt,
        payment_method=order.payment_method,
        amount_cents=order.total_cents,
        customer=order.payer,
        description=f"Pedido {order.number}" + (f" - {store}" if store else ""),
        time_zone=order.policy.time_zone,
    )


def _release(change: Change) -> None:
    """Sends the order to the POS: confirmed at once, or awaiting confirmation by a deadline."""
    order = change.order
    policy = order.policy
    change.update(released_to_pos_at=change.now)
    confirm_by = None
    if not policy.requires_confirmation:
        change.status(
            OrderStatus.CONFIRMED, Actor.SYSTEM, notes="Confirmado automaticamente pela loja"
        )
    else:
        paid_online = order.payment_method.is_online
        confirm_by = policy.confirmation_deadline(change.now, paid_online=paid_online)
        refund_by = (
            change.now + timedelta(minutes=policy.refund_minutes)
            if paid_online and policy.refund_unconfirmed
            else None
        )
        change.update(
            confirmation_timeout=confirm_by,
            refund_timeout=refund_by,
            deadlines=change.order.deadlines.model_copy(update={"confirmation": confirm_by}),
        )
        if confirm_by is not None:
            change.schedule(TimerPurpose.CONFIRMATION_DEADLINE, confirm_by)
    change.to_pos(
        PosOrderReceived,
        order=change.order.snapshot(),
        awaiting_confirmation=policy.requires_confirmation,
        confirm_by=confirm_by,
    )


# Cancelling and refunding


def _cancel(change: Change, code: ReasonCode, by: Actor, *, words: str | None = None) -> None:
    """CANCELLED: the POS is told, a paid order refunded, a pending charge deleted."""
    order = change.order
    reason = words or code.value
    change.status(OrderStatus.CANCELLED, by, notes=reason, reason=reason, reason_code=code)
    change.update(cancellation_reason=reason)
    if order.released and by is not Actor.RESTAURANT:
        change.to_pos(PosOrderCancelled, reason=code)
    if order.payment_status is PaymentStatus.PAID:
        _refund(change, code.value)
    elif _charge_never_made(order):
        change.payment(PaymentStatus.CANCELLED, reason=NO_CHARGE)
    else:
        _delete_charge(change)
    change.clear_deadline(TimerPurpose.PAYMENT_DEADLINE)
    change.clear_deadline(TimerPurpose.CONFIRMATION_DEADLINE)


def _charge_never_made(order: Order) -> bool:
    """The payment failed before any charge existed (PaymentCreationFailed)."""
    return order.payment_status is PaymentStatus.FAILED and order.payment_id is None


def _delete_charge(change: Change) -> None:
    """The charge of the current attempt is deleted on Asaas while nobody has paid it."""
    order = change.order
    if order.payment_status in UNPAID and not _charge_never_made(order):
        _delete(change, order.payment_attempt, order.payment_id)


def _delete(change: Change, attempt: int, payment_id: str | None) -> None:
    change.emit(
        CancelPayment, order_id=change.order.order_id, attempt=attempt, payment_id=payment_id
    )


def _refund(change: Change, reason: str) -> None:
    change.payment(PaymentStatus.REFUND_PENDING, reason=reason)
    change.emit(
        RequestRefund,
        order_id=change.order.order_id,
        attempt=change.order.payment_attempt,
        payment_id=change.order.payment_id,
        reason=reason,
    )


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
    _cancel(change, ReasonCode.CUSTOMER_CANCELLED, Actor.CUSTOMER, words=command.reason)
    return change.decision()


# Changing the payment method


def change_payment_method(
    order: Order,
    command: ChangePaymentMethod,
    accepted: Sequence[PaymentMethod],
    cause: Cause,
) -> OrderDecision | Rejection:
    """The customer pays another way: the charge is deleted, a new attempt charged (or, for
    CASH, the order goes to the POS); the payment deadline keeps running. A repeated command
    changes nothing; one the order cannot take is refused."""
    if str(command.event_id) in order.payment_changes:
        return Change(order, cause).decision()
    refusal = payment_change_refusal(order, command.payment_method, accepted, cause.now)
    if refusal is not None:
        return refusal
    change = Change(order, cause)
    _delete_charge(change)
    method = command.payment_method
    change.update(
        payment_method=method,
        payment_id=None,
        payment_details=None,
        payment_changes=[*order.payment_changes, str(command.event_id)],
    )
    if method.is_online:
        change.payment(PaymentStatus.PENDING, reason=PAYMENT_METHOD_CHANGED)
        _request_payment(change)
    else:
        change.payment(PaymentStatus.NOT_APPLICABLE, reason=PAYMENT_METHOD_CHANGED)
        change.clear_deadline(TimerPurpose.PAYMENT_DEADLINE)
        _release(change)
    return change.decision()


def payment_change_refusal(
    order: Order, method: PaymentMethod, accepted: Sequence[PaymentMethod], now: datetime
) -> Rejection | None:
    """Why the order cannot be paid with `method` now (DESIGN.md section 5.9), or None."""
    number = order.number
    if order.status is not OrderStatus.PENDING:
        return Rejection(
            ReasonCode.ORDER_NOT_PENDING,
            f"O pedido {number} não aguarda mais pagamento; a forma de pagamento não pode mudar.",
        )
    if order.payment_status in SETTLED:
        return Rejection(ReasonCode.ALREADY_PAID, f"O pedido {number} já foi pago.")
    if order.payment_status not in UNPAID:
        return Rejection(
            ReasonCode.ALREADY_RELEASED,
            f"O pedido {number} já foi enviado à loja para pagamento em dinheiro.",
        )
    deadline = order.deadlines.payment
    if deadline is None or now >= deadline:
        return Rejection(
            ReasonCode.PAYMENT_DEADLINE_PASSED,
            f"O prazo para pagar o pedido {number} terminou.",
        )
    if method is order.payment_method:
        return Rejection(
            ReasonCode.SAME_PAYMENT_METHOD,
            f"O pedido {number} já está com essa forma de pagamento.",
        )
    if method not in accepted:
        return Rejection(
            ReasonCode.PAYMENT_METHOD_NOT_ACCEPTED,
            f"A loja não aceita {method}; formas aceitas: {', '.join(accepted)}.",
        )
    if method.is_online and order.payer is None:
        return Rejection(ReasonCode.CPF_REQUIRED, "Informe o CPF para pagar online.")
    if len(order.payment_changes) >= MAX_PAYMENT_CHANGES:
        return Rejection(
            ReasonCode.TOO_MANY_PAYMENT_CHANGES,
            f"A forma de pagamento do pedido {number} já mudou {MAX_PAYMENT_CHANGES} vezes.",
        )
    return None


# Payment events


def on_payment_created(order: Order, event: PaymentCreated, cause: Cause) -> OrderDecision:
    """The charge exists: the customer learns how to pay; a cancelled order's charge is deleted."""
    change = Change(order, cause)
    if order.payment_id is not None:
        return change.decision()
    change.update(payment_id=event.payment_id, payment_details=event.instructions)
    if order.status in CLOSED:
        _delete(change, event.attempt, event.payment_id)
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
        _release(change)
    else:
        _refund(change, PAID_AFTER_CANCELLATION)
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
            _delete(change, event.attempt, event.payment_id)
    return change.decision()


def on_refund_requested(order: Order, event: RefundRequested, cause: Cause) -> OrderDecision:
    """Asaas accepted a refund (ours, or one started on its panel)."""
    change = Change(order, cause)
    if order.payment_status is PaymentStatus.PAID:
        change.payment(PaymentStatus.REFUND_PENDING, reason="REFUND_IN_PROGRESS")
    return change.decision()


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
        _refund(change, STRANDED_PAYMENT)
    return change.decision()


# Deadlines


def on_timer_fired(order: Order, event: TimerFired, cause: Cause) -> OrderDecision:
    """A deadline passed: an order still waiting for it is cancelled."""
    change = Change(order, cause)
    if order.status is not OrderStatus.PENDING:
        return change.decision()
    if event.purpose is TimerPurpose.PAYMENT_DEADLINE:
        if order.payment_status in UNPAID:
            _cancel(change, ReasonCode.PAYMENT_TIMEOUT, Actor.SYSTEM)
    elif order.released:
        _cancel(change, ReasonCode.CONFIRMATION_TIMEOUT, Actor.SYSTEM)
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
        _cancel(change, ReasonCode.RESTAURANT_REJECTED, Actor.RESTAURANT, words=update.reason)
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
