"""One order's trace across the four services, every one a real process exporting its spans over
OTLP/HTTP to a receiver the test runs: the chatbot's PlaceOrder begins it, and the parent links
run unbroken from there to the Asaas charge and the Twilio call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from shared.contracts.orders import OrderPlaced
from tests.system.conftest import Restaurant, System, running_system
from tests.system.otlp_receiver import TRACES_PATH, OtlpReceiver, ReceivedSpan
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SERVICES = ("order", "payment", "scheduler", "notifier")
CLIENT = SpanProto.SpanKind.SPAN_KIND_CLIENT


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str,
    mongodb_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
    receiver: OtlpReceiver,
) -> Iterator[System]:
    exporting = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # the SDK's batch wait, in ms (5 s by default)
    }
    with running_system(
        kafka_bootstrap,
        mongodb_uri,
        tmp_path_factory.mktemp("traced"),
        env=dict.fromkeys(SERVICES, exporting),
    ) as running:
        yield running


@pytest.fixture
def chatbot_tracing(receiver: OtlpReceiver) -> Iterator[TracerProvider]:
    """The chatbot's own spans, exported to the same receiver as it sends them."""
    provider = TracerProvider(resource=Resource.create({"service.name": "chatbot"}))
    exporter = OTLPSpanExporter(endpoint=receiver.endpoint + TRACES_PATH)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def ancestry(span: ReceivedSpan, trace: list[ReceivedSpan]) -> list[ReceivedSpan]:
    """`span`, its parent, its parent's parent... up to the root; stops at a missing link."""
    by_id = {found.span_id: found for found in trace}
    chain = [span]
    while chain[-1].parent_id and chain[-1].parent_id in by_id:
        chain.append(by_id[chain[-1].parent_id])
    return chain


def calls(trace: list[ReceivedSpan], service: str, method: str, path: str) -> list[ReceivedSpan]:
    """The HTTP calls `service` made in the trace to a URL ending in `path`."""
    return [
        span
        for span in trace
        if span.service == service
        and span.kind == CLIENT
        and method
        in (span.attributes.get("http.method"), span.attributes.get("http.request.method"))
        and span.url.endswith(path)
    ]


def served_by(chain: list[ReceivedSpan]) -> list[str]:
    """The processes a chain of spans passes through, nearest first, each named once."""
    services: list[str] = []
    for span in chain:
        if not services or services[-1] != span.service:
            services.append(span.service)
    return services


async def test_one_pix_orders_trace_runs_from_the_chatbots_place_order_to_the_twilio_call(
    restaurant: Restaurant, receiver: OtlpReceiver, chatbot_tracing: TracerProvider
) -> None:
    await restaurant.onboard()
    async with restaurant.chatbot(chatbot_tracing) as chatbot:
        outcome = await chatbot.place(restaurant.order("PIX"))
    assert isinstance(outcome, OrderPlaced), outcome
    [root] = [span for span in receiver.spans() if span.name == "chatbot PlaceOrder"]
    trace: list[ReceivedSpan] = []

    def whole() -> bool:
        trace[:] = receiver.spans(root.trace_id)
        instructions = [
            span
            for span in calls(trace, "notifier", "POST", "/Messages.json")
            if "payment" in served_by(ancestry(span, trace))
        ]
        scheduled = [s for s in trace if s.attributes.get("eventType") == "ScheduleTimer"]
        return bool(instructions) and any(s.service == "scheduler" for s in scheduled)

    await eventually(whole, timeout=40, what="the payment instructions' Twilio call traced")

    assert {span.service for span in trace} >= {"chatbot", *SERVICES}
    assert root.parent_id == ""
    assert root.attributes["clientId"] == restaurant.client_id
    twilio = calls(trace, "notifier", "POST", "/Messages.json")
    asaas = calls(trace, "payment", "POST", "/v3/payments")
    assert twilio, "no Twilio call in the trace"
    assert asaas, "no Asaas charge in the trace"
    for call in [*twilio, *asaas]:
        chain = ancestry(call, trace)
        assert chain[-1] == root, (
            f"{call.service} {call.name} {call.url}: the links stop at "
            f"{chain[-1].service} {chain[-1].name}, not at the chatbot's PlaceOrder"
        )
    for call in twilio:
        print("\n" + " <- ".join(f"{s.service}: {s.name}" for s in ancestry(call, trace)))
    [instructions_chain] = [
        served_by(ancestry(call, trace))
        for call in twilio
        if "payment" in served_by(ancestry(call, trace))
    ]
    # The instructions come from payment and reach the notifier by way of the order service.
    assert instructions_chain[0] == "notifier"
    assert instructions_chain[-1] == "chatbot"
    assert {"order", "payment"} <= set(instructions_chain)
    [deadline] = [
        span
        for span in trace
        if span.service == "scheduler" and span.attributes.get("eventType") == "ScheduleTimer"
    ]
    assert served_by(ancestry(deadline, trace)) == ["scheduler", "order", "chatbot"]
    assert deadline.attributes["orderId"] == outcome.order_id
    assert deadline.attributes["messaging.destination.name"] == "scheduler.commands"

    # What an on-call engineer reads, and nothing of the customer.
    order_process = [
        span
        for span in trace
        if span.service == "order" and span.name == "process orders.commands PlaceOrder"
    ]
    assert [span.attributes["clientId"] for span in order_process] == [restaurant.client_id]
    digits = restaurant.phone.lstrip("+")
    for span in trace:
        for name, value in span.attributes.items():
            assert digits not in str(value), f"{span.service} {span.name} {name} names the phone"
        assert "?" not in span.url, f"{span.service} {span.name} keeps a query string"
