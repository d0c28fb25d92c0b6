"""Traces (OpenTelemetry): each process's exporter, and the W3C trace context on Kafka records.

A record carries the context of the code that made it (`traceparent` in its headers, stored
with it in an outbox), so a consumer's span continues the trace of the handling that wrote the
record however late the relay sends it. Spans name topics, event types and the ids of the log
context; never a body, a query string or anything else that may hold personal data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.contracts.base import Message
from shared.settings import TracingSettings

TRACER_NAME = "restaurant-orders"
_tracer = trace.get_tracer(TRACER_NAME)
_PROPAGATOR = TraceContextTextMapPropagator()
"""`traceparent` and `tracestate` only: W3C baggage could carry anything (personal data)."""
QUIET_ROUTES = "/healthz,/readyz,/metrics"
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")


class Tracing:
    """This process's tracer provider while spans are exported; nothing when tracing is off."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider

    @classmethod
    def start(cls, service: str, settings: TracingSettings) -> Tracing:
        """Exports the process's spans over OTLP/HTTP when `settings` name an exporter. Once a
        process: OpenTelemetry keeps the first provider set."""
        if not settings.enabled:
            return cls()
        provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            sampler=ParentBased(TraceIdRatioBased(settings.traces_sampler_arg)),
        )
        endpoint = settings.exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        return cls(provider)

    async def stop(self) -> None:
        """Sends the spans still queued (the exporter blocks: off the event loop)."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)


def message_attributes(message: Message) -> dict[str, str]:
    """What a span says of a message: its type and ids, the same names as the log context."""
    fields = {
        "eventType": message.event_type,
        "eventId": str(message.event_id),
        "correlationId": getattr(message, "correlation_id", None),
        "clientId": getattr(message, "client_id", None),
        "storeId": getattr(message, "store_id", None),
        "orderId": getattr(message, "order_id", None),
    }
    return {name: str(value) for name, value in fields.items() if value}


def trace_headers(topic: str, message: Message) -> dict[str, str]:
    """The trace context of a new record of `message` on `topic`: a `create` span for it, a
    child of the current span (empty when no trace is being recorded or passed on)."""
    attributes = message_attributes(message) | {
        "messaging.system": "kafka",
        "messaging.operation.type": "create",
        "messaging.destination.name": topic,
        "messaging.message.id": str(message.event_id),
    }
    name = f"create {topic} {message.event_type}"
    with _tracer.start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes):
        return current_context()


def current_context() -> dict[str, str]:
    """The current trace context as W3C headers, to keep with work done later (a timer)."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers


@contextmanager
def continuing(headers: Mapping[str, str]) -> Iterator[None]:
    """Runs the block in the trace context kept in `headers` (none: no trace)."""
    token = otel_context.attach(context_from(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


def context_from(headers: Mapping[str, str]) -> Context:
    """The sender's trace context in a record's headers; an empty one when they hold none or
    something that is not a W3C `traceparent` (garbage is ignored, never an error)."""
    return _PROPAGATOR.extract(headers, context=Context())


@contextmanager
def processing(
    consumer: str,
    topic: str,
    partition: int,
    offset: int,
    event_type: str,
    headers: Mapping[str, str],
) -> Iterator[Span]:
    """The span of one record's handling by `consumer`, a child of its sender's context."""
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.consumer.group.name": consumer,
        "messaging.destination.partition.id": str(partition),
        "messaging.kafka.offset": offset,
        "eventType": event_type,
    }
    with _tracer.start_as_current_span(
        f"process {topic} {event_type}",
        context=context_from(headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        record_exception=False,  # an exception's text may quote the input
    ) as span:
        yield span


def tracer(provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The tracer of this code: the process's, or that of `provider` (a client's caller may
    record its spans apart, as OpenTelemetry's instrumentations allow)."""
    return trace.get_tracer(TRACER_NAME, tracer_provider=provider)


def annotate(message: Message) -> None:
    """Adds the message's type and ids to the current span, once the message could be read."""
    trace.get_current_span().set_attributes(message_attributes(message))


def trace_http_app(app: FastAPI) -> None:
    """A server span for each request but the probes' and Prometheus's, paths only."""
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=QUIET_ROUTES,
        server_request_hook=without_query,
        exclude_spans=["receive", "send"],
    )


def trace_http_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client span for each call (Asaas, Twilio), carrying the trace context; paths only."""

    async def request_hook(span: Span, request: Any) -> None:
        without_query(span)

    HTTPXClientInstrumentor.instrument_client(client, request_hook=request_hook)
    return client


def without_query(span: Span, *_: object) -> None:
    """Drops the query string from a span's URL attributes: queries name customers (a phone
    number to Twilio, a reference to Asaas, `phoneNumber=` on the order service)."""
    attributes = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    if attributes.get("url.query"):
        span.set_attribute("url.query", "")
