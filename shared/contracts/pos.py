"""Messages on the per-store POS topics: orders to the POS and updates from it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.contracts.base import (
    ORDER_NUMBER_DESCRIPTION,
    TYPE_NAME_DESCRIPTION,
    DeliveryTime,
    Envelope,
    Message,
    OrderNumber,
    Reason,
    Reference,
    UtcDatetime,
    clipped,
)
from shared.contracts.limits import MAX_ID_LENGTH, MAX_MESSAGE_LENGTH
from shared.contracts.order_data import OrderSnapshot
from shared.contracts.values import OrderStatus, PosStatus, ReasonCode

# To the POS, on `pos.<clientId>.<storeId>.orders`


class PosOrderReceived(Envelope):
    """An order for the kitchen: paid online, or cash."""

    event_type: Literal["PosOrderReceived"] = Field(
        default="PosOrderReceived", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    order: OrderSnapshot = Field(description="The full order, amounts in centavos.")
    awaiting_confirmation: bool = Field(
        description="True if the restaurant must confirm (PosOrderConfirmed) or reject it."
    )
    confirm_by: UtcDatetime | None = Field(
        default=None,
        description="Deadline for the confirmation (UTC); null when there is none or none is "
        "awaited.",
    )


class PosOrderCancelled(Envelope):
    """The order is cancelled: stop preparing it."""

    event_type: Literal["PosOrderCancelled"] = Field(
        default="PosOrderCancelled", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    reason: ReasonCode = Field(
        description="Why, e.g. `CONFIRMATION_TIMEOUT`, `CUSTOMER_CANCELLED`, `ALREADY_CANCELLED`."
    )


class PosUpdateRejected(Envelope):
    """An update of the POS was refused: nothing changed, and this says why."""

    event_type: Literal["PosUpdateRejected"] = Field(
        default="PosUpdateRejected", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference | None = Field(
        default=None, description="The order the update named, when it could be read."
    )
    order_number: OrderNumber | None = Field(
        default=None, description="That order's number, when it is an order of this store."
    )
    refused_event_id: Reference | None = Field(
        default=None, description="`eventId` of the refused update, when it could be read."
    )
    reason: ReasonCode = Field(
        description="Why: `ORDER_NOT_FOUND` (no such order, or the POS never received it), "
        "`WRONG_STORE` (an order of another store), `TRANSITION_NOT_ALLOWED` (the lifecycle "
        "does not allow it from `currentStatus`) or `MALFORMED_UPDATE` (unreadable; it is "
        "dead-lettered too)."
    )
    current_status: OrderStatus | None = Field(
        default=None, description="The order's status now, when it is an order of this store."
    )
    detail: Annotated[str, clipped(MAX_MESSAGE_LENGTH)] = Field(
        default="",
        description="What was wrong, for the POS's developers (field paths for an unreadable "
        "update, never its values).",
    )


# From the POS, on `pos.<clientId>.<storeId>.updates`


class PosUpdate(Message):
    """Base of the POS's messages: only `eventType`, `eventId` and `occurredAt` are required."""

    correlation_id: Reference | None = Field(
        default=None, description="Optional; the order's correlation id is used when absent."
    )
    causation_id: Reference | None = Field(
        default=None, description="Optional: `eventId` of the message this answers."
    )
    client_id: str | None = Field(
        default=None,
        max_length=MAX_ID_LENGTH,
        description="Optional and informative only: the store is the topic the update came on.",
    )
    store_id: str | None = Field(
        default=None,
        max_length=MAX_ID_LENGTH,
        description="Optional and informative only: the store is the topic the update came on.",
    )


class PosOrderConfirmed(PosUpdate):
    """The restaurant confirms the order."""

    event_type: Literal["PosOrderConfirmed"] = Field(
        default="PosOrderConfirmed", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")


class PosOrderRejected(PosUpdate):
    """The restaurant refuses the order, or cancels it later where the transitions allow."""

    event_type: Literal["PosOrderRejected"] = Field(
        default="PosOrderRejected", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")
    reason: Reason = Field(
        description="The restaurant's reason, told to the customer (at most 500 characters)."
    )


class PosOrderStatusUpdated(PosUpdate):
    """The kitchen moved the order along."""

    event_type: Literal["PosOrderStatusUpdated"] = Field(
        default="PosOrderStatusUpdated", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")
    status: PosStatus = Field(description="PREPARING, READY, DELIVERING, DELIVERED or COMPLETED.")
    delivery_time: DeliveryTime | None = Field(
        default=None,
        description="Estimated delivery or pick-up time, e.g. `30 minutos` (at most 100 "
        "characters).",
    )
