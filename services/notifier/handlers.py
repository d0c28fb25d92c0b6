"""The notifier's subscriber: `orders.events` and `payments.events` into the use cases."""

from __future__ import annotations

from typing import cast

from services.notifier.domain import CustomerEvent
from services.notifier.service import Notifier
from shared.consumer import Delivery, Handler
from shared.contracts.base import Message
from shared.contracts.registry import ORDER_EVENTS, PAYMENT_EVENTS, decode_as

CONSUMED = (*ORDER_EVENTS, *PAYMENT_EVENTS)


def decode_event(value: bytes) -> Message:
    return decode_as(value, *CONSUMED)


def event_handler(notifier: Notifier) -> Handler[Message]:
    async def handle(event: Message, delivery: Delivery) -> None:
        if isinstance(event, ORDER_EVENTS):
            await notifier.notify(cast(CustomerEvent, event))
        else:
            await notifier.observe_payment_event(event)

    return handle
