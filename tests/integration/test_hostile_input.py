"""Hostile input on the real broker: on every topic a service consumes, whatever cannot be read
goes to `<topic>.dlq` with its error, and the valid message right after it (same key, same
partition) is handled within seconds. Each service's own subscriptions run, on a topic of the
test's own, with the in-memory twins behind them (what they publish stays in memory)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.notifier.adapters.in_memory_ledger import InMemoryNotificationLedger
from services.notifier.adapters.store_configs import InMemoryStoreConfigs, KafkaStoreConfigs
from services.notifier.handlers import subscriptions as notifier_subscriptions
from services.notifier.metrics import STORE_CONFIGS_UNREADABLE
from services.notifier.service import NotificationService
from services.order.handlers import subscriptions as order_subscriptions
from services.order.service import order_id_for
from services.payment.adapters.in_memory import (
    InMemoryJobQueue,
    InMemoryPaymentRepository,
    InMemoryPixImageStore,
    InMemoryWebhookInbox,
)
from services.payment.config import PaymentPolicy
from services.payment.handlers import subscriptions as payment_subscriptions
from services.payment.ports import AsaasAccounts
from services.payment.use_cases import build_use_cases
from services.scheduler.adapters.in_memory_timer_store import InMemoryTimerStore
from services.scheduler.handlers import subscriptions as scheduler_subscriptions
from services.scheduler.service import TimerService
from shared.broker import BrokerSink, topic_config
from shared.consumer import ReceivedRecord, Subscription, consume
from shared.contracts.base import Message
from shared.contracts.payments import PaymentSucceeded
from shared.contracts.pos import PosOrderConfirmed
from shared.contracts.scheduler import TimerFired, TimerPurpose
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus
from shared.processed_events import InMemoryProcessedEvents
from shared.records import (
    HEADER_CONSUMER,
    HEADER_DEAD_VALUE_BYTES,
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_ORIGINAL_OFFSET,
)
from shared.settings import ConsumerSettings, KafkaSettings
from shared.topics import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    PAYMENTS_EVENTS,
    SCHEDULER_COMMANDS,
    SCHEDULER_EVENTS,
    dlq_topic,
    pos_updates_topic,
)
from tests.builders import cancel_timer, caused, envelope, now, place_order, pos_update
from tests.component.test_payment_component import FakeAsaas, request_payment
from tests.integration.kafka_helpers import (
    at_least,
    headers_of,
    read_until,
    running_broker,
)
from tests.notifier.events import config_changed, status_changed
from tests.notifier.fakes import FakeMessenger
from tests.order.twins import OrderTwins
from tests.sinks import RecordingSink
from tests.waiting import eventually

pytestmark = pytest.mark.integration

BIG_BODY_BYTES = 2 * 1024 * 1024
TOPIC_MAX_BYTES = 3 * 1024 * 1024
"""The broker's default max.message.bytes (~1 MB) would refuse the 2 MB body: the test topics
accept 3 MB; their DLQs keep the default, so a dead letter that large is cut to fit."""
HANDLED_WITHIN_S = 20.0
"""Joining the consumer group takes a few seconds of this; the corpus itself far less."""
SETTINGS = ConsumerSettings(attempts=2, transient_max_elapsed_s=1)


@dataclass(frozen=True)
class Hostile:
    name: str
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def corpus(expected_type: str) -> list[Hostile]:
    """What nobody should send: each cannot be read as a message of the topic."""
    nested = b'{"a":' * 1000 + b"1" + b"}" * 1000
    return [
        Hostile("1000-deep array", b"[" * 1000 + b"]" * 1000),
        Hostile("1000-deep object", nested),
        Hostile("1000-deep JSON said to be JSON", nested, (("content-type", b"application/json"),)),
        Hostile(
            "5000-digit integer",
            b'{"eventType": "%s", "n": %s}'
            % (
                expected_type.encode(),
                b"9" * 5000,
            ),
        ),
        Hostile(
            "wrong types",
            json.dumps(
                {
                    "eventType": expected_type,
                    "eventVersion": 1,
                    "eventId": 12345,
                    "occurredAt": [1],
                    "clientId": {"a": 1},
                    "correlationId": "turn-x",
                }
            ).encode(),
        ),
        Hostile(
            "binary and null headers",
            b'{"eventType": 7}',
            (
                ("event-type", b"\xff\xfe\x00"),
                ("event-id", None),
                ("correlation-id", b"\xc3\x28"),
            ),
        ),
        Hostile("a reply_to header", b"{}", (("reply_to", ORDERS_COMMANDS.encode()),)),
        Hostile(
            "a binary trace context",
            b"{}",
            (("traceparent", b"\x00\xff" * 30), ("tracestate", None)),
        ),
        Hostile("empty body", b""),
        Hostile("null body", None),
        Hostile(
            "2 MB body",
            b'{"eventType": "%s", "pad": "%s"}'
            % (
                expected_type.encode(),
                b"x" * BIG_BODY_BYTES,
            ),
        ),
        Hostile("unknown event type", b'{"eventType": "TeleportOrder", "eventVersion": 1}'),
        Hostile("a type of no topic consumed here", b'{"eventType": "NotificationSent"}'),
        Hostile("JSON list", b"[1, 2]"),
        Hostile("JSON string", b'"PlaceOrder"'),
        Hostile("JSON null", b"null"),
        Hostile("not UTF-8", b"\xff\xfe{"),
        Hostile("text", b"hello"),
    ]


@dataclass(frozen=True)
class Consumed:
    """A topic a service consumes, the service's subscriptions, and a message it accepts there
    (made for the restaurant whose key the corpus is sent on)."""

    topic: str
    subscriptions: Callable[[], list[Subscription[Any]]]
    valid: Callable[[str], Message]
    expected_type: str


def order_service() -> list[Subscription[Any]]:
    service = OrderTwins().service
    return order_subscriptions(service)


def payment_service() -> list[Subscription[Any]]:
    use_cases = build_use_cases(
        InMemoryPaymentRepository(RecordingSink()),
        InMemoryJobQueue(),
        InMemoryWebhookInbox(),
        InMemoryPixImageStore(),
        cast(AsaasAccounts, FakeAsaas()),
        PaymentPolicy(),
        now,
    )
    return payment_subscriptions(use_cases.charges, use_cases.refunds)


def notifier() -> list[Subscription[Any]]:
    notifications = NotificationService(
        InMemoryNotificationLedger(RecordingSink()),
        FakeMessenger(),
        InMemoryStoreConfigs(),
        now,
        templates={},
    )
    return notifier_subscriptions(notifications)


def scheduler() -> list[Subscription[Any]]:
    return scheduler_subscriptions(TimerService(InMemoryTimerStore(), RecordingSink(), now))


def timer_fired(client: str) -> TimerFired:
    return TimerFired(
        **envelope(client_id=client),
        timer_id="order_1:payment",
        purpose=TimerPurpose.PAYMENT_DEADLINE,
        order_id="order_1",
        due_at=now(),
        fired_at=now(),
    )


def payment_succeeded(client: str) -> PaymentSucceeded:
    order = place_order("PIX", client_id=client)
    return caused(
        order,
        PaymentSucceeded,
        order_id=order_id_for(order),
        payment_id="pay_1",
        amount_cents=3780,
        paid_at=now(),
    )


POS = "pos.updates"
CONSUMED = [
    Consumed(ORDERS_COMMANDS, order_service, lambda c: place_order(client_id=c), "PlaceOrder"),
    Consumed(PAYMENTS_EVENTS, order_service, payment_succeeded, "PaymentSucceeded"),
    Consumed(SCHEDULER_EVENTS, order_service, timer_fired, "TimerFired"),
    Consumed(
        POS, order_service, lambda c: pos_update(PosOrderConfirmed, "o_1"), "PosOrderConfirmed"
    ),
    Consumed(
        PAYMENTS_COMMANDS,
        payment_service,
        lambda c: request_payment("order_1").model_copy(update={"client_id": c}),
        "RequestPayment",
    ),
    Consumed(
        ORDERS_EVENTS,
        notifier,
        lambda c: status_changed("order_1", OrderStatus.CONFIRMED, client_id=c),
        "OrderStatusChanged",
    ),
    Consumed(
        SCHEDULER_COMMANDS,
        scheduler,
        lambda c: cancel_timer("order_1:payment", client_id=c),
        "CancelTimer",
    ),
]


def own_topic(consumed: Consumed, client: str, suffix: str) -> str:
    if consumed.topic == POS:
        return pos_updates_topic(client, "store-1")
    return f"{consumed.topic}.{suffix}"


def rewired(
    consumed: Consumed, topic: str, client: str, reached: list[tuple[str, str]]
) -> list[Subscription[Any]]:
    """The subscriptions of `consumed.topic`, moved onto the test's own topic, noting each
    message that reaches the service's handler."""

    def noting(subscription: Subscription[Any]) -> Subscription[Any]:
        async def handle(message: Any, received: ReceivedRecord) -> None:
            reached.append((received.topic, str(message.event_id)))
            await subscription.handle(message, received)

        moved: dict[str, Any] = {"topics": (topic,), "pattern": None}
        if subscription.pattern is not None:  # one restaurant's POS topics only
            moved = {"topics": (), "pattern": rf"pos\.{client}\.[A-Za-z0-9_-]+\.updates"}
        return dataclasses.replace(
            subscription, name=f"{subscription.name}-{client}", handle=handle, **moved
        )

    chosen = [
        subscription
        for subscription in consumed.subscriptions()
        if consumed.topic in subscription.topics or (consumed.topic == POS and subscription.pattern)
    ]
    assert chosen, f"no subscription consumes {consumed.topic}"
    return [noting(subscription) for subscription in chosen]


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(
                    name,
                    num_partitions=1 if name.startswith("pos.") else 3,
                    replication_factor=1,
                    topic_configs=topic_config(name)
                    | (
                        {} if name.endswith(".dlq") else {"max.message.bytes": str(TOPIC_MAX_BYTES)}
                    ),
                )
                for name in names
            ]
        )
    finally:
        await admin.close()


async def send_all(bootstrap: str, topic: str, key: bytes, hostile: list[Hostile]) -> list[int]:
    """Produces each hostile record on `topic` under `key`; their offsets."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=TOPIC_MAX_BYTES
    )
    await producer.start()
    try:
        offsets = []
        for record in hostile:
            sent = await producer.send_and_wait(
                topic, record.value, key=key, headers=list(record.headers)
            )
            offsets.append(sent.offset)
        return offsets
    finally:
        await producer.stop()


@pytest.mark.parametrize("consumed", CONSUMED, ids=lambda consumed: consumed.topic)
async def test_nothing_unreadable_stalls_a_partition_and_all_of_it_is_dead_lettered(
    kafka_bootstrap: str, consumed: Consumed
) -> None:
    client = f"hostile-{uuid.uuid4().hex[:8]}"
    topic = own_topic(consumed, client, client)
    await create_topics(kafka_bootstrap, topic, dlq_topic(topic))
    reached: list[tuple[str, str]] = []
    subscriptions = rewired(consumed, topic, client, reached)
    hostile = corpus(consumed.expected_type)
    valid = consumed.valid(client)
    key = client.encode()
    # A readable message is handled whatever its headers carry, a trace context that is
    # garbage (binary, oversized) included: it is ignored, the handling starts a trace.
    valid_with_odd_headers = Hostile(
        "valid",
        valid.to_json(),
        (
            ("x-null", None),
            ("x-binary", b"\xff\xfe"),
            ("traceparent", b"00-\xff\xfe\x00garbage-\xc3\x28-01"),
            ("tracestate", b"k=" + b"v" * 10_000),
        ),
    )

    def setup(broker: Any) -> None:
        consume(
            broker,
            subscriptions,
            processed=InMemoryProcessedEvents(),
            dead_letters=BrokerSink(broker),
            settings=SETTINGS,
        )

    async with running_broker(kafka_bootstrap, setup):
        offsets = await send_all(kafka_bootstrap, topic, key, hostile)
        [valid_offset] = await send_all(kafka_bootstrap, topic, key, [valid_with_odd_headers])
        started = time.monotonic()
        await eventually(
            lambda: (topic, str(valid.event_id)) in reached,
            timeout=HANDLED_WITHIN_S,
            what=f"the valid message after {len(hostile)} hostile ones on {topic} handled",
        )
        waited = time.monotonic() - started
        dead = await read_until(kafka_bootstrap, dlq_topic(topic), at_least(len(hostile)))

    by_offset = {int(headers_of(record)[HEADER_ORIGINAL_OFFSET]): record for record in dead}
    # The valid message may be refused by the service itself (a payment of an order it does
    # not know): that is its handler's answer, not a stall.
    refused = by_offset.pop(valid_offset, None)
    print(
        f"\n{consumed.topic}: {len(hostile)} hostile sent, {len(by_offset)} dead-lettered; the "
        f"valid one reached its handler after {waited:.1f}s"
        + (f" (refused: {headers_of(refused)[HEADER_ERROR]})" if refused else "")
    )
    assert [event_id for _, event_id in reached] == [str(valid.event_id)], "only the valid one"
    assert sorted(by_offset) == offsets, "every hostile record is in the DLQ, once"
    for sent, offset in zip(hostile, offsets, strict=True):
        record, headers = by_offset[offset], headers_of(by_offset[offset])
        assert headers[HEADER_ERROR], sent.name
        assert headers[HEADER_CONSUMER] == subscriptions[0].name
        assert record.key == key
        if HEADER_DEAD_VALUE_BYTES in headers:
            assert sent.value is not None
            assert int(headers[HEADER_DEAD_VALUE_BYTES]) == len(sent.value), sent.name
            assert sent.value.startswith(record.value or b""), sent.name
        else:
            assert (record.value or b"") == (sent.value or b""), sent.name
        for name, _ in sent.headers:
            assert name in headers, f"{sent.name}: header {name} kept"
    assert headers_of(by_offset[offsets[3]])[HEADER_ERROR_TYPE] == "ContractError"


def store_config_corpus() -> list[Hostile]:
    # A null value is a tombstone on the compacted topic (a deleted store): not hostile there.
    return [record for record in corpus("StoreConfigChanged") if record.value is not None]


async def test_the_notifier_skips_and_counts_unreadable_store_configs_and_reads_on(
    kafka_bootstrap: str,
) -> None:
    client = f"hostile-{uuid.uuid4().hex[:8]}"
    topic = f"stores.config.{client}"
    await create_topics(kafka_bootstrap, topic)
    config = StoreOrderConfig(client_id=client, store_id="store-1", requires_confirmation=False)
    hostile = store_config_corpus()
    key = f"{client}:store-1".encode()
    before = STORE_CONFIGS_UNREADABLE._value.get()
    await send_all(kafka_bootstrap, topic, key, hostile)
    await send_all(
        kafka_bootstrap, topic, key, [Hostile("valid", config_changed(config).to_json())]
    )

    configs = KafkaStoreConfigs(KafkaSettings(bootstrap_servers=kafka_bootstrap), topic=topic)
    await configs.start()  # a poison record crash-looped the notifier here at every start
    try:
        assert await configs.catch_up(timeout_s=HANDLED_WITHIN_S)
        assert configs.known(client, "store-1") == config
    finally:
        await configs.stop()
    assert STORE_CONFIGS_UNREADABLE._value.get() - before == len(hostile)


def test_every_corpus_entry_has_a_name_of_its_own() -> None:
    names = [record.name for record in corpus("PlaceOrder")]
    assert len(names) == len(set(names))


async def test_an_update_naming_another_stores_order_is_dead_lettered_and_the_next_handled(
    kafka_bootstrap: str,
) -> None:
    client = f"hostile-{uuid.uuid4().hex[:8]}"
    twins = OrderTwins()
    orders, configs, service = twins.orders, twins.configs, twins.service
    mine, theirs = place_order(client_id=client), place_order(client_id=client, store_id="other")
    for store in ("store-1", "other"):
        config = StoreOrderConfig(client_id=client, store_id=store, requires_confirmation=True)
        await configs.put(config, [], now())
    await service.place(mine)
    await service.place(theirs)
    topic = pos_updates_topic(client, "store-1")
    await create_topics(kafka_bootstrap, topic, dlq_topic(topic))
    reached: list[tuple[str, str]] = []
    pos_subscriptions = [s for s in order_subscriptions(service) if s.pattern is not None]
    consumed = Consumed(POS, lambda: pos_subscriptions, lambda c: valid, "PosOrderConfirmed")
    foreign = pos_update(PosOrderConfirmed, order_id_for(theirs))
    valid = pos_update(PosOrderConfirmed, order_id_for(mine))

    def setup(broker: Any) -> None:
        consume(
            broker,
            rewired(consumed, topic, client, reached),
            processed=InMemoryProcessedEvents(),
            dead_letters=BrokerSink(broker),
            settings=SETTINGS,
        )

    async with running_broker(kafka_bootstrap, setup):
        await send_all(
            kafka_bootstrap,
            topic,
            client.encode(),
            [Hostile("another store's order", foreign.to_json()), Hostile("mine", valid.to_json())],
        )
        await eventually(
            lambda: (topic, str(valid.event_id)) in reached,
            timeout=HANDLED_WITHIN_S,
            what="the store's own confirmation handled after the foreign one",
        )
        [dead] = await read_until(kafka_bootstrap, dlq_topic(topic), at_least(1))

    assert dead.value == foreign.to_json()
    assert headers_of(dead)[HEADER_ERROR_TYPE] == "PermanentError"
    assert "store" in headers_of(dead)[HEADER_ERROR]
    confirmed = await orders.get(order_id_for(mine))
    untouched = await orders.get(order_id_for(theirs))
    assert confirmed is not None
    assert untouched is not None
    assert (confirmed.status, untouched.status) == (OrderStatus.CONFIRMED, OrderStatus.PENDING)
