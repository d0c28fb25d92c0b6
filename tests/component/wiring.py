"""Component tests' wiring: a service's subscriptions on FastStream's test broker, each consumed
by the idempotent consumer as in production, and what reached the topics the service feeds.

The test broker hands a record to its subscribers inside `publish`, so whatever a message
causes has happened when sending it returns. It checks no keys and no partitions: those are
proven against the real broker (tests/integration).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.broker import BrokerSink
from shared.consumer import ReceivedRecord, Subscription, consume, message_itself
from shared.contracts.base import Message
from shared.processed_events import InMemoryProcessedEvents
from shared.records import OutgoingRecord
from shared.settings import ConsumerSettings
from tests import sinks
from tests.sinks import RecordingSink

M = TypeVar("M", bound=Message)

SETTINGS = ConsumerSettings(attempts=2, transient_max_elapsed_s=1)
"""A handler failing by mistake fails the test in a moment instead of backing off for long."""


def in_memory_broker() -> KafkaBroker:
    """A broker whose handlers get their message as `shared.broker.build_broker`'s do (nothing
    injected), for FastStream's test broker."""
    return KafkaBroker(apply_types=False)


def consume_in_memory(
    broker: KafkaBroker, subscriptions: Iterable[Subscription[Any]]
) -> RecordingSink:
    """Consumes each subscription as `ServiceRuntime.consume` does, its dedupe in memory;
    returns where its dead letters go, so that a handler failing by mistake is seen."""
    dead_letters = RecordingSink()
    consume(
        broker,
        subscriptions,
        processed=InMemoryProcessedEvents(),
        dead_letters=dead_letters,
        settings=SETTINGS,
    )
    return dead_letters


class Outputs:
    """What reached the given topics through the broker, in order (register before starting)."""

    def __init__(self, broker: KafkaBroker, *topics: str) -> None:
        self.records: list[ReceivedRecord] = []

        async def collect(message: KafkaMessage) -> None:
            self.records.append(ReceivedRecord.of(message.raw_message))

        broker.subscriber(*topics, title="test-outputs", decoder=message_itself)(collect)

    def sent(self) -> list[tuple[str, str]]:
        """(topic, eventType) of each record, in order."""
        return sinks.sent(self.records)

    def messages(self, kind: type[M]) -> list[M]:
        return sinks.messages(self.records, kind)


@dataclass
class Running:
    """A service's consumers on the started test broker."""

    broker: KafkaBroker
    outputs: Outputs
    dead_letters: RecordingSink

    async def send(self, topic: str, message: Message) -> None:
        """Publishes `message` on `topic` as every service does (keyed, metadata in headers)."""
        await BrokerSink(self.broker).send(OutgoingRecord.of(topic, message))


@asynccontextmanager
async def running(
    broker: KafkaBroker, subscriptions: Iterable[Subscription[Any]], *outputs: str
) -> AsyncIterator[Running]:
    """Consumes `subscriptions` (see `consume_in_memory`), collects what reaches the `outputs`
    topics, and runs the broker as FastStream's test broker."""
    dead_letters = consume_in_memory(broker, subscriptions)
    collected = Outputs(broker, *outputs)
    async with TestKafkaBroker(broker):
        yield Running(broker, collected, dead_letters)
