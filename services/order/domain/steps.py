"""The steps that decisions share: charging the order, releasing it to the POS, cancelling it,
deleting its charge, refunding it. Each appends to a `Change`; none decides when it applies."""

from __future__ import annotations

from datetime import timedelta

from services.order.domain.change import Change
from services.order.domain.order import Order
from shared.contracts.payments import CancelPayment, RequestPayment, RequestRefund
from shared.contracts.pos import PosOrderCancelled, PosOrderReceived
from shared.contracts.scheduler import TimerPurpose
from shared.contracts.values import Actor, OrderStatus, PaymentStatus, ReasonCode

NO_CHARGE = "NO_CHARGE"
SETTLED = frozenset({PaymentStatus.PAID, PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED})
"""Payment statuses of an order whose money arrived (and may be on its way back)."""
UNPAID = frozenset({PaymentStatus.PENDING, PaymentStatus.FAILED})
"""Payment statuses of an online order still waiting for its money."""


def request_payment(change: Change) -> None:
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


def release(change: Change) -> None:
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


def cancel(change: Change, code: ReasonCode, by: Actor, *, words: str | None = None) -> None:
    """CANCELLED: the POS is told, a paid order refunded, a pending charge deleted."""
    order = change.order
    reason = words or code.value
    change.status(OrderStatus.CANCELLED, by, notes=reason, reason=reason, reason_code=code)
    change.update(cancellation_reason=reason)
    if order.released and by is not Actor.RESTAURANT:
        change.to_pos(PosOrderCancelled, reason=code)
    if order.payment_status is PaymentStatus.PAID:
        refund(change, code.value)
    elif charge_never_made(order):
        change.payment(PaymentStatus.CANCELLED, reason=NO_CHARGE)
    else:
        delete_charge(change)
    change.clear_deadline(TimerPurpose.PAYMENT_DEADLINE)
    change.clear_deadline(TimerPurpose.CONFIRMATION_DEADLINE)


def charge_never_made(order: Order) -> bool:
    """The payment failed before any charge existed (PaymentCreationFailed)."""
    return order.payment_status is PaymentStatus.FAILED and order.payment_id is None


def delete_charge(change: Change) -> None:
    """The charge of the current attempt is deleted on Asaas while nobody has paid it."""
    order = change.order
    if order.payment_status in UNPAID and not charge_never_made(order):
        delete(change, order.payment_attempt, order.payment_id)


def delete(change: Change, attempt: int, payment_id: str | None) -> None:
    change.emit(
        CancelPayment, order_id=change.order.order_id, attempt=attempt, payment_id=payment_id
    )


def refund(change: Change, reason: str) -> None:
    """REFUND_PENDING, the refund asked of the payment service now."""
    change.payment(PaymentStatus.REFUND_PENDING, reason=reason)
    change.update(refund_asked_at=change.now)
    ask_refund(change, reason)


def ask_refund(change: Change, reason: str) -> None:
    """RequestRefund for the charge the order follows."""
    change.emit(
        RequestRefund,
        order_id=change.order.order_id,
        attempt=change.order.payment_attempt,
        payment_id=change.order.payment_id,
        reason=reason,
    )
