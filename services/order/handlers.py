"""The order service's subscribers: each topic's messages into the use cases, errors translated."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from services.order.domain.decisions import PosReport
from services.order.domain.errors import ConcurrencyConflict, OrderError
from services.order.service import OrderService
from shared.consumer import Delivery, Handler
from shared.contracts.base import Message
from shared.contracts.orders import CancelOrder, PlaceOrder
from shared.contracts.pos import PosOrderConfirmed, PosOrderRejected, PosOrderStatusUpdated
from shared.contracts.registry import PAYMENT_EVENTS, ContractError, decode_as
from shared.contracts.scheduler import TimerFired
from shared.errors import PermanentError
from shared.topics import TopicNameError, store_of_pos_topic

M = TypeVar("M", bound=Message)
OrderCommand = PlaceOrder | CancelOrder


def decode_command(value: bytes) -> OrderCommand:
    return cast(OrderCommand, decode_as(value, PlaceOrder, CancelOrder))


def decode_payment_event(value: bytes) -> Any:
    return decode_as(value, *PAYMENT_EVENTS)


def decode_timer_event(value: bytes) -> TimerFired:
    return decode_as(value, TimerFired)


def decode_pos_update(value: bytes) -> PosReport:
    return cast(
        PosReport, decode_as(value, PosOrderConfirmed, PosOrderRejected, PosOrderStatusUpdated)
    )


def _refusals_are_permanent(handle: Handler[M]) -> Handler[M]:
    """An order that cannot accept a message never will: dead-letter it instead of retrying."""

    async def handle_or_refuse(message: M, delivery: Delivery) -> None:
        try:
            await handle(message, delivery)
        except ConcurrencyConflict:
            raise
        except OrderError as error:
            raise PermanentError(str(error)) from None

    return handle_or_refuse


def command_handler(service: OrderService) -> Handler[OrderCommand]:
    async def handle(command: OrderCommand, delivery: Delivery) -> None:
        match command:
            case PlaceOrder():
                await service.place(command)
            case CancelOrder():
                await service.cancel(command)

    return _refusals_are_permanent(handle)


def answer_malformed(service: OrderService) -> Callable[[ContractError, Delivery], Awaitable[None]]:
    async def answer(error: ContractError, delivery: Delivery) -> None:
        await service.answer_malformed(error.payload or {}, str(error))

    return answer


def payment_event_handler(service: OrderService) -> Handler[Any]:
    async def handle(event: Any, delivery: Delivery) -> None:
        await service.on_payment_event(event)

    return _refusals_are_permanent(handle)


def timer_handler(service: OrderService) -> Handler[TimerFired]:
    async def handle(event: TimerFired, delivery: Delivery) -> None:
        await service.on_timer_fired(event)

    return _refusals_are_permanent(handle)


def pos_update_handler(service: OrderService) -> Handler[PosReport]:
    async def handle(update: PosReport, delivery: Delivery) -> None:
        try:
            store = store_of_pos_topic(delivery.topic)
        except TopicNameError as error:
            raise PermanentError(str(error)) from None
        await service.on_pos_update(update, store)

    return _refusals_are_permanent(handle)
