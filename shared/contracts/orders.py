"""Order commands (`orders.commands`) and order events (`orders.events`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.base import (
    ORDER_NUMBER_DESCRIPTION,
    TYPE_NAME_DESCRIPTION,
    Cents,
    DeliveryTime,
    Envelope,
    Name,
    OrderNumber,
    PhoneNumber,
    Reason,
    Reference,
    UtcDatetime,
)
from shared.contracts.limits import (
    MAX_ITEMS,
    MAX_MESSAGE_LENGTH,
)
from shared.contracts.order_data import Customer, Delivery, OrderSnapshot, PlaceOrderItem
from shared.contracts.payments import Attempt, PaymentInstructions
from shared.contracts.values import (
    Actor,
    DeliveryType,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    ReasonCode,
)

# Commands


class PlaceOrder(Envelope):
    """Place an order (the chatbot's `create_order`); repeated `commandId`s yield the same order."""

    event_type: Literal["PlaceOrder"] = Field(
        default="PlaceOrder", description=TYPE_NAME_DESCRIPTION
    )
    command_id: Reference = Field(description="Idempotency key chosen by the chatbot.")
    customer: Customer = Field(description="Who orders.")
    items: list[PlaceOrderItem] = Field(
        min_length=1, max_length=MAX_ITEMS, description="What is ordered (1 to 100 lines)."
    )
    delivery: Delivery = Field(description="Delivery or pick-up, and the delivery fee.")
    payment_method: PaymentMethod = Field(description="PIX, CREDIT, DEBIT or CASH.")


class CancelOrder(Envelope):
    """The customer cancels an order (allowed while it is PENDING)."""

    event_type: Literal["CancelOrder"] = Field(
        default="CancelOrder", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order to cancel.")
    reason: Reason | None = Field(default=None, description="The customer's reason, if given.")


class ChangePaymentMethod(Envelope):
    """The customer pays an unpaid order another way (allowed while it is PENDING, unpaid and
    before its payment deadline): its charge is deleted and a new one made, or, for CASH, the
    order goes to the POS. Answered by OrderPaymentStatusChanged (reason
    `PAYMENT_METHOD_CHANGED`) or OrderRejected."""

    event_type: Literal["ChangePaymentMethod"] = Field(
        default="ChangePaymentMethod", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order whose payment method changes.")
    payment_method: PaymentMethod = Field(
        description="The new method (PIX, CREDIT, DEBIT or CASH): one the store accepts, other "
        "than the order's current one."
    )


# Events


class OrderPlaced(Envelope):
    """An order was accepted and persisted."""

    event_type: Literal["OrderPlaced"] = Field(
        default="OrderPlaced", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The new order's id.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    command_id: Reference = Field(description="The `commandId` of the PlaceOrder that created it.")
    order: OrderSnapshot = Field(description="The order as created.")


class OrderRejected(Envelope):
    """A command was refused; nothing was persisted."""

    event_type: Literal["OrderRejected"] = Field(
        default="OrderRejected", description=TYPE_NAME_DESCRIPTION
    )
    command_id: Reference | None = Field(
        default=None, description="`commandId` of the refused PlaceOrder, if it could be read."
    )
    order_id: Reference | None = Field(
        default=None,
        description="The order concerned, for a refused CancelOrder or ChangePaymentMethod.",
    )
    order_number: OrderNumber | None = Field(
        default=None, description="The number of the order concerned, when it exists."
    )
    reason_code: ReasonCode = Field(description="Why the command was refused.")
    message: str = Field(
        max_length=MAX_MESSAGE_LENGTH,
        description="Human-readable explanation (pt-BR, fit for the customer).",
    )
    phone_number: PhoneNumber | None = Field(
        default=None, description="Customer's WhatsApp number, if known, so they can be told."
    )
    customer_name: Name | None = Field(default=None, description="Customer's name, if known.")


class OrderStatusChanged(Envelope):
    """An order changed status; carries what the notifier needs to tell the customer."""

    event_type: Literal["OrderStatusChanged"] = Field(
        default="OrderStatusChanged", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    from_status: OrderStatus = Field(description="Status before the change.")
    to_status: OrderStatus = Field(description="Status after the change.")
    by: Actor = Field(description="Who made the change.")
    reason: Reason | None = Field(
        default=None,
        description="Why: a reason code (e.g. `CONFIRMATION_TIMEOUT`) or the restaurant's or "
        "customer's own words.",
    )
    reason_code: ReasonCode | None = Field(
        default=None, description="Machine-readable reason, when the change has one."
    )
    at: UtcDatetime = Field(description="When the change happened (UTC).")
    phone_number: PhoneNumber = Field(description="Customer's WhatsApp number (E.164).")
    customer_name: Name = Field(description="Customer's name.")
    total_cents: Cents = Field(description="Order total, in centavos.")
    delivery_time: DeliveryTime | None = Field(
        default=None, description="Estimated delivery or pick-up time, if the restaurant gave one."
    )
    store_name: Name | None = Field(default=None, description="Store's display name, if known.")
    delivery_type: DeliveryType | None = Field(
        default=None,
        description="DELIVERY or PICKUP, if known (a pickup order is not told it "
        "leaves for delivery).",
    )
    payment_status: PaymentStatus | None = Field(
        default=None, description="The order's payment status when its status changed, if known."
    )


class OrderPaymentStatusChanged(Envelope):
    """An order's payment status changed."""

    event_type: Literal["OrderPaymentStatusChanged"] = Field(
        default="OrderPaymentStatusChanged", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    from_status: PaymentStatus = Field(description="Payment status before the change.")
    to_status: PaymentStatus = Field(description="Payment status after the change.")
    reason: Reason | None = Field(
        default=None,
        description="Why, e.g. the Asaas event `PAYMENT_OVERDUE`, or `PAYMENT_METHOD_CHANGED` "
        "when the customer chose another method (then from PENDING or FAILED to PENDING, or to "
        "NOT_APPLICABLE for CASH).",
    )
    at: UtcDatetime = Field(description="When the change happened (UTC).")
    phone_number: PhoneNumber = Field(description="Customer's WhatsApp number (E.164).")
    customer_name: Name | None = Field(default=None, description="Customer's name.")
    total_cents: Cents = Field(description="Order total, in centavos.")
    payment_method: PaymentMethod | None = Field(
        default=None,
        description="The order's payment method after the change (absent from events published "
        "before it was added).",
    )
    order_status: OrderStatus | None = Field(
        default=None, description="The order's status when its payment status changed, if known."
    )
    requires_confirmation: bool | None = Field(
        default=None,
        description="Whether the restaurant must confirm the order once it is paid, if known.",
    )


class PaymentInstructionsIssued(Envelope, PaymentInstructions):
    """The customer can pay: PIX copy-and-paste code and QR image, or the card page URL."""

    event_type: Literal["PaymentInstructionsIssued"] = Field(
        default="PaymentInstructionsIssued", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order to pay.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    payment_method: PaymentMethod = Field(description="PIX, CREDIT or DEBIT.")
    phone_number: PhoneNumber = Field(description="Customer's WhatsApp number (E.164).")
    customer_name: Name | None = Field(default=None, description="Customer's name.")
    total_cents: Cents = Field(description="Amount to pay, in centavos.")
    attempt: Attempt = Field(
        default=1,
        description="Which charge of the order these instructions pay: more than 1 after the "
        "customer changed the payment method (ChangePaymentMethod).",
    )
