"""A message ready for Kafka (topic, key, headers, JSON value), made one way for every publisher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared.contracts.base import Message
from shared.keys import key_for
from shared.tracing import trace_headers

HEADER_EVENT_TYPE = "event-type"
HEADER_EVENT_ID = "event-id"
HEADER_EVENT_VERSION = "event-version"
HEADER_CORRELATION_ID = "correlation-id"
HEADER_ERROR = "dlq-error"
HEADER_ERROR_TYPE = "dlq-error-type"
HEADER_ORIGINAL_TOPIC = "dlq-original-topic"
HEADER_ORIGINAL_PARTITION = "dlq-original-partition"
HEADER_ORIGINAL_OFFSET = "dlq-original-offset"
HEADER_CONSUMER = "dlq-consumer"
HEADER_DEAD_VALUE_BYTES = "dlq-value-bytes"
"""Set when a dead letter was too large for its DLQ: the size of the value it was cut from."""
HEADER_DLQ_PREFIX = "dlq-"


@dataclass(frozen=True)
class OutgoingRecord:
    """One Kafka record as it will be produced."""

    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str]
    event_id: str

    @classmethod
    def of(cls, topic: str, message: Message) -> OutgoingRecord:
        """The record of `message` on `topic`: key from the key helper, metadata in headers,
        and the trace context of the code making it (kept in an outbox until it is sent)."""
        client_id = getattr(message, "client_id", None)
        store_id = getattr(message, "store_id", None)
        headers = {
            HEADER_EVENT_TYPE: message.event_type,
            HEADER_EVENT_ID: str(message.event_id),
            HEADER_EVENT_VERSION: str(message.event_version),
        }
        correlation_id = getattr(message, "correlation_id", None)
        if correlation_id:
            headers[HEADER_CORRELATION_ID] = correlation_id
        headers |= trace_headers(topic, message)
        return cls(
            topic=topic,
            key=key_for(topic, client_id, store_id),
            value=message.to_json(),
            headers=headers,
            event_id=str(message.event_id),
        )

    def to_document(self) -> dict[str, Any]:
        """The record as stored in an embedded outbox (MongoDB has no bytes-keyed maps)."""
        return {
            "eventId": self.event_id,
            "topic": self.topic,
            "key": self.key.decode(),
            "value": self.value.decode(),
            "headers": self.headers,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> OutgoingRecord:
        return cls(
            topic=document["topic"],
            key=document["key"].encode(),
            value=document["value"].encode(),
            headers=dict(document["headers"]),
            event_id=document["eventId"],
        )


class RecordSink(Protocol):
    """Something that produces records in order and returns once the broker acknowledged all."""

    async def send(self, *records: OutgoingRecord) -> None: ...
