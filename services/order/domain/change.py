"""How an order decision is built: its cause, and the change that accumulates field updates,
status history and the messages they imply. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from services.order.domain.errors import InvalidTransition
from services.order.domain.lifecycle import is_allowed
from services.order.domain.order import Order
from shared.contracts.base import Envelope
from shared.contracts.order_data import StatusHistoryEntry
from shared.contracts.orders import OrderPaymentStatusChanged, OrderStatusChanged
from shared.contracts.scheduler import CancelTimer, ScheduleTimer, TimerPurpose
from shared.contracts.values import Actor, OrderStatus, PaymentStatus, ReasonCode
from shared.decision import Decision


@dataclass(frozen=True)
class Cause:
    """Why a decision is taken: its conversation turn, the message answered, and the time."""

    correlation_id: str
    causation_id: str | None
    now: datetime
    new_id: Callable[[], UUID]

    @classmethod
    def of(cls, message: Envelope, now: datetime, new_id: Callable[[], UUID]) -> Cause:
        return cls(message.correlation_id, str(message.event_id), now, new_id)


OrderDecision = Decision[Order, Envelope]
"""The order as it must be saved, and the messages it implies."""


def timer_id(order_id: str, purpose: TimerPurpose) -> str:
    """The scheduler timer of an order's deadline, e.g. `<orderId>:confirmation`."""
    suffix = "payment" if purpose is TimerPurpose.PAYMENT_DEADLINE else "confirmation"
    return f"{order_id}:{suffix}"


class Change:
    """Accumulates one decision: field updates, history, and the messages they imply."""

    def __init__(self, order: Order, cause: Cause) -> None:
        self.order = order
        self.cause = cause
        self.messages: list[Envelope] = []
        self.changed = False

    @property
    def now(self) -> datetime:
        return self.cause.now

    def update(self, **fields: Any) -> None:
        self.order = self.order.model_copy(update=fields | {"updated_at": self.now})
        self.changed = True

    def emit(self, message_type: type[Envelope], **fields: Any) -> None:
        envelope = {
            "event_id": self.cause.new_id(),
            "occurred_at": self.now,
            "correlation_id": self.cause.correlation_id,
            "causation_id": self.cause.causation_id,
            "client_id": self.order.client_id,
            "store_id": self.order.store_id,
        }
        self.messages.append(message_type(**(envelope | fields)))

    def to_pos(self, message_type: type[Envelope], **fields: Any) -> None:
        self.emit(
            message_type,
            order_id=self.order.order_id,
            order_number=self.order.order_number,
            **fields,
        )

    def status(
        self,
        to: OrderStatus,
        by: Actor,
        *,
        notes: str,
        reason: str | None = None,
        reason_code: ReasonCode | None = None,
    ) -> None:
        current = self.order.status
        if not is_allowed(current, to):
            raise InvalidTransition(self.order.order_id, current, to)
        entry = StatusHistoryEntry(status=to, timestamp=self.now, by=by, notes=notes)
        self.update(status=to, status_history=[*self.order.status_history, entry])
        self.emit(
            OrderStatusChanged,
            order_id=self.order.order_id,
            order_number=self.order.order_number,
            from_status=current,
            to_status=to,
            by=by,
            reason=reason,
            reason_code=reason_code,
            at=self.now,
            phone_number=self.order.phone_number,
            customer_name=self.order.customer_name,
            total_cents=self.order.total_cents,
            delivery_time=self.order.delivery_time,
            store_name=self.order.policy.store_name,
            delivery_type=self.order.delivery_type,
            payment_status=self.order.payment_status,
        )

    def payment(self, to: PaymentStatus, *, reason: str | None = None) -> None:
        current = self.order.payment_status
        self.update(payment_status=to)
        self.emit(
            OrderPaymentStatusChanged,
            order_id=self.order.order_id,
            order_number=self.order.order_number,
            from_status=current,
            to_status=to,
            reason=reason,
            at=self.now,
            phone_number=self.order.phone_number,
            customer_name=self.order.customer_name,
            total_cents=self.order.total_cents,
            payment_method=self.order.payment_method,
            order_status=self.order.status,
            requires_confirmation=self.order.requires_confirmation,
        )

    def schedule(self, purpose: TimerPurpose, due_at: datetime) -> None:
        self.emit(
            ScheduleTimer,
            timer_id=timer_id(self.order.order_id, purpose),
            due_at=due_at,
            purpose=purpose,
            order_id=self.order.order_id,
        )

    def clear_deadline(self, purpose: TimerPurpose) -> None:
        """The deadline no longer applies: gone from the order, and its timer cancelled unless
        it came due already (then it fired or is firing, and finds nothing left to do)."""
        deadlines = self.order.deadlines
        if purpose is TimerPurpose.PAYMENT_DEADLINE:
            due = deadlines.payment
            cleared: dict[str, Any] = {"deadlines": deadlines.model_copy(update={"payment": None})}
        else:
            due = deadlines.confirmation
            cleared = {
                "deadlines": deadlines.model_copy(update={"confirmation": None}),
                "confirmation_timeout": None,
                "refund_timeout": None,
            }
        if due is None:
            return
        self.update(**cleared)
        if due > self.now:
            self.emit(CancelTimer, timer_id=timer_id(self.order.order_id, purpose))

    def decision(self) -> OrderDecision:
        return Decision(self.order, tuple(self.messages), self.changed)
