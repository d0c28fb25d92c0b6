"""The W3C trace context on Kafka records: injected where a record is made, read back by the
consumer, garbage ignored; spans keep no query strings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription
from shared.contracts.orders import PlaceOrder
from shared.contracts.registry import decode_as
from shared.processed_events import InMemoryProcessedEvents
from shared.records import OutgoingRecord
from shared.settings import ConsumerSettings, TracingSettings
from shared.topics import ORDERS_COMMANDS, ORDERS_EVENTS
from shared.tracing import context_from, without_query
from tests.builders import place_order
from tests.sinks import RecordingSink

SENDER_TRACE = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SENDER_SPAN = 0x00F067AA0BA902B7


@contextmanager
def sender_span(trace_id: int = SENDER_TRACE, span_id: int = SENDER_SPAN) -> Iterator[None]:
    """Code running inside a sampled span of a sender's trace."""
    context = SpanContext(
        trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    with trace.use_span(NonRecordingSpan(context)):
        yield


def traced(headers: dict[str, str]) -> SpanContext:
    return trace.get_current_span(context_from(headers)).get_span_context()


def test_a_record_made_inside_a_trace_carries_its_context_in_a_traceparent_header() -> None:
    with sender_span():
        record = OutgoingRecord.of(ORDERS_COMMANDS, place_order())

    version, trace_id, _span_id, flags = record.headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", f"{SENDER_TRACE:032x}", "01")
    assert traced(record.headers).trace_id == SENDER_TRACE


def test_a_record_made_outside_any_trace_has_no_trace_headers() -> None:
    record = OutgoingRecord.of(ORDERS_COMMANDS, place_order())

    assert "traceparent" not in record.headers
    assert "tracestate" not in record.headers


def test_the_trace_context_survives_the_outbox_document_form() -> None:
    with sender_span():
        record = OutgoingRecord.of(ORDERS_EVENTS, place_order())

    stored = OutgoingRecord.from_document(record.to_document())

    assert stored.headers["traceparent"] == record.headers["traceparent"]
    assert traced(stored.headers).trace_id == SENDER_TRACE


@pytest.mark.parametrize(
    "traceparent",
    [
        "garbage",
        "",
        "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # the invalid trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # the invalid span id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # a forbidden version
        "\\xff\\xfe\\x00",  # binary, as the consumer reads it (escaped)
        "00-" + "a" * 10_000,
    ],
)
def test_a_traceparent_that_is_not_w3c_is_ignored(traceparent: str) -> None:
    assert not traced({"traceparent": traceparent, "tracestate": "\\xc3("}).is_valid


def test_a_w3c_traceparent_is_read_as_the_senders_remote_context() -> None:
    headers = {"traceparent": f"00-{SENDER_TRACE:032x}-{SENDER_SPAN:016x}-01"}

    context = traced(headers)

    assert (context.trace_id, context.span_id, context.is_remote) == (
        SENDER_TRACE,
        SENDER_SPAN,
        True,
    )


async def test_a_handler_runs_in_its_senders_trace_and_what_it_publishes_continues_it() -> None:
    with sender_span():
        command = OutgoingRecord.of(ORDERS_COMMANDS, place_order())
    made: list[OutgoingRecord] = []

    async def handle(message: PlaceOrder, received: ReceivedRecord) -> None:
        made.append(OutgoingRecord.of(ORDERS_EVENTS, message))

    consumer = IdempotentConsumer(
        Subscription("trace-test", lambda value: decode_as(value, PlaceOrder), handle),
        processed=InMemoryProcessedEvents(),
        dead_letters=RecordingSink(),
        settings=ConsumerSettings(),
    )
    await consumer.handle(
        ReceivedRecord(ORDERS_COMMANDS, 0, 7, command.key, command.value, command.headers)
    )

    [published] = made
    assert traced(published.headers).trace_id == SENDER_TRACE


async def test_a_handler_of_a_record_with_a_garbage_trace_context_is_handled() -> None:
    placed = place_order()
    command = OutgoingRecord.of(ORDERS_COMMANDS, placed)
    handled: list[PlaceOrder] = []

    async def handle(message: PlaceOrder, received: ReceivedRecord) -> None:
        handled.append(message)

    dead_letters = RecordingSink()
    consumer = IdempotentConsumer(
        Subscription("trace-test", lambda value: decode_as(value, PlaceOrder), handle),
        processed=InMemoryProcessedEvents(),
        dead_letters=dead_letters,
        settings=ConsumerSettings(),
    )
    headers = command.headers | {"traceparent": "\\x00\\xff-not-a-trace", "tracestate": "=;="}
    await consumer.handle(
        ReceivedRecord(ORDERS_COMMANDS, 0, 8, command.key, command.value, headers)
    )

    assert handled == [placed]
    assert dead_letters.records == []


def test_spans_keep_the_path_of_a_url_and_drop_its_query() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = provider.get_tracer("test").start_span(
        "GET",
        attributes={
            "url.full": "https://api.twilio.com/2010-04-01/Messages.json?To=whatsapp:+5511987654321",
            "http.url": "https://sandbox.asaas.com/v3/customers?externalReference=cust-1",
            "http.target": "/orders?phoneNumber=+5511987654321",
            "url.query": "phoneNumber=+5511987654321",
        },
    )

    without_query(span)
    span.end()

    [finished] = exporter.get_finished_spans()
    assert dict(finished.attributes or {}) == {
        "url.full": "https://api.twilio.com/2010-04-01/Messages.json",
        "http.url": "https://sandbox.asaas.com/v3/customers",
        "http.target": "/orders",
        "url.query": "",
    }


def test_tracing_is_off_unless_an_exporter_is_named() -> None:
    assert not TracingSettings().enabled
    assert TracingSettings(traces_exporter="otlp").enabled
