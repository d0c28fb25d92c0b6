"""The closed vocabularies of the contracts: statuses, payment methods, actors and reason codes."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """Lifecycle status of an order (the source design's statuses)."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    PREPARING = "PREPARING"
    READY = "READY"
    DELIVERING = "DELIVERING"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


class PaymentStatus(StrEnum):
    """Payment status of an order; NOT_APPLICABLE for cash, CANCELLED for an online order
    cancelled before it was paid (its charge deleted, nothing owed)."""

    NOT_APPLICABLE = "NOT_APPLICABLE"
    PENDING = "PENDING"
    PAID = "PAID"
    FAILED = "FAILED"
    REFUND_PENDING = "REFUND_PENDING"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"


class PaymentMethod(StrEnum):
    """How the customer pays: online through Asaas (PIX, CREDIT, DEBIT) or CASH on delivery."""

    PIX = "PIX"
    CREDIT = "CREDIT"
    DEBIT = "DEBIT"
    CASH = "CASH"

    @property
    def is_online(self) -> bool:
        """True for the methods charged through Asaas before the kitchen sees the order."""
        return self is not PaymentMethod.CASH


class Actor(StrEnum):
    """Who made a change (`statusHistory[].by`)."""

    SYSTEM = "SYSTEM"
    RESTAURANT = "RESTAURANT"
    CUSTOMER = "CUSTOMER"
    PAYMENT = "PAYMENT"


class DeliveryType(StrEnum):
    """Whether the order is delivered or picked up at the store."""

    DELIVERY = "DELIVERY"
    PICKUP = "PICKUP"


class PosStatus(StrEnum):
    """The statuses a POS may report in `PosOrderStatusUpdated`."""

    PREPARING = "PREPARING"
    READY = "READY"
    DELIVERING = "DELIVERING"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"

    @property
    def order_status(self) -> OrderStatus:
        """The order status this POS status moves the order to."""
        return OrderStatus(self.value)


class ReasonCode(StrEnum):
    """Machine-readable reasons: why a command was refused or an order was cancelled."""

    # Why an order was cancelled.
    CONFIRMATION_TIMEOUT = "CONFIRMATION_TIMEOUT"
    PAYMENT_TIMEOUT = "PAYMENT_TIMEOUT"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_CREATION_FAILED = "PAYMENT_CREATION_FAILED"
    CUSTOMER_CANCELLED = "CUSTOMER_CANCELLED"
    RESTAURANT_REJECTED = "RESTAURANT_REJECTED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    # Answer to the POS when it confirms an order that is already cancelled.
    ALREADY_CANCELLED = "ALREADY_CANCELLED"
    # Why a POS update was refused (PosUpdateRejected; ORDER_NOT_FOUND too).
    WRONG_STORE = "WRONG_STORE"
    TRANSITION_NOT_ALLOWED = "TRANSITION_NOT_ALLOWED"
    MALFORMED_UPDATE = "MALFORMED_UPDATE"
    # Why a PlaceOrder was refused.
    MALFORMED_COMMAND = "MALFORMED_COMMAND"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    UNKNOWN_STORE = "UNKNOWN_STORE"
    STORE_CLOSED = "STORE_CLOSED"
    PAYMENT_METHOD_NOT_ACCEPTED = "PAYMENT_METHOD_NOT_ACCEPTED"
    BELOW_MINIMUM_ORDER_VALUE = "BELOW_MINIMUM_ORDER_VALUE"
    INVALID_ITEMS = "INVALID_ITEMS"
    INVALID_DELIVERY = "INVALID_DELIVERY"
    CPF_REQUIRED = "CPF_REQUIRED"
    INVALID_CPF = "INVALID_CPF"
    # Why a CancelOrder (or a POS update) was refused.
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    CANCELLATION_NOT_ALLOWED = "CANCELLATION_NOT_ALLOWED"
    # Why a ChangePaymentMethod was refused (ORDER_NOT_FOUND, PAYMENT_METHOD_NOT_ACCEPTED and
    # CPF_REQUIRED too).
    ORDER_NOT_PENDING = "ORDER_NOT_PENDING"
    ALREADY_PAID = "ALREADY_PAID"
    ALREADY_RELEASED = "ALREADY_RELEASED"
    PAYMENT_DEADLINE_PASSED = "PAYMENT_DEADLINE_PASSED"
    SAME_PAYMENT_METHOD = "SAME_PAYMENT_METHOD"
    TOO_MANY_PAYMENT_CHANGES = "TOO_MANY_PAYMENT_CHANGES"


PAYMENT_METHOD_CHANGED = "PAYMENT_METHOD_CHANGED"
"""The `reason` of the OrderPaymentStatusChanged a ChangePaymentMethod makes: its readers (the
notifier, the chatbot) tell the customer of the new method, not of a payment."""


class NotificationKind(StrEnum):
    """What a WhatsApp message sent to the customer was about."""

    PAYMENT_INSTRUCTIONS = "PAYMENT_INSTRUCTIONS"
    PAYMENT_CONFIRMED = "PAYMENT_CONFIRMED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    PAYMENT_METHOD_CHANGED = "PAYMENT_METHOD_CHANGED"
    ORDER_STATUS = "ORDER_STATUS"
    ORDER_REJECTED = "ORDER_REJECTED"
