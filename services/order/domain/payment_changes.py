"""ChangePaymentMethod (DESIGN.md section 5.9): a customer whose online payment failed pays another
way while the order is PENDING, unpaid and before its payment deadline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.order.domain.change import Cause, Change, OrderDecision
from services.order.domain.order import Order
from services.order.domain.steps import SETTLED, UNPAID, delete_charge, release, request_payment
from services.order.domain.validation import Rejection
from shared.contracts.limits import MAX_PAYMENT_CHANGES
from shared.contracts.orders import ChangePaymentMethod
from shared.contracts.scheduler import TimerPurpose
from shared.contracts.values import (
    PAYMENT_METHOD_CHANGED,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    ReasonCode,
)


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
    delete_charge(change)
    method = command.payment_method
    change.update(
        payment_method=method,
        payment_id=None,
        payment_details=None,
        payment_changes=[*order.payment_changes, str(command.event_id)],
    )
    if method.is_online:
        change.payment(PaymentStatus.PENDING, reason=PAYMENT_METHOD_CHANGED)
        request_payment(change)
    else:
        change.payment(PaymentStatus.NOT_APPLICABLE, reason=PAYMENT_METHOD_CHANGED)
        change.clear_deadline(TimerPurpose.PAYMENT_DEADLINE)
        release(change)
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
