"""What a message that goes late must respect. Pure: no I/O, no clock.

A waiting message is dropped when a later message of its order makes it pointless; a message
sent after WhatsApp's 24-hour window must be an approved template.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.notifier.messages import CustomerMessage
from shared.contracts.values import NotificationKind, OrderStatus

_PAYMENT_MOVED_ON = frozenset(
    {
        NotificationKind.PAYMENT_CONFIRMED,
        NotificationKind.PAYMENT_FAILED,
        NotificationKind.PAYMENT_METHOD_CHANGED,
        NotificationKind.PAYMENT_INSTRUCTIONS,
    }
)
"""After these, an earlier charge's instructions are of no use: paid, failed or replaced."""


def supersedes(later: CustomerMessage, waiting: CustomerMessage) -> bool:
    """Whether `later`, a message of the same order, makes `waiting` pointless to send late.

    A status is passed by any later status, except a cancellation (its reason is news); a
    charge's instructions by its payment, failure or replacement, or the order's cancellation;
    a failed payment by a payment or cancellation. Payments confirmed, refunds, rejections and
    changes of method are never passed.
    """
    cancelled = later.status is OrderStatus.CANCELLED
    match waiting.kind:
        case NotificationKind.ORDER_STATUS:
            return (
                later.kind is NotificationKind.ORDER_STATUS
                and waiting.status is not OrderStatus.CANCELLED
            )
        case NotificationKind.PAYMENT_INSTRUCTIONS:
            return cancelled or later.kind in _PAYMENT_MOVED_ON
        case NotificationKind.PAYMENT_FAILED:
            return cancelled or later.kind is NotificationKind.PAYMENT_CONFIRMED
    return False


def outside_free_form_window(placed_at: datetime | None, now: datetime, window: timedelta) -> bool:
    """True when a free-form message can no longer reach the customer (approved template needed).

    The window is counted from the order's placement: the customer was talking to the bot then.
    An order placed before this service knew of it is assumed inside (Twilio answers 63016 if not).
    """
    return placed_at is not None and now - placed_at > window
