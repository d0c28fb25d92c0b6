"""The chatbot's client: place, cancel and pay orders another way, and await each outcome by
`correlationId`.

    async with ChatbotClient(KafkaSettings()) as chatbot:   # or bare "127.0.0.1:9092"
        outcome = await chatbot.place(command)   # OrderPlaced or OrderRejected

Outcomes come from `orders.events`, read from the moment the client starts; a command is
matched to its answer by `correlationId` and `commandId` (or `orderId` for a cancellation or a
change of payment method).
The client connects as its settings say (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*: the chatbot's
own identity); it writes `orders.commands` and reads `orders.events` without a consumer group.
Each command begins a trace, recorded by the process's tracer provider or `tracer_provider`.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from aiokafka import AIOKafkaConsumer
from opentelemetry.trace import SpanKind, TracerProvider

from shared.broker import BrokerSink, build_broker
from shared.clients.reading import follow, reader_from_now
from shared.contracts.base import Message
from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PlaceOrder,
)
from shared.contracts.values import PAYMENT_METHOD_CHANGED, OrderStatus
from shared.records import OutgoingRecord
from shared.settings import KafkaTarget, kafka_settings
from shared.topics import ORDERS_COMMANDS, ORDERS_EVENTS
from shared.tracing import message_attributes, tracer

PlaceOutcome = OrderPlaced | OrderRejected
CancelOutcome = OrderStatusChanged | OrderRejected
PaymentChangeOutcome = OrderPaymentStatusChanged | OrderRejected
Command = PlaceOrder | CancelOrder | ChangePaymentMethod


class ChatbotClient:
    """Publishes order commands on `orders.commands` and waits for their answers."""

    def __init__(
        self, kafka: KafkaTarget, *, tracer_provider: TracerProvider | None = None
    ) -> None:
        self._kafka = kafka_settings(kafka)
        self._tracer = tracer(tracer_provider)
        self._broker = build_broker(self._kafka, client_id="chatbot")
        self._sink = BrokerSink(self._broker)
        self._events: AIOKafkaConsumer | None = None
        self._waiting: dict[tuple[str, str], asyncio.Future[Message]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ChatbotClient:
        try:
            await self._broker.start()
            self._events = await reader_from_now(self._kafka, ORDERS_EVENTS)
        except BaseException:
            await self._broker.stop()  # a producer left open warns at exit
            raise
        self._reading = asyncio.create_task(self._read(self._events))
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        if self._events is not None:
            await self._events.stop()
        await self._broker.stop()

    async def place(self, command: PlaceOrder, *, timeout: float = 30.0) -> PlaceOutcome:
        """Sends `command`; returns its OrderPlaced, or the OrderRejected saying why not."""
        answer = await self._ask(command, command.command_id, timeout)
        assert isinstance(answer, OrderPlaced | OrderRejected)
        return answer

    async def cancel(self, command: CancelOrder, *, timeout: float = 30.0) -> CancelOutcome:
        """Sends `command`; returns the change to CANCELLED, or the OrderRejected refusing it."""
        answer = await self._ask(command, command.order_id, timeout)
        assert isinstance(answer, OrderStatusChanged | OrderRejected)
        return answer

    async def change_payment_method(
        self, command: ChangePaymentMethod, *, timeout: float = 30.0
    ) -> PaymentChangeOutcome:
        """Sends `command`; returns the order's payment status changed to the new method (a new
        charge's instructions follow as PaymentInstructionsIssued), or the OrderRejected."""
        answer = await self._ask(command, command.order_id, timeout)
        assert isinstance(answer, OrderPaymentStatusChanged | OrderRejected)
        return answer

    async def send(self, command: Command) -> None:
        """Sends a command without waiting for its answer; it begins a trace (or continues the
        caller's) that the services' spans carry on."""
        with self._tracer.start_as_current_span(
            f"chatbot {command.event_type}",
            kind=SpanKind.PRODUCER,
            attributes=message_attributes(command),
        ):
            await self._sink.send(OutgoingRecord.of(ORDERS_COMMANDS, command))

    async def _ask(self, command: Command, subject: str, timeout: float) -> Message:
        key = (command.correlation_id, subject)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting[key] = waiting
        try:
            await self.send(command)
            async with asyncio.timeout(timeout):
                answer: Message = await waiting
                return answer
        finally:
            self._waiting.pop(key, None)

    async def _read(self, events: AIOKafkaConsumer) -> None:
        async for message in follow(events):
            subject = _answered_subject(message)
            if subject is None:
                continue
            waiting = self._waiting.get((getattr(message, "correlation_id", ""), subject))
            if waiting is not None and not waiting.done():
                waiting.set_result(message)


def _answered_subject(message: Message) -> str | None:
    """What a message answers: a commandId (placement) or an orderId (cancellation, change of
    payment method)."""
    match message:
        case OrderPlaced():
            return message.command_id
        case OrderRejected():
            return message.command_id or message.order_id
        case OrderStatusChanged() if message.to_status is OrderStatus.CANCELLED:
            return message.order_id
        case OrderPaymentStatusChanged() if message.reason == PAYMENT_METHOD_CHANGED:
            return message.order_id
    return None
