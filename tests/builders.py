"""The messages tests send, built one way: the envelope fields and the common commands.

Every builder takes any field by its snake_case name, overriding its default; what a test leaves
out is a valid, typical value (restaurant `rest-1`, store `store-1`, a fresh conversation turn).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from shared.contracts.base import Envelope
from shared.contracts.orders import CancelOrder, ChangePaymentMethod, PlaceOrder
from shared.contracts.pos import PosUpdate
from shared.contracts.scheduler import CancelTimer, ScheduleTimer, TimerPurpose

CLIENT = "rest-1"
STORE = "store-1"
PHONE = "+5511987654321"
VALID_CPF = "529.982.247-25"

E = TypeVar("E", bound=Envelope)
P = TypeVar("P", bound=PosUpdate)


def now() -> datetime:
    return datetime.now(UTC)


def new_turn() -> str:
    """A fresh conversation turn (`correlationId`), as the chatbot starts one per message."""
    return f"turn-{uuid.uuid4().hex[:8]}"


def message_fields(**fields: Any) -> dict[str, Any]:
    """A fresh `eventId` and `occurredAt` now: all a POS update must carry."""
    return {"event_id": uuid.uuid4(), "occurred_at": now()} | fields


def envelope(**fields: Any) -> dict[str, Any]:
    """The envelope fields of a command or event (snake_case, for the constructors)."""
    return message_fields(correlation_id=new_turn(), client_id=CLIENT, store_id=STORE) | fields


def customer(**fields: Any) -> dict[str, Any]:
    """A customer who may pay online (a valid CPF)."""
    return {
        "customer_id": "cust-1",
        "phone_number": PHONE,
        "name": "Ana",
        "cpf": VALID_CPF,
    } | fields


def item(
    item_id: str = "x-burger",
    name: str = "X-Burger",
    *,
    quantity: int = 1,
    unit_price: str = "18.90",
) -> dict[str, Any]:
    return {"item_id": item_id, "name": name, "quantity": quantity, "unit_price": unit_price}


def place_order(method: str = "CASH", **fields: Any) -> PlaceOrder:
    """A valid order of two X-Burgers (R$ 37,80) for pick-up, with a fresh `commandId`."""
    return PlaceOrder.model_validate(
        envelope()
        | {
            "command_id": f"cmd-{uuid.uuid4().hex[:8]}",
            "customer": customer(),
            "items": [item(quantity=2)],
            "delivery": {"type": "PICKUP", "fee": "0"},
            "payment_method": method,
        }
        | fields
    )


def cancel_order(order_id: str, **fields: Any) -> CancelOrder:
    return CancelOrder.model_validate(envelope(order_id=order_id) | fields)


def change_payment_method(order_id: str, method: str, **fields: Any) -> ChangePaymentMethod:
    return ChangePaymentMethod.model_validate(
        envelope(order_id=order_id, payment_method=method) | fields
    )


def schedule_timer(timer_id: str, due_at: datetime, **fields: Any) -> ScheduleTimer:
    """A confirmation deadline at `due_at`, unless `purpose` says otherwise."""
    return ScheduleTimer.model_validate(
        envelope(timer_id=timer_id, due_at=due_at, purpose=TimerPurpose.CONFIRMATION_DEADLINE)
        | fields
    )


def cancel_timer(timer_id: str, **fields: Any) -> CancelTimer:
    return CancelTimer.model_validate(envelope(timer_id=timer_id) | fields)


def pos_update(kind: type[P], order_id: str, **fields: Any) -> P:
    """A POS report on `order_id` (the store is the topic it is sent on)."""
    return kind.model_validate(message_fields(order_id=order_id) | fields)


def caused(cause: Envelope, kind: type[E], **fields: Any) -> E:
    """A message answering `cause`, as the payment service or the scheduler would send it."""
    return kind.caused_by(cause, event_id=uuid.uuid4(), now=now(), **fields)
