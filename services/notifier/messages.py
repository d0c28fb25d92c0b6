"""What a customer message is: the events that may send one, the message and its ledger id, and
the order summary its text and template variables name. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from services.notifier.words import (
    UNKNOWN_CUSTOMER_NAME,
    UNKNOWN_DELIVERY_TIME,
    UNKNOWN_STORE_NAME,
    plain_text,
)
from shared.contracts.base import format_brl
from shared.contracts.limits import MAX_DELIVERY_TIME_LENGTH, MAX_NAME_LENGTH
from shared.contracts.orders import (
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PaymentInstructionsIssued,
)
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import NotificationKind, OrderStatus

CustomerEvent = (
    OrderPlaced
    | OrderStatusChanged
    | OrderPaymentStatusChanged
    | PaymentInstructionsIssued
    | OrderRejected
)
"""The events of `orders.events` that may send a message to the customer."""
CUSTOMER_EVENTS = (
    OrderPlaced,
    OrderStatusChanged,
    OrderPaymentStatusChanged,
    PaymentInstructionsIssued,
    OrderRejected,
)


@dataclass(frozen=True)
class CustomerMessage:
    """One WhatsApp message due to the customer because of one event."""

    kind: NotificationKind
    to: str
    body: str
    order_id: str | None
    template_keys: tuple[str, ...]
    """Keys of the approved template to use instead (first configured one wins)."""
    template_variables: Mapping[str, str] = field(default_factory=dict)
    """Twilio ContentVariables: 1 customer name, 2 order number, 3 total, 4 store name, 5 detail."""
    media_url: str | None = None
    """An image sent beside the body (Twilio MediaUrl): the PIX QR code."""
    sender: str | None = None
    """The store's own WhatsApp sender (`whatsapp:+...`); None: the platform's."""
    store_templates: Mapping[str, str] = field(default_factory=dict)
    """The store's own approved templates; when it has any, the platform's are not used."""
    status: OrderStatus | None = None
    """The order status an ORDER_STATUS message tells."""

    def notification_id(self, source_event_id: UUID) -> str:
        """The ledger id: one message per (source event, kind)."""
        return notification_id(source_event_id, self.kind)

    def template_sid(self, platform_templates: Mapping[str, str]) -> str | None:
        """The ContentSid configured for this message (the store's, else the platform's)."""
        templates = self.store_templates or platform_templates
        return next((templates[key] for key in self.template_keys if key in templates), None)


def notification_id(source_event_id: UUID, kind: NotificationKind) -> str:
    """The ledger id of the message of `kind` that `source_event_id` sends."""
    return f"{source_event_id}:{kind.value}"


@dataclass(frozen=True)
class OrderSummary:
    """What a message says of its order, with words in place of what the event does not know."""

    order_id: str
    total_cents: int
    customer_name: str | None
    delivery_time: str | None
    store_name: str | None
    order_number: int | None = None

    @property
    def number(self) -> str:
        """How the customer knows the order (one placed before numbers existed: by its id)."""
        return self.order_id if self.order_number is None else str(self.order_number)

    def placeholders(self, config: StoreOrderConfig) -> dict[str, str]:
        """The values of a status template's `{placeholders}`."""
        return {
            "order_number": self.number,
            "order_id": self.order_id,
            "total": format_brl(self.total_cents),
            "delivery_time": plain_text(self.delivery_time, MAX_DELIVERY_TIME_LENGTH)
            or UNKNOWN_DELIVERY_TIME,
            "store_name": plain_text(config.store_name or self.store_name, MAX_NAME_LENGTH)
            or UNKNOWN_STORE_NAME,
            "customer_name": self.customer_name or UNKNOWN_CUSTOMER_NAME,
        }

    def variables(self, config: StoreOrderConfig, detail: str) -> dict[str, str]:
        """The approved template's variables (`CustomerMessage.template_variables`)."""
        values = self.placeholders(config)
        return {
            "1": values["customer_name"],
            "2": values["order_number"],
            "3": values["total"],
            "4": values["store_name"],
            "5": detail or "-",
        }
