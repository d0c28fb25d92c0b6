"""The payment domain, pure: a charge's state machine, the Asaas event mapping, money in reais.

Transitions are functions `(payment, input, now) -> Decision(payment, facts)`; a fact is what
the service publishes on `payments.events`. Asaas delivers webhooks late, twice and out of order,
and reconciliation may learn a status before its webhook: the allowed-transitions table makes
every such input either move the payment forward or do nothing, never move it backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.contracts.values import PaymentMethod
from shared.decision import Decision


class PaymentError(Exception):
    """The family of illegal moves on a payment."""


class InvalidTransition(PaymentError):
    """The payment cannot take this input in its current status."""


class ChargeStatus(StrEnum):
    """Where one order's Asaas charge is."""

    CREATING = "CREATING"
    """A charge is being created; after an unclear failure it may exist on Asaas already."""
    CREATION_FAILED = "CREATION_FAILED"
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUND_PENDING = "REFUND_PENDING"
    REFUNDED = "REFUNDED"


ALLOWED: dict[ChargeStatus, frozenset[ChargeStatus]] = {
    ChargeStatus.CREATING: frozenset({ChargeStatus.PENDING, ChargeStatus.CREATION_FAILED}),
    ChargeStatus.CREATION_FAILED: frozenset({ChargeStatus.CREATING}),
    ChargeStatus.PENDING: frozenset(
        {
            ChargeStatus.PAID,
            ChargeStatus.FAILED,
            ChargeStatus.CANCELLED,
            ChargeStatus.REFUND_PENDING,
            ChargeStatus.REFUNDED,
        }
    ),
    # Money that arrives after a charge failed or was deleted still counts: the order
    # service refunds a payment for a cancelled order at once.
    ChargeStatus.FAILED: frozenset({ChargeStatus.PAID, ChargeStatus.CANCELLED}),
    ChargeStatus.CANCELLED: frozenset({ChargeStatus.PAID}),
    ChargeStatus.PAID: frozenset({ChargeStatus.REFUND_PENDING, ChargeStatus.REFUNDED}),
    ChargeStatus.REFUND_PENDING: frozenset({ChargeStatus.REFUNDED}),
    ChargeStatus.REFUNDED: frozenset(),
}
"""Every status a payment may move to from each status; anything else is ignored."""

OPEN_STATUSES = frozenset({ChargeStatus.PENDING, ChargeStatus.REFUND_PENDING})
"""Statuses in which Asaas will still tell us something: reconciliation watches these."""


class Signal(StrEnum):
    """What an Asaas event (or a status read back from Asaas) means for the payment."""

    PAID = "PAID"
    FAILED = "FAILED"
    DELETED = "DELETED"
    REFUND_IN_PROGRESS = "REFUND_IN_PROGRESS"
    REFUNDED = "REFUNDED"
    CHARGEBACK = "CHARGEBACK"


WEBHOOK_SIGNALS: dict[str, Signal] = {
    "PAYMENT_CONFIRMED": Signal.PAID,
    "PAYMENT_RECEIVED": Signal.PAID,
    "PAYMENT_OVERDUE": Signal.FAILED,
    "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED": Signal.FAILED,
    "PAYMENT_REPROVED_BY_RISK_ANALYSIS": Signal.FAILED,
    "PAYMENT_DELETED": Signal.DELETED,
    "PAYMENT_REFUND_IN_PROGRESS": Signal.REFUND_IN_PROGRESS,
    "PAYMENT_REFUNDED": Signal.REFUNDED,
    "PAYMENT_CHARGEBACK_REQUESTED": Signal.CHARGEBACK,
    "PAYMENT_CHARGEBACK_DISPUTE": Signal.CHARGEBACK,
    "PAYMENT_AWAITING_CHARGEBACK_REVERSAL": Signal.CHARGEBACK,
}
"""Asaas webhook events that change something (and the ones the service subscribes to); every
other event is stored and ignored. Partial refunds are never asked for here: not followed."""

STATUS_EVENTS: dict[str, str] = {
    "CONFIRMED": "PAYMENT_CONFIRMED",
    "RECEIVED": "PAYMENT_RECEIVED",
    "RECEIVED_IN_CASH": "PAYMENT_RECEIVED",
    "OVERDUE": "PAYMENT_OVERDUE",
    "REFUND_REQUESTED": "PAYMENT_REFUND_IN_PROGRESS",
    "REFUND_IN_PROGRESS": "PAYMENT_REFUND_IN_PROGRESS",
    "REFUNDED": "PAYMENT_REFUNDED",
    "CHARGEBACK_REQUESTED": "PAYMENT_CHARGEBACK_REQUESTED",
    "CHARGEBACK_DISPUTE": "PAYMENT_CHARGEBACK_DISPUTE",
    "AWAITING_CHARGEBACK_REVERSAL": "PAYMENT_AWAITING_CHARGEBACK_REVERSAL",
}
"""The webhook event a charge status read with `GET /v3/payments/{id}` stands for."""

FAILURE_MESSAGES = {
    "PAYMENT_OVERDUE": "The charge expired without payment.",
    "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED": "The card payment was refused.",
    "PAYMENT_REPROVED_BY_RISK_ANALYSIS": "The payment was refused by risk analysis.",
}


def signal_of(asaas_event: str) -> Signal | None:
    """What a webhook event means, or None for events that change nothing."""
    return WEBHOOK_SIGNALS.get(asaas_event)


def event_for_status(status: str, *, deleted: bool = False) -> str | None:
    """The webhook event a status read back from Asaas stands for (None: nothing to learn)."""
    if deleted:
        return "PAYMENT_DELETED"
    return STATUS_EVENTS.get(status)


class FactKind(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    REFUNDED = "REFUNDED"
    REFUND_FAILED = "REFUND_FAILED"
    CHARGEBACK = "CHARGEBACK"


@dataclass(frozen=True)
class Fact:
    """Something the payment service tells the others; the service turns it into an event."""

    kind: FactKind
    at: datetime
    asaas_event: str = ""
    detail: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class Payment:
    """One order's charge as the payment service knows it."""

    order_id: str
    client_id: str
    store_id: str
    method: PaymentMethod
    amount_cents: int
    status: ChargeStatus
    created_at: datetime
    payment_id: str | None = None
    paid_at: datetime | None = None
    refund_announced: bool = False
    """RefundRequested was published (by the refund call or by a refund webhook)."""
    refund_failed: bool = False
    chargebacks: tuple[str, ...] = field(default=())
    """Chargeback events already reported (each is reported once)."""
    attempt: int = 1
    """Which charge of the order: one more after each change of payment method."""
    unwanted: bool = False
    """Its order asked for it to be deleted (CancelPayment): money paid to it goes back, whatever
    the order service believes or learns."""

    @property
    def reference(self) -> str:
        """The charge's Asaas `externalReference` (see `charge_reference`)."""
        return charge_reference(self.order_id, self.attempt)


def charge_reference(order_id: str, attempt: int) -> str:
    """The `externalReference` of an order's charge attempt: the order id for the first, then
    `<orderId>:<attempt>`. Each attempt has its own, so looking a charge up after an unclear
    failure never finds another attempt's, whatever Asaas lists of deleted charges."""
    return order_id if attempt == 1 else f"{order_id}:{attempt}"


def _target(signal: Signal) -> ChargeStatus | None:
    return {
        Signal.PAID: ChargeStatus.PAID,
        Signal.FAILED: ChargeStatus.FAILED,
        Signal.DELETED: ChargeStatus.CANCELLED,
        Signal.REFUND_IN_PROGRESS: ChargeStatus.REFUND_PENDING,
        Signal.REFUNDED: ChargeStatus.REFUNDED,
    }.get(signal)


PaymentDecision = Decision[Payment, Fact]
"""A transition's outcome: the payment to save and the facts to publish, in order."""


def _no_change(payment: Payment) -> PaymentDecision:
    return Decision(payment, changed=False)


def on_asaas_event(payment: Payment, asaas_event: str, now: datetime) -> PaymentDecision:
    """Applies a webhook event (or the event a reconciled status stands for)."""
    signal = signal_of(asaas_event)
    if signal is None:
        return _no_change(payment)
    if signal is Signal.CHARGEBACK:
        if asaas_event in payment.chargebacks:
            return _no_change(payment)
        chargebacks = (*payment.chargebacks, asaas_event)
        fact = Fact(FactKind.CHARGEBACK, now, asaas_event=asaas_event)
        return Decision(replace(payment, chargebacks=chargebacks), (fact,))
    target = _target(signal)
    assert target is not None
    if target is payment.status:
        if target is ChargeStatus.REFUND_PENDING and not payment.refund_announced:
            return _announce_refund(payment, now, asaas_event)
        return _no_change(payment)
    if target not in ALLOWED[payment.status]:
        return _no_change(payment)  # late, duplicate or out of order: never move backwards
    moved = replace(payment, status=target)
    match target:
        case ChargeStatus.PAID:
            paid = replace(moved, paid_at=now)
            return Decision(paid, (Fact(FactKind.SUCCEEDED, now, asaas_event),))
        case ChargeStatus.FAILED:
            message = FAILURE_MESSAGES.get(asaas_event, "The payment failed.")
            return Decision(moved, (Fact(FactKind.FAILED, now, asaas_event, detail=message),))
        case ChargeStatus.CANCELLED:
            return Decision(moved, (Fact(FactKind.CANCELLED, now, asaas_event),))
        case ChargeStatus.REFUND_PENDING:
            return _announce_refund(moved, now, asaas_event)
        case _:
            return Decision(moved, (Fact(FactKind.REFUNDED, now, asaas_event),))


def _announce_refund(payment: Payment, now: datetime, asaas_event: str) -> PaymentDecision:
    announced = replace(payment, refund_announced=True)
    return Decision(announced, (Fact(FactKind.REFUND_REQUESTED, now, asaas_event),))


def created(payment: Payment, payment_id: str) -> Payment:
    """Asaas created the charge; the customer can pay it."""
    _check(payment, ChargeStatus.PENDING)
    return replace(payment, status=ChargeStatus.PENDING, payment_id=payment_id)


def creation_failed(payment: Payment) -> Payment:
    _check(payment, ChargeStatus.CREATION_FAILED)
    return replace(payment, status=ChargeStatus.CREATION_FAILED)


def retry_creation(payment: Payment) -> Payment:
    """A new RequestPayment for an order whose previous creation failed."""
    _check(payment, ChargeStatus.CREATING)
    return replace(payment, status=ChargeStatus.CREATING)


def deleted(payment: Payment, now: datetime) -> PaymentDecision:
    """Asaas deleted the pending charge at our request (same as its PAYMENT_DELETED)."""
    return on_asaas_event(payment, "PAYMENT_DELETED", now)


def cancel_requested(payment: Payment) -> PaymentDecision:
    """The order no longer wants this charge: a pending one is to be deleted and a paid one
    refunded (`refund_due`), now or whenever the money arrives."""
    if payment.unwanted:
        return _no_change(payment)
    return Decision(replace(payment, unwanted=True))


def refund_due(payment: Payment) -> bool:
    """Money was taken for a charge its order no longer wants, and no refund has begun."""
    return payment.unwanted and payment.status is ChargeStatus.PAID


def refund_requested(payment: Payment) -> PaymentDecision:
    """A refund was asked for; changed when a refund call is now due (unchanged: already under
    way). Asking again after RefundFailed starts the refund over (an operator's retry)."""
    if payment.status is ChargeStatus.REFUND_PENDING and payment.refund_failed:
        return Decision(replace(payment, refund_failed=False))
    if payment.status in (ChargeStatus.REFUND_PENDING, ChargeStatus.REFUNDED):
        return _no_change(payment)
    if payment.status is not ChargeStatus.PAID:
        raise InvalidTransition(
            f"payment of order {payment.order_id} is {payment.status}: nothing paid to refund"
        )
    return Decision(replace(payment, status=ChargeStatus.REFUND_PENDING, refund_failed=False))


def refund_accepted(payment: Payment, now: datetime) -> PaymentDecision:
    """Asaas accepted the refund call: announce it unless a refund webhook already did."""
    if payment.status is not ChargeStatus.REFUND_PENDING or payment.refund_announced:
        return _no_change(payment)
    return _announce_refund(payment, now, "")


def refund_gave_up(payment: Payment, now: datetime, reason: str, attempts: int) -> PaymentDecision:
    """Refund retries are exhausted: the payment stays REFUND_PENDING and someone must act."""
    if payment.status is not ChargeStatus.REFUND_PENDING or payment.refund_failed:
        return _no_change(payment)
    fact = Fact(FactKind.REFUND_FAILED, now, detail=reason, attempts=attempts)
    return Decision(replace(payment, refund_failed=True), (fact,))


def _check(payment: Payment, target: ChargeStatus) -> None:
    if target not in ALLOWED[payment.status]:
        raise InvalidTransition(
            f"payment of order {payment.order_id} is {payment.status}, cannot become {target}"
        )


ASAAS_TIME_ZONE = "America/Sao_Paulo"
"""Asaas judges due dates by Brasília's calendar."""


def charge_due_date(now: datetime, time_zone: str) -> date:
    """The store-local date of `now`, but never before Brasília's: late at night in a store
    west of Brasília (Manaus, Rio Branco) the local date is Brasília's yesterday, which Asaas
    refuses as a due date in the past."""
    local = now.astimezone(ZoneInfo(time_zone)).date()
    return max(local, now.astimezone(ZoneInfo(ASAAS_TIME_ZONE)).date())


def cents_to_reais(cents: int) -> Decimal:
    """Exact reais of an amount in centavos: 4480 -> Decimal('44.80'); never a float."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"centavos must be an int, not {type(cents).__name__}")
    return Decimal(cents).scaleb(-2).quantize(Decimal("0.01"))


def reais_to_cents(value: Decimal) -> int:
    """Exact centavos of a reais amount read from Asaas; more than two places is refused."""
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} reais is not a whole number of centavos")
    return int(cents)
