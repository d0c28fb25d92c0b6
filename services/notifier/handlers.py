"""The notifier's subscriptions: `orders.events` and `payments.events` into the use cases."""

from __future__ import annotations

from typing import Any, cast

from services.notifier.messages import CustomerEvent
from services.notifier.service import NotificationService
from shared.consumer import ReceivedRecord, Subscription
from shared.contracts.base import Message
from shared.contracts.registry import ORDER_EVENTS, PAYMENT_EVENTS, decode_as
from shared.topics import ORDERS_EVENTS, PAYMENTS_EVENTS

CONSUMED = (*ORDER_EVENTS, *PAYMENT_EVENTS)


def decode_event(value: bytes) -> Message:
    return decode_as(value, *CONSUMED)


def subscriptions(notifications: NotificationService) -> list[Subscription[Any]]:
    async def handle(event: Message, received: ReceivedRecord) -> None:
        # payments.events carry no phone number: what the customer hears of a payment comes
        # from the order's events; alerts (RefundFailed, chargebacks) are the payment
        # service's and the order service's to count.
        if isinstance(event, ORDER_EVENTS):
            await notifications.notify(cast(CustomerEvent, event), received)

    return [
        Subscription(
            "notifier",
            decode_event,
            handle,
            topics=(ORDERS_EVENTS, PAYMENTS_EVENTS),
            takes_once=takes_once,
        )
    ]


def takes_once(event: Message) -> bool:
    """Every event: the ledger's claim, keyed by the event, is what makes a message go once
    (docs/notifications.md, "Each message once"); payment events change nothing."""
    return True
