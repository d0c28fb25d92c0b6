"""The idempotent consumer and its dead-letter policy, the same in all four services.

A message is decoded (one that cannot be read, whatever the reason, is dead-lettered at once),
skipped if its `eventId` was already handled, handed to the service, and recorded as handled
(unless the subscription's handler takes that message once by itself: `takes_once`).
A failing handler is retried with backoff; a permanent failure, or one that outlasts its
retries, goes to `<topic>.dlq` with the error in headers and is not recorded, so that a replay
from the DLQ is handled. When a dependency is unreachable the message is not dead-lettered: the
error propagates, the consumer seeks back to it and the message comes again. Each subscription
runs CONSUMER_WORKERS Kafka consumers in its group: partitions in parallel, each in order,
offsets committed after handling, in batches (docs/consumers.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, MessageSizeTooLargeError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from opentelemetry import trace
from opentelemetry.trace import StatusCode
from pydantic import ValidationError

from shared.contracts.base import Message
from shared.contracts.registry import MESSAGE_TYPES, ContractError, describe_validation
from shared.errors import PermanentError, is_unavailable
from shared.logs import log_context
from shared.members import MemberListener, ProcessPartitions
from shared.metrics import CONSUMER_LAG, DEAD_LETTERS, HANDLER_SECONDS, MESSAGES_HANDLED
from shared.offsets import HandledOffsets
from shared.processed_events import ProcessedEvents
from shared.records import (
    HEADER_CONSUMER,
    HEADER_DEAD_VALUE_BYTES,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_EVENT_ID,
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
from shared.tracing import annotate, processing

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

MAX_ERROR_HEADER = 1_000
MAX_DEAD_VALUE = 64 * 1024
"""What a dead letter keeps of a value too large for the DLQ (the original stays on its topic)."""
MAX_DEAD_HEADER = 1_000


@dataclass(frozen=True)
class ReceivedRecord:
    """A Kafka record as it was received: handlers that need its topic (POS updates) or its
    partition (timers) read them here."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    end_seen: int | None = None
    """The partition's end as a fetch told it before the message was handled: every offset
    below it was on the broker by then (None where no fetch told it)."""

    @classmethod
    def of(cls, record: ConsumerRecord[Any, Any], end_seen: int | None = None) -> ReceivedRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value or b"",
            headers={name: _header_text(value) for name, value in record.headers or ()},
            end_seen=end_seen,
        )


def _header_text(value: bytes | None) -> str:
    """Any header value as text: a null one is empty, bytes that are not UTF-8 are escaped."""
    return "" if value is None else bytes(value).decode(errors="backslashreplace")


Decoder = Callable[[bytes], M]
Handler = Callable[[M, ReceivedRecord], Awaitable[None]]
Answer = Callable[[ContractError, ReceivedRecord], Awaitable[None]]
"""Tells a message's sender that it was unreadable (before it is dead-lettered)."""


@dataclass(frozen=True)
class Subscription(Generic[M]):
    """What a service consumes and how: the consumer's name (its group id and metric label),
    its topics or topic pattern, the decoder of its messages and the handler of each."""

    name: str
    decode: Decoder[M]
    handle: Handler[M]
    topics: tuple[str, ...] = ()
    pattern: str | None = None
    answer_malformed: Answer | None = None
    listener: ConsumerRebalanceListener | None = None
    """Told when partitions are assigned or revoked (the scheduler loads its timers then)."""
    takes_once: Callable[[M], bool] | None = None
    """The messages whose handler takes each event once by itself (its one write is keyed by
    the event, so a second delivery changes nothing): the consumer keeps no processed-event
    record for them, two round trips fewer per message."""


class IdempotentConsumer(Generic[M]):
    """Decode, dedupe, handle with retries, dead-letter what cannot be handled."""

    def __init__(
        self,
        subscription: Subscription[M],
        *,
        processed: ProcessedEvents,
        dead_letters: RecordSink,
        settings: ConsumerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.subscription = subscription
        self.name = subscription.name
        self._processed = processed
        self._dead_letters = dead_letters
        self._backoff = Backoff(
            attempts=settings.attempts, max_elapsed=settings.transient_max_elapsed_s
        )
        self._clock = clock
        self.workers = settings.workers
        self.fetch_max_wait_ms = settings.fetch_max_wait_ms

    async def handle(self, received: ReceivedRecord) -> None:
        """Handles one record; raises only when the message must come again later."""
        event_type = received.headers.get(HEADER_EVENT_TYPE, "unknown")
        if event_type not in MESSAGE_TYPES:  # a metric label: never the sender's own text
            event_type = "unknown"
        with processing(
            self.name,
            received.topic,
            received.partition,
            received.offset,
            event_type,
            received.headers,
        ) as span:
            try:
                with HANDLER_SECONDS.labels(self.name).time():
                    outcome = await self._outcome_of(received)
            except Exception as error:
                MESSAGES_HANDLED.labels(self.name, event_type, "redelivered").inc()
                span.set_attribute("outcome", "redelivered")
                span.set_status(StatusCode.ERROR, describe_error(error))
                raise
            MESSAGES_HANDLED.labels(self.name, event_type, outcome).inc()
            span.set_attribute("outcome", outcome)

    async def _outcome_of(self, received: ReceivedRecord) -> str:
        try:
            message = self.subscription.decode(received.value)
        except Exception as error:  # whatever cannot be read never will be: no retry
            if isinstance(error, ContractError):
                await self._answer_malformed(error, received)
            await self._dead_letter(received, error)
            return "dead_lettered"
        annotate(message)
        with log_context(
            correlationId=getattr(message, "correlation_id", None),
            clientId=getattr(message, "client_id", None),
            storeId=getattr(message, "store_id", None),
            orderId=getattr(message, "order_id", None),
            eventType=message.event_type,
            eventId=message.event_id,
        ):
            return await self._handled(message, received)

    async def _answer_malformed(self, error: ContractError, received: ReceivedRecord) -> None:
        """Tells the sender, when the subscription does; a failing answer is no reason to keep
        the message (it is dead-lettered all the same) unless a dependency is away."""
        answer = self.subscription.answer_malformed
        if answer is None:
            return
        try:
            await answer(error, received)
        except Exception as failure:
            if is_unavailable(failure):
                raise
            log.warning(
                "%s: answering an unreadable message failed: %s", self.name, describe_error(failure)
            )

    def _scope(self, received: ReceivedRecord) -> str:
        pattern = self.subscription.pattern is not None
        return scope_of(self.name, received.topic if pattern else None)

    async def _handled(self, message: M, received: ReceivedRecord) -> str:
        event_id, scope = str(message.event_id), self._scope(received)
        takes_once = self.subscription.takes_once
        recorded = takes_once is None or not takes_once(message)
        if recorded and await self._processed.contains(scope, event_id):
            log.info("%s: event %s already handled, skipped", self.name, event_id)
            return "duplicate"
        try:
            await retry_transient(
                lambda: self.subscription.handle(message, received),
                is_transient=lambda error: not isinstance(error, PermanentError),
                backoff=self._backoff,
            )
        except Exception as error:
            if not isinstance(error, PermanentError) and is_unavailable(error):
                raise
            # Not recorded as processed: a replay from the DLQ, once fixed, must be handled.
            await self._dead_letter(received, error)
            return "dead_lettered"
        if recorded:
            await self._processed.add(scope, event_id, self._clock())
        return "handled"

    async def _dead_letter(self, received: ReceivedRecord, error: BaseException) -> None:
        description = describe_error(error)
        trace.get_current_span().set_status(StatusCode.ERROR, description)
        log.warning(
            "%s: dead-lettering %s[%d]@%d: %s",
            self.name,
            received.topic,
            received.partition,
            received.offset,
            description,
        )
        headers = received.headers | {
            HEADER_ERROR: description,
            HEADER_ERROR_TYPE: type(error).__name__,
            HEADER_ORIGINAL_TOPIC: received.topic,
            HEADER_ORIGINAL_PARTITION: str(received.partition),
            HEADER_ORIGINAL_OFFSET: str(received.offset),
            HEADER_CONSUMER: self.name,
        }
        record = OutgoingRecord(
            topic=dlq_topic(received.topic),
            key=received.key or b"",
            value=received.value,
            headers=headers,
            event_id=received.headers.get(HEADER_EVENT_ID, "")[:MAX_DEAD_HEADER],
        )
        try:
            await self._dead_letters.send(record)
        except MessageSizeTooLargeError:
            await self._dead_letters.send(_cut_to_fit(record))
        DEAD_LETTERS.labels(self.name, received.topic, type(error).__name__).inc()


def scope_of(consumer: str, topic: str | None = None) -> str:
    """Where an event id must be unique: the consumer, and for a topic pattern (one topic per
    store, each POS making its own ids; `topic` given only then) the topic it came from too."""
    return consumer if topic is None else f"{consumer}@{topic}"


def describe_error(error: BaseException) -> str:
    """An error for a header or a log line: short, and without the input pydantic would quote."""
    detail = describe_validation(error) if isinstance(error, ValidationError) else str(error)
    return f"{type(error).__name__}: {detail}"[:MAX_ERROR_HEADER]


def _cut_to_fit(record: OutgoingRecord) -> OutgoingRecord:
    """A dead letter too large for its topic: the start of its value and of each header, and
    how large the value was (the whole record stays on its topic until retention ends)."""
    headers = {name: value[:MAX_DEAD_HEADER] for name, value in record.headers.items()}
    headers[HEADER_DEAD_VALUE_BYTES] = str(len(record.value))
    return dataclasses.replace(record, value=record.value[:MAX_DEAD_VALUE], headers=headers)


def _partition_end(kafka: Any, record: ConsumerRecord[Any, Any]) -> int | None:
    """The record's partition's end (high watermark) as the member's last fetch told it."""
    # FastStream's test broker hands over a consumer without `highwater` (and no fetch to tell).
    highwater = getattr(kafka, "highwater", None)
    end = None if highwater is None else highwater(TopicPartition(record.topic, record.partition))
    return end if isinstance(end, int) else None


def _observe_lag(name: str, kafka: Any, record: ConsumerRecord[Any, Any]) -> None:
    """Sets the consumer's lag on the record's partition, when the fetch told the end."""
    end = _partition_end(kafka, record)
    if end is not None:
        lag = max(0, end - record.offset - 1)
        CONSUMER_LAG.labels(name, record.topic, str(record.partition)).set(lag)


def consume(
    broker: KafkaBroker,
    subscriptions: Iterable[Subscription[Any]],
    *,
    processed: ProcessedEvents,
    dead_letters: RecordSink,
    settings: ConsumerSettings,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[HandledOffsets]:
    """Consumes each subscription on `broker` with the idempotent consumer; returns the
    workers' offsets, to commit before the broker stops."""
    workers = []
    for subscription in subscriptions:
        consumer = IdempotentConsumer(
            subscription,
            processed=processed,
            dead_letters=dead_letters,
            settings=settings,
            clock=clock,
        )
        workers.extend(subscribe(broker, consumer))
    return workers


def subscribe(broker: KafkaBroker, consumer: IdempotentConsumer[Any]) -> list[HandledOffsets]:
    """Registers `consumer` on the broker as `consumer.workers` members of its group, each a
    Kafka consumer of its own handling its partitions one message at a time: a message that
    must come again is sought back to, and offsets are committed only once handled, in
    batches (`shared.offsets`); a partition is only ever one member's."""
    subscription = consumer.subscription
    workers = [HandledOffsets(consumer.name) for _ in range(consumer.workers)]
    process = ProcessPartitions(subscription.listener)
    for offsets in workers:
        broker.subscriber(
            *subscription.topics,
            pattern=subscription.pattern,
            group_id=subscription.name,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=consumer.fetch_max_wait_ms,
            ack_policy=AckPolicy.MANUAL,
            listener=MemberListener(offsets, process),
            title=subscription.name,
            parser=parse_without_headers,
            decoder=message_itself,
            no_reply=True,
        )(_worker(consumer, offsets))
    return workers


def _worker(
    consumer: IdempotentConsumer[Any], offsets: HandledOffsets
) -> Callable[[KafkaMessage], Awaitable[None]]:
    """One member's handler: its offsets are its own."""

    async def on_message(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            await consumer.handle(
                ReceivedRecord.of(record, end_seen=_partition_end(message.consumer, record))
            )
        except Exception:
            # Read again from this message; a partition already taken away has nothing to
            # seek (its new owner reads from the last commit).
            with contextlib.suppress(IllegalStateError):
                await message.nack()
            raise
        await offsets.handled(message.consumer, record)
        _observe_lag(consumer.name, message.consumer, record)

    return on_message


async def parse_without_headers(
    record: ConsumerRecord[Any, Any],
    parse: Callable[[ConsumerRecord[Any, Any]], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream's parsing, shown no headers: it decodes each as UTF-8 (a null or binary one
    would fail before the consumer could dead-letter the message, and the nack with it, so the
    message would be skipped) and answers to a `reply_to` header. The consumer reads the
    record itself."""
    message = await parse(dataclasses.replace(record, headers=()))
    message.raw_message = record
    return message


async def message_itself(message: KafkaMessage) -> KafkaMessage:
    """The handler's argument, on a broker that injects nothing (`shared.broker`): FastStream's
    decoder would run `json.loads` on the body before the handler (a 1000-deep body would raise
    there); the consumer decodes the record itself."""
    return message
