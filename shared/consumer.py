"""The idempotent consumer and its dead-letter policy, the same in all four services.

A message is decoded (a malformed one is dead-lettered at once), skipped if its `eventId` was
already handled, handed to the service, and recorded as handled. A failing handler is retried
with backoff; a permanent failure, or one that outlasts its retries, goes to `<topic>.dlq` with
the error in headers. When a dependency is unreachable the message is not dead-lettered: the
error propagates, FastStream leaves the offset uncommitted and the message comes again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy

from shared.contracts.base import Message
from shared.contracts.registry import ContractError
from shared.errors import PermanentError, is_unavailable
from shared.logs import log_context
from shared.metrics import CONSUMER_LAG, DEAD_LETTERS, HANDLER_SECONDS, MESSAGES_HANDLED
from shared.processed_events import ProcessedEvents
from shared.records import (
    HEADER_CONSUMER,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_EVENT_TYPE,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
    OutgoingRecord,
    RecordSink,
)
from shared.retry import Backoff, retry_transient
from shared.settings import ConsumerSettings
from shared.topics import dlq_topic

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

MAX_ERROR_HEADER = 1_000


@dataclass(frozen=True)
class Delivery:
    """Where a message came from: handlers that need the topic (POS updates) read it here."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any]) -> Delivery:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value or b"",
            headers={name: value.decode(errors="replace") for name, value in record.headers or ()},
        )


Decoder = Callable[[bytes], M]
Handler = Callable[[M, Delivery], Awaitable[None]]
Answer = Callable[[ContractError, Delivery], Awaitable[None]]
"""Tells a message's sender that it was unreadable (before it is dead-lettered)."""


class IdempotentConsumer(Generic[M]):
    """Decode, dedupe, handle with retries, dead-letter what cannot be handled."""

    def __init__(
        self,
        name: str,
        *,
        decode: Decoder[M],
        handler: Handler[M],
        processed: ProcessedEvents,
        dead_letters: RecordSink,
        settings: ConsumerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        answer_malformed: Answer | None = None,
    ) -> None:
        self.name = name
        self._answer_malformed = answer_malformed
        self._decode = decode
        self._handler = handler
        self._processed = processed
        self._dead_letters = dead_letters
        self._backoff = Backoff(
            attempts=settings.attempts, max_elapsed=settings.transient_max_elapsed_s
        )
        self._clock = clock

    async def handle(self, delivery: Delivery) -> None:
        """Handles one delivery; raises only when the message must come again later."""
        event_type = delivery.headers.get(HEADER_EVENT_TYPE, "unknown")
        try:
            with HANDLER_SECONDS.labels(self.name).time():
                outcome = await self._outcome_of(delivery)
        except Exception:
            MESSAGES_HANDLED.labels(self.name, event_type, "redelivered").inc()
            raise
        MESSAGES_HANDLED.labels(self.name, event_type, outcome).inc()

    async def _outcome_of(self, delivery: Delivery) -> str:
        try:
            message = self._decode(delivery.value)
        except (ContractError, PermanentError) as error:
            if self._answer_malformed is not None and isinstance(error, ContractError):
                await self._answer_malformed(error, delivery)
            await self._dead_letter(delivery, error)
            return "dead_lettered"
        with log_context(
            correlationId=getattr(message, "correlation_id", None),
            clientId=getattr(message, "client_id", None),
            storeId=getattr(message, "store_id", None),
            orderId=getattr(message, "order_id", None),
            eventType=message.event_type,
            eventId=message.event_id,
        ):
            return await self._handled(message, delivery)

    async def _handled(self, message: M, delivery: Delivery) -> str:
        event_id = str(message.event_id)
        if await self._processed.contains(self.name, event_id):
            log.info("%s: event %s already handled, skipped", self.name, event_id)
            return "duplicate"
        outcome = "handled"
        try:
            await retry_transient(
                lambda: self._handler(message, delivery),
                is_transient=lambda error: not isinstance(error, PermanentError),
                backoff=self._backoff,
            )
        except PermanentError as error:
            await self._dead_letter(delivery, error)
            outcome = "dead_lettered"
        except Exception as error:
            if is_unavailable(error):
                raise
            await self._dead_letter(delivery, error)
            outcome = "dead_lettered"
        await self._processed.add(self.name, event_id, self._clock())
        return outcome

    async def _dead_letter(self, delivery: Delivery, error: BaseException) -> None:
        description = f"{type(error).__name__}: {error}"[:MAX_ERROR_HEADER]
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.name,
            delivery.topic,
            delivery.partition,
            delivery.offset,
            description,
        )
        headers = delivery.headers | {
            HEADER_ERROR: description,
            HEADER_ERROR_TYPE: type(error).__name__,
            HEADER_ORIGINAL_TOPIC: delivery.topic,
            HEADER_ORIGINAL_PARTITION: str(delivery.partition),
            HEADER_ORIGINAL_OFFSET: str(delivery.offset),
            HEADER_CONSUMER: self.name,
        }
        DEAD_LETTERS.labels(self.name, delivery.topic, type(error).__name__).inc()
        await self._dead_letters.send(
            OutgoingRecord(
                topic=dlq_topic(delivery.topic),
                key=delivery.key or b"",
                value=delivery.value,
                headers=headers,
                event_id=delivery.headers.get("event-id", ""),
            )
        )


def _observe_lag(name: str, kafka: Any, record: ConsumerRecord[Any, Any]) -> None:
    """Sets the consumer's lag on the record's partition, when the fetch told the end."""
    end = kafka.highwater(TopicPartition(record.topic, record.partition))
    if end is not None:
        lag = max(0, end - record.offset - 1)
        CONSUMER_LAG.labels(name, record.topic, str(record.partition)).set(lag)


def subscribe(
    broker: KafkaBroker,
    consumer: IdempotentConsumer[Any],
    *,
    topics: Sequence[str] = (),
    pattern: str | None = None,
    group_id: str,
    listener: ConsumerRebalanceListener | None = None,
) -> None:
    """Registers `consumer` on the broker: offsets are committed only after it returns."""

    async def on_message(message: KafkaMessage) -> None:
        record = message.raw_message
        await consumer.handle(Delivery.of(record))
        _observe_lag(consumer.name, message.consumer, record)

    broker.subscriber(
        *topics,
        pattern=pattern,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        listener=listener,
        title=consumer.name,
    )(on_message)
