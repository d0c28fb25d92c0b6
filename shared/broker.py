"""The FastStream Kafka broker of every service, the topics it needs, and its record sink."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidTopicError,
    OutOfOrderSequenceNumber,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownProducerId,
    for_code,
)
from faststream.kafka import KafkaBroker

from shared.records import OutgoingRecord
from shared.settings import KafkaSettings, KafkaTarget, kafka_settings
from shared.topics import COMPACTED_TOPICS, DLQ_SUFFIX, is_legal_topic

log = logging.getLogger(__name__)

DLQ_RETENTION_MS = 14 * 24 * 3600 * 1000


def build_broker(settings: KafkaSettings, *, client_id: str) -> KafkaBroker:
    """A broker whose producer is idempotent and waits for all in-sync replicas (`acks=all`),
    connected as `settings` say (TLS, SASL/SCRAM).

    Its handlers are given the message itself and nothing injected (`apply_types=False`):
    FastDepends would resolve a handler's `KafkaMessage` argument in a worker thread for each
    message (about 0.25 ms of CPU a message, measured with FastStream's test broker). It logs
    through the service's own handler (`shared.logs`), its line per message received and
    processed at DEBUG: FastStream's default is a logger of its own, at INFO, writing coloured
    text to stdout beside the JSON lines."""
    return KafkaBroker(
        settings.bootstrap_servers,
        apply_types=False,
        logger=log,
        log_level=logging.DEBUG,
        security=settings.broker_security(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        metadata_max_age_ms=settings.metadata_max_age_ms,
        request_timeout_ms=15_000,
        retry_backoff_ms=200,
    )


class BrokerSink:
    """Produces outgoing records through a FastStream broker and waits for the acknowledgements."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker
        self._replacing = asyncio.Lock()
        self._producers = 0  # how many times the producer was replaced

    async def send(self, *records: OutgoingRecord) -> None:
        """Hands every record to the producer in order, then waits for all acknowledgements:
        one round trip for a batch instead of one per record. The idempotent producer keeps
        the records' order within a partition, retries included. Records refused because the
        producer's numbering is out of step with the broker's are sent again, once, through a
        new producer."""
        generation = self._producers
        outcomes = await self._produce(records)
        out_of_step = [
            record
            for record, outcome in zip(records, outcomes, strict=True)
            if isinstance(outcome, OUT_OF_STEP)
        ]
        if out_of_step:
            await self._replace_producer(generation, outcomes)
            outcomes = await self._produce(tuple(out_of_step))
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _produce(self, records: tuple[OutgoingRecord, ...]) -> list[Any]:
        """Each record's acknowledgement or error; raises what the producer refuses at once."""
        for record in records:
            if not is_legal_topic(record.topic):
                raise InvalidTopicError(f"{record.topic!r} is not a legal Kafka topic name")
        acknowledgements = []
        try:
            for record in records:
                acknowledgements.append(
                    await self.broker.publish(
                        record.value,
                        record.topic,
                        key=record.key,
                        headers=record.headers,
                        no_confirm=True,
                    )
                )
        except Exception:
            # The producer refused a record (too large): the ones before it are on their way.
            await _outcomes(acknowledgements)
            raise
        return await _outcomes(acknowledgements)

    async def _replace_producer(self, generation: int, outcomes: list[Any]) -> None:
        """aiokafka's idempotent producer numbers a partition's batches before sending them and
        keeps the numbers of a batch that failed for good (refused as too large by the broker,
        or dropped while the partition had no leader): the broker expects the number that batch
        had, so every later batch to that partition is refused, for as long as the producer
        lives. A new producer gets a new id from the broker and numbers from zero. Whoever
        finds the same producer out of step first replaces it; the others wait and use the new
        one."""
        async with self._replacing:
            if self._producers != generation:
                return
            error = next(outcome for outcome in outcomes if isinstance(outcome, OUT_OF_STEP))
            log.warning("Kafka refused records out of sequence (%r): replacing the producer", error)
            await _replace_producer(self.broker)
            self._producers += 1


OUT_OF_STEP = (OutOfOrderSequenceNumber, UnknownProducerId)
"""What the broker answers an idempotent producer whose numbering it does not follow."""


async def _replace_producer(broker: KafkaBroker) -> None:
    """Starts a producer configured as the broker's, puts it in place, then stops the old one
    (its pending records fail or are acknowledged, as they would have been)."""
    wrapper: Any = broker.config.producer  # FastStream's holder of the aiokafka producer
    old = wrapper._producer
    # FastStream builds its producer from the broker's connection options the same way.
    fresh = AIOKafkaProducer(**broker._connection_kwargs)
    await wrapper.connect(fresh, serializer=wrapper.serializer, codec=wrapper.codec)
    await old.stop()


async def _outcomes(acknowledgements: list[Any]) -> list[Any]:
    """Each record's acknowledgement or error, in the records' order."""
    if any(ack is None for ack in acknowledgements):
        # FastStream's test broker (component tests) hands a record to its subscribers inside
        # `publish` and returns None, not a future: there is nothing to wait for then.
        return [None] * len(acknowledgements)
    return await asyncio.gather(*acknowledgements, return_exceptions=True)


def topic_config(topic: str) -> dict[str, str]:
    """Per-topic settings: compaction for `stores.config`, two weeks of retention for DLQs."""
    if topic in COMPACTED_TOPICS:
        return {"cleanup.policy": "compact"}
    if topic.endswith(DLQ_SUFFIX):
        return {"retention.ms": str(DLQ_RETENTION_MS)}
    return {}


async def ensure_topics(
    kafka: KafkaTarget, topics: Iterable[str], *, partitions: int, replication_factor: int = 1
) -> list[str]:
    """Creates the topics that do not exist yet; returns the names it created."""
    wanted = sorted(set(topics))
    admin = AIOKafkaAdminClient(**kafka_settings(kafka).client_options(), request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return []
        new_topics = [
            NewTopic(
                name=name,
                num_partitions=partitions,
                replication_factor=replication_factor,
                topic_configs=topic_config(name),
            )
            for name in missing
        ]
        response = await admin.create_topics(new_topics, timeout_ms=15_000)
        created = []
        for name, code, *rest in response.topic_errors:
            # Another replica may have created it between our listing and our request.
            if code in (0, TopicAlreadyExistsError.errno):
                created.append(name)
            elif code == TopicAuthorizationFailedError.errno:
                # Under ACLs a service sees and creates only its own topics; the others are the
                # platform's to make (Strimzi KafkaTopics) and it never touches them.
                log.warning("not allowed to create or see topic %s: it must be made for us", name)
            else:
                detail = rest[0] if rest else ""
                raise for_code(code)(f"creating topic {name} failed: {detail}")
        return created
    finally:
        await admin.close()
