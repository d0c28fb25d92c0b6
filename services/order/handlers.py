"""The order service's subscriptions: each topic's messages into the use cases, errors mapped."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from services.order.domain.decisions import PosReport
from services.order.domain.errors import ConcurrencyConflict, OrderError
from services.order.service import OrderService
from shared.consumer import Answer, Handler, ReceivedRecord, Subscription, scope_of
from shared.contracts.base import Message
from shared.contracts.orders import CancelOrder, ChangePaymentMethod, PlaceOrder
from shared.contracts.payments import PaymentChargebackReported
from shared.contracts.pos import PosOrderConfirmed, PosOrderRejected, PosOrderStatusUpdated
from shared.contracts.registry import PAYMENT_EVENTS, ContractError, decode_as
from shared.contracts.scheduler import TimerFired
from shared.errors import PermanentError
from shared.processed_events import event_key
from shared.topics import (
    ORDERS_COMMANDS,
    PAYMENTS_EVENTS,
    POS_UPDATES_PATTERN,
    SCHEDULER_EVENTS,
    TopicNameError,
    store_of_pos_topic,
)

M = TypeVar("M", bound=Message)
OrderCommand = PlaceOrder | CancelOrder | ChangePaymentMethod

PAYMENTS, TIMERS, POS = "order-payments", "order-timers", "order-pos"
"""The consumers of events on existing orders, each taking an event once in the order's own
write (its handled events), with no processed-event record beside it."""


def places_an_order(command: OrderCommand) -> bool:
    """A PlaceOrder is taken once by itself: its order's id comes from its `commandId` and is
    looked up before anything is claimed, so a second delivery changes nothing."""
    return isinstance(command, PlaceOrder)


def changes_an_order(event: Message) -> bool:
    """Every payment event but a chargeback is applied to its order, taken once there; a
    chargeback changes no order (an alert) and keeps its processed-event record."""
    return not isinstance(event, PaymentChargebackReported)


def applied_to_an_order(event: Message) -> bool:
    """A deadline or a POS report is taken once by the order it is applied to (or refused,
    changing nothing: then dead-lettered, which no consumer records)."""
    return True


def decode_command(value: bytes) -> OrderCommand:
    return cast(OrderCommand, decode_as(value, PlaceOrder, CancelOrder, ChangePaymentMethod))


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

    async def handle_or_refuse(message: M, received: ReceivedRecord) -> None:
        try:
            await handle(message, received)
        except ConcurrencyConflict:
            raise
        except OrderError as error:
            raise PermanentError(str(error)) from None

    return handle_or_refuse


def command_handler(service: OrderService) -> Handler[OrderCommand]:
    async def handle(command: OrderCommand, received: ReceivedRecord) -> None:
        match command:
            case PlaceOrder():
                await service.place(command)
            case CancelOrder():
                await service.cancel(command)
            case ChangePaymentMethod():
                await service.change_payment_method(command)

    return _refusals_are_permanent(handle)


def answer_malformed(service: OrderService) -> Answer:
    async def answer(error: ContractError, received: ReceivedRecord) -> None:
        await service.answer_malformed(error.payload or {}, str(error), error.errors)

    return answer


def payment_event_handler(service: OrderService) -> Handler[Any]:
    async def handle(event: Any, received: ReceivedRecord) -> None:
        await service.on_payment_event(event, handled_as=event_key(PAYMENTS, event.event_id))

    return _refusals_are_permanent(handle)


def timer_handler(service: OrderService) -> Handler[TimerFired]:
    async def handle(event: TimerFired, received: ReceivedRecord) -> None:
        await service.on_timer_fired(event, handled_as=event_key(TIMERS, event.event_id))

    return _refusals_are_permanent(handle)


def pos_update_handler(service: OrderService) -> Handler[PosReport]:
    async def handle(update: PosReport, received: ReceivedRecord) -> None:
        try:
            store = store_of_pos_topic(received.topic)
        except TopicNameError as error:
            raise PermanentError(str(error)) from None
        # Named in its topic's scope, as a pattern's processed-event records are: another
        # store's POS using the same eventId is refused (WrongStore), not taken for this one's.
        named = event_key(scope_of(POS, received.topic), update.event_id)
        await service.on_pos_update(update, store, handled_as=named)

    return _refusals_are_permanent(handle)


def answer_unreadable_pos_update(service: OrderService) -> Answer:
    async def answer(error: ContractError, received: ReceivedRecord) -> None:
        try:
            store = store_of_pos_topic(received.topic)
        except TopicNameError:
            return  # no store's topic, so no POS to tell (dead-lettered all the same)
        await service.answer_unreadable_pos_update(error.payload or {}, str(error), store)

    return answer


def subscriptions(service: OrderService) -> list[Subscription[Any]]:
    """The four things the order service consumes: commands, payments, deadlines, the POS."""
    return [
        Subscription(
            "order-commands",
            decode_command,
            command_handler(service),
            topics=(ORDERS_COMMANDS,),
            answer_malformed=answer_malformed(service),
            takes_once=places_an_order,
        ),
        Subscription(
            PAYMENTS,
            decode_payment_event,
            payment_event_handler(service),
            topics=(PAYMENTS_EVENTS,),
            takes_once=changes_an_order,
        ),
        Subscription(
            TIMERS,
            decode_timer_event,
            timer_handler(service),
            topics=(SCHEDULER_EVENTS,),
            takes_once=applied_to_an_order,
        ),
        Subscription(
            POS,
            decode_pos_update,
            pos_update_handler(service),
            pattern=POS_UPDATES_PATTERN,
            answer_malformed=answer_unreadable_pos_update(service),
            takes_once=applied_to_an_order,
        ),
    ]
