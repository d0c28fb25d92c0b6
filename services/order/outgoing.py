"""What the order service publishes, and where: the topic of each message its decisions imply,
and the answers to commands and POS updates it refuses (which change no order, so they go out
at once)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.order.domain.decisions import PosReport
from services.order.domain.errors import InvalidTransition, OrderError, WrongStore
from services.order.domain.order import Order
from services.order.domain.validation import Rejection
from shared.contracts.base import Envelope
from shared.contracts.limits import (
    MAX_ID_LENGTH,
    MAX_REFERENCE_LENGTH,
    error_fields,
    only_limits_exceeded,
)
from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PaymentInstructionsIssued,
    PlaceOrder,
)
from shared.contracts.payments import CancelPayment, RequestPayment, RequestRefund
from shared.contracts.pos import PosOrderCancelled, PosOrderReceived, PosUpdateRejected
from shared.contracts.scheduler import CancelTimer, ScheduleTimer
from shared.contracts.stores import StoreConfigChanged
from shared.contracts.values import ReasonCode
from shared.records import OutgoingRecord
from shared.topics import (
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    SCHEDULER_COMMANDS,
    STORES_CONFIG,
    pos_orders_topic,
)

MAX_PROBLEM_TEXT = 500
MAX_NAMED_FIELDS = 5


def topic_of(message: Envelope) -> str:
    """The topic a message of the order service goes to (a POS's own for the kitchen's)."""
    match message:
        case (
            OrderPlaced()
            | OrderRejected()
            | OrderStatusChanged()
            | OrderPaymentStatusChanged()
            | PaymentInstructionsIssued()
        ):
            return ORDERS_EVENTS
        case RequestPayment() | CancelPayment() | RequestRefund():
            return PAYMENTS_COMMANDS
        case ScheduleTimer() | CancelTimer():
            return SCHEDULER_COMMANDS
        case PosOrderReceived() | PosOrderCancelled() | PosUpdateRejected():
            return pos_orders_topic(message.client_id, message.store_id)
        case StoreConfigChanged():
            return STORES_CONFIG
    raise TypeError(f"the order service does not publish {message.event_type}")


def records_of(messages: Iterable[Envelope]) -> list[OutgoingRecord]:
    return [OutgoingRecord.of(topic_of(message), message) for message in messages]


def rejected(
    command: PlaceOrder | CancelOrder | ChangePaymentMethod,
    rejection: Rejection,
    order: Order | None,
    *,
    event_id: UUID,
    now: datetime,
) -> OrderRejected:
    """The chatbot's answer to a command the order service refuses, with whom to tell."""
    details: dict[str, str | int | None]
    if isinstance(command, PlaceOrder):
        details = {
            "command_id": command.command_id,
            "phone_number": command.customer.phone_number,
            "customer_name": command.customer.name,
        }
    else:
        details = {
            "order_id": command.order_id,
            "order_number": order.order_number if order else None,
            "phone_number": order.phone_number if order else None,
            "customer_name": order.customer_name if order else None,
        }
    return OrderRejected.caused_by(
        command,
        event_id=event_id,
        now=now,
        reason_code=rejection.reason_code,
        message=rejection.message,
        **details,
    )


def unreadable(
    payload: Mapping[str, Any],
    problem: str,
    errors: Sequence[Mapping[str, Any]] = (),
    *,
    event_id: UUID,
    now: datetime,
) -> OrderRejected | None:
    """The answer to an unreadable command, when it names whom to tell (else None): beyond a
    limit (LIMIT_EXCEEDED, naming the fields), or malformed."""
    client_id = _fitting(payload.get("clientId"), MAX_ID_LENGTH)
    correlation_id = _fitting(payload.get("correlationId"), MAX_REFERENCE_LENGTH)
    if client_id is None or correlation_id is None:
        return None
    if only_limits_exceeded(errors):
        reason_code = ReasonCode.LIMIT_EXCEEDED
        fields = error_fields(errors)
        message = f"O pedido passa dos limites aceitos em: {', '.join(fields[:MAX_NAMED_FIELDS])}."
    else:
        reason_code = ReasonCode.MALFORMED_COMMAND
        message = f"Não foi possível ler o pedido: {problem}"
    return OrderRejected(
        event_id=event_id,
        occurred_at=now,
        correlation_id=correlation_id,
        causation_id=_fitting(payload.get("eventId"), MAX_REFERENCE_LENGTH),
        client_id=client_id,
        store_id=_fitting(payload.get("storeId"), MAX_ID_LENGTH) or "unknown",
        command_id=_fitting(payload.get("commandId"), MAX_REFERENCE_LENGTH),
        reason_code=reason_code,
        message=message[:MAX_PROBLEM_TEXT],
    )


def pos_update_refused(
    update: PosReport,
    error: OrderError,
    order: Order | None,
    store: tuple[str, str],
    *,
    event_id: UUID,
    now: datetime,
) -> PosUpdateRejected:
    """The POS's answer to an update the order refused (`order` as it was read, if it was).
    Only an order of the POS's own store is described; another restaurant's is not found."""
    fields: dict[str, Any]
    if isinstance(error, InvalidTransition) and order is not None:
        fields = {
            "reason": ReasonCode.TRANSITION_NOT_ALLOWED,
            "order_number": order.order_number,
            "current_status": error.current,
            "detail": str(error),
        }
    elif isinstance(error, WrongStore) and order is not None and order.client_id == store[0]:
        fields = {"reason": ReasonCode.WRONG_STORE, "detail": str(error)}
    else:  # no such order, the POS never received it, or another restaurant's
        fields = {
            "reason": ReasonCode.ORDER_NOT_FOUND,
            "detail": f"order {update.order_id} is not an order this POS received",
        }
    ours = order is not None and (order.client_id, order.store_id) == store
    # The order's conversation turn, unless the order is another store's.
    same_turn = order.correlation_id if ours and order is not None else None
    return PosUpdateRejected(
        event_id=event_id,
        occurred_at=now,
        correlation_id=update.correlation_id or same_turn or str(update.event_id),
        causation_id=str(update.event_id),
        client_id=store[0],
        store_id=store[1],
        order_id=update.order_id,
        refused_event_id=str(update.event_id),
        **fields,
    )


def unreadable_pos_update(
    payload: Mapping[str, Any],
    problem: str,
    store: tuple[str, str],
    *,
    event_id: UUID,
    now: datetime,
) -> PosUpdateRejected:
    """The POS's answer to an update it sent that could not be read, with what it named."""
    refused = _fitting(payload.get("eventId"), MAX_REFERENCE_LENGTH)
    return PosUpdateRejected(
        event_id=event_id,
        occurred_at=now,
        correlation_id=_fitting(payload.get("correlationId"), MAX_REFERENCE_LENGTH)
        or refused
        or str(event_id),
        causation_id=refused,
        client_id=store[0],
        store_id=store[1],
        order_id=_fitting(payload.get("orderId"), MAX_REFERENCE_LENGTH),
        refused_event_id=refused,
        reason=ReasonCode.MALFORMED_UPDATE,
        detail=problem,
    )


def _fitting(value: Any, limit: int) -> str | None:
    """`value` if it is text the answer can carry (1 to `limit` characters), else None."""
    return value if isinstance(value, str) and 0 < len(value) <= limit else None
