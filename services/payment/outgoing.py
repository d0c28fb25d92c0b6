"""The one place where what the payment service learned becomes messages on `payments.events`."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from services.payment.domain import Fact, FactKind, Payment
from services.payment.ports import PaymentRecord
from shared.contracts.base import Envelope
from shared.contracts.payments import (
    PaymentCancelled,
    PaymentChargebackReported,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentInstructions,
    PaymentRefunded,
    PaymentSucceeded,
    RefundFailed,
    RefundRequested,
    RequestPayment,
)
from shared.records import OutgoingRecord
from shared.topics import PAYMENTS_EVENTS

REFUND_FACTS = frozenset({FactKind.REFUND_REQUESTED, FactKind.REFUNDED, FactKind.REFUND_FAILED})
"""Facts that answer a RequestRefund: they carry its envelope, not the RequestPayment's."""


def _message(fact: Fact, payment: Payment, envelope: dict[str, Any]) -> Envelope:
    common = envelope | {
        "order_id": payment.order_id,
        "attempt": payment.attempt,
        "payment_id": payment.payment_id,
    }
    match fact.kind:
        case FactKind.SUCCEEDED:
            return PaymentSucceeded(**common, amount_cents=payment.amount_cents, paid_at=fact.at)
        case FactKind.FAILED:
            return PaymentFailed(**common, reason=fact.asaas_event, message=fact.detail)
        case FactKind.CANCELLED:
            return PaymentCancelled(**common)
        case FactKind.REFUND_REQUESTED:
            return RefundRequested(**common, amount_cents=payment.amount_cents)
        case FactKind.REFUNDED:
            return PaymentRefunded(**common, amount_cents=payment.amount_cents, refunded_at=fact.at)
        case FactKind.REFUND_FAILED:
            return RefundFailed(**common, reason=fact.detail, attempts=max(1, fact.attempts))
        case FactKind.CHARGEBACK:
            return PaymentChargebackReported(**common, asaas_event=fact.asaas_event)


class PaymentMessages:
    """The payment service's events, each with a fresh id and time, keyed by restaurant."""

    def __init__(
        self, clock: Callable[[], datetime], new_id: Callable[[], uuid.UUID] = uuid.uuid4
    ) -> None:
        self._clock = clock
        self._new_id = new_id

    def of_facts(
        self, record: PaymentRecord, facts: Iterable[Fact], cause: Envelope | None = None
    ) -> list[OutgoingRecord]:
        """The events of the payment's `facts`, caused by `cause` when given, else by the
        command that started the payment (or its refund, for refund facts)."""
        return [
            OutgoingRecord.of(
                PAYMENTS_EVENTS, _message(fact, record.payment, self._envelope(record, fact, cause))
            )
            for fact in facts
        ]

    def created(
        self, command: RequestPayment, payment_id: str, instructions: PaymentInstructions
    ) -> list[OutgoingRecord]:
        return self._answer(
            command,
            PaymentCreated,
            payment_id=payment_id,
            method=command.payment_method,
            amount_cents=command.amount_cents,
            instructions=instructions,
        )

    def creation_failed(
        self, command: RequestPayment, reason_code: str, message: str, *, retryable: bool
    ) -> list[OutgoingRecord]:
        return self._answer(
            command,
            PaymentCreationFailed,
            reason_code=reason_code,
            message=message,
            retryable=retryable,
        )

    def _answer(
        self, command: RequestPayment, kind: type[Envelope], **fields: Any
    ) -> list[OutgoingRecord]:
        answer = kind.caused_by(
            command,
            event_id=self._new_id(),
            now=self._clock(),
            order_id=command.order_id,
            attempt=command.attempt,
            **fields,
        )
        return [OutgoingRecord.of(PAYMENTS_EVENTS, answer)]

    def _envelope(
        self, record: PaymentRecord, fact: Fact, cause: Envelope | None
    ) -> dict[str, Any]:
        if cause is not None:
            correlation_id, causation_id = cause.correlation_id, str(cause.event_id)
        elif fact.kind in REFUND_FACTS and record.refund is not None:
            correlation_id, causation_id = record.refund.correlation_id, record.refund.causation_id
        else:
            correlation_id, causation_id = record.correlation_id, record.causation_id
        return {
            "event_id": self._new_id(),
            "occurred_at": self._clock(),
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "client_id": record.payment.client_id,
            "store_id": record.payment.store_id,
        }
