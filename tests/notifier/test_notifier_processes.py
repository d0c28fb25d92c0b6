"""The notifier as a real process on the real broker and server, talking to the Twilio emulator."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import TypedDict, cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notifier.adapters.mongo_ledger import (
    ARCHIVED_AFTER,
    HISTORY,
    NOTIFICATIONS,
    MongoNotificationLedger,
)
from shared.broker import BrokerSink
from shared.contracts.base import Message
from shared.contracts.notifications import (
    NotificationDropped,
    NotificationFailed,
    NotificationSent,
)
from shared.contracts.payments import RefundFailed
from shared.contracts.registry import decode_as
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import NotificationKind, OrderStatus, PaymentMethod, PaymentStatus
from shared.keys import key_for
from shared.mongo import Database
from shared.outbox import OutboxRelay
from shared.processed_events import COLLECTION as PROCESSED_EVENTS
from shared.records import OutgoingRecord
from shared.settings import OutboxSettings
from shared.topics import (
    NOTIFICATIONS_EVENTS,
    ORDERS_EVENTS,
    PAYMENTS_EVENTS,
    STORES_CONFIG,
    dlq_topic,
)
from tests.builders import envelope, now
from tests.integration.kafka_helpers import Record, read_all, read_until, running_broker
from tests.notifier.emulator import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SENDER,
    STORE_SENDER,
    TwilioEmulator,
)
from tests.notifier.events import (
    config_changed,
    instructions,
    order_placed,
    payment_status_changed,
    status_changed,
)
from tests.processes import ServiceProcess, Services
from tests.sinks import RecordingSink
from tests.waiting import eventually

pytestmark = pytest.mark.integration

NOTIFIER = "services.notifier"
TEMPLATES = {"ORDER_STATUS": "HXstatus0000000000000000000000000", "PAYMENT_CONFIRMED": "HXpaid"}


Audit = NotificationSent | NotificationFailed | NotificationDropped


class StoreIds(TypedDict):
    client_id: str
    store_id: str


class Restaurant:
    """Events of one restaurant of this test (ids unique to the test), on the real broker."""

    def __init__(self, sink: BrokerSink, bootstrap: str) -> None:
        self.sink = sink
        self.bootstrap = bootstrap
        self.client_id = f"rest-{uuid.uuid4().hex[:8]}"
        self.store_id = "store-1"

    def another(self) -> Restaurant:
        """A second restaurant of this test, on the same broker."""
        return Restaurant(self.sink, self.bootstrap)

    @staticmethod
    def phone() -> str:
        return f"+55119{random.randrange(10**7, 10**8)}"  # noqa: S311 - not a secret

    async def publish(self, event: Message, topic: str = ORDERS_EVENTS) -> None:
        await self.sink.send(OutgoingRecord.of(topic, event))

    async def configure(self, **fields: object) -> StoreOrderConfig:
        config = StoreOrderConfig(client_id=self.client_id, store_id=self.store_id, **fields)
        await self.publish(config_changed(config), STORES_CONFIG)
        return config

    def ids(self) -> StoreIds:
        return {"client_id": self.client_id, "store_id": self.store_id}

    def mine(self, records: list[Record]) -> list[Audit]:
        events = [
            cast(
                Audit,
                decode_as(record.value, NotificationSent, NotificationFailed, NotificationDropped),
            )
            for record in records
        ]
        return [event for event in events if event.client_id == self.client_id]

    async def audit(self, done: Callable[[list[Audit]], bool]) -> list[Audit]:
        """This restaurant's audit events on the topic, once `done` holds of them."""
        records = await read_until(
            self.bootstrap, NOTIFICATIONS_EVENTS, lambda rs: done(self.mine(rs)), timeout=60
        )
        return self.mine(records)


@pytest.fixture
async def restaurant(kafka_bootstrap: str) -> AsyncIterator[Restaurant]:
    async with running_broker(kafka_bootstrap) as broker:
        yield Restaurant(BrokerSink(broker), kafka_bootstrap)


StartNotifier = Callable[..., ServiceProcess]


@pytest.fixture
def start_notifier(services: Services, twilio: TwilioEmulator) -> Iterator[StartNotifier]:
    """Starts notifier processes on the emulator; each leaves the consumer group cleanly."""
    started: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        defaults = {
            "TWILIO_BASE_URL": twilio.url,
            "TWILIO_BACKOFF_INITIAL_S": "0.05",
            "TWILIO_BACKOFF_MAX_S": "0.5",
            "TWILIO_ATTEMPTS": "10",
            "TWILIO_CONTENT_TEMPLATES": json.dumps(TEMPLATES),
            "NOTIFIER_RETRY_INITIAL_S": "0.2",
            "NOTIFIER_RETRY_MAX_S": "1",
            "NOTIFIER_RETRY_POLL_S": "0.2",
        }
        process = services.start(NOTIFIER, **(defaults | env))
        started.append(process)
        return process.wait_ready()

    yield start
    for process in started:
        if process.process is not None and process.process.poll() is None:
            process.terminate()


async def test_each_event_sends_its_message_once_even_when_delivered_again(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    notifier = start_notifier()
    phone = restaurant.phone()
    placed = order_placed("ord-1", phone=phone, total_cents=123450, **restaurant.ids())
    confirmed = status_changed("ord-1", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    pix = instructions("ord-1", PaymentMethod.PIX, phone=phone, **restaurant.ids())
    paid = payment_status_changed(
        "ord-1", PaymentStatus.PAID, phone=phone, total_cents=123450, **restaurant.ids()
    )
    ready = status_changed("ord-1", OrderStatus.READY, phone=phone, **restaurant.ids())

    for event in (placed, confirmed, pix, confirmed, paid, placed, ready):
        await restaurant.publish(event)

    await eventually(lambda: len(twilio.messages(phone)) >= 5, timeout=60, what="5 messages")
    audit = await restaurant.audit(lambda events: len(events) >= 5)
    bodies = twilio.bodies(phone)
    assert len(bodies) == 5, bodies
    assert bodies[0] == (
        "Seu pedido #ord-1 foi recebido e está aguardando confirmação do restaurante."
    )
    assert bodies[1].startswith("Seu pedido #ord-1 foi confirmado!")
    assert "PIX Copia e Cola" in bodies[2]
    assert bodies[3] == "Recebemos o pagamento de R$ 1.234,50 do pedido #ord-1. Obrigado, Maria!"
    assert bodies[4] == "Seu pedido #ord-1 está pronto! Em breve sairá para entrega."

    assert all(isinstance(event, NotificationSent) for event in audit)
    assert [event.source_event_id for event in audit] == [
        e.event_id for e in (placed, confirmed, pix, paid, ready)
    ]
    sids = [message["sid"] for message in twilio.messages(phone)]
    assert [event.twilio_sid for event in audit if isinstance(event, NotificationSent)] == sids
    for sent, cause in zip(audit, (placed, confirmed, pix, paid, ready), strict=True):
        assert sent.correlation_id == cause.correlation_id
        assert sent.causation_id == str(cause.event_id)
        assert (sent.client_id, sent.store_id) == (restaurant.client_id, restaurant.store_id)
    # This phone's only: the notifier's group also takes what earlier tests left on the topics;
    # an entry whose event is a minute old may be archived already.
    sent_here = {"to": phone, "state": "SENT"}
    ledger = [await database[name].count_documents(sent_here) for name in (NOTIFICATIONS, HISTORY)]
    assert sum(ledger) == 5, ledger
    assert notifier.metric("notifier_possible_duplicates_total") == 0
    # The ledger alone took each event once: no processed-event record was kept.
    assert await database[PROCESSED_EVENTS].count_documents({}) == 0


def messages_to(twilio: TwilioEmulator, phone: str, count: int) -> Callable[[], bool]:
    return lambda: len(twilio.messages(phone)) >= count


def three_messages_to(twilio: TwilioEmulator, phone: str) -> Callable[[], bool]:
    return messages_to(twilio, phone, 3)


async def test_a_429_burst_is_retried_and_every_message_arrives_once_in_order_per_order(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    notifier = start_notifier()
    twilio.control("throttle", count=8)
    orders = {f"ord-{n}": restaurant.phone() for n in range(3)}
    statuses = [OrderStatus.CONFIRMED, OrderStatus.PREPARING, OrderStatus.READY]
    for status in statuses:
        for order_id, phone in orders.items():
            await restaurant.publish(
                status_changed(order_id, status, phone=phone, **restaurant.ids())
            )

    for phone in orders.values():
        await eventually(three_messages_to(twilio, phone), timeout=60, what="3 messages")
    for order_id, phone in orders.items():
        bodies = twilio.bodies(phone)
        assert [body.split(" ")[2] for body in bodies] == [f"#{order_id}"] * 3
        assert ["confirmado" in bodies[0], "preparado" in bodies[1], "pronto" in bodies[2]] == [
            True
        ] * 3, bodies
    assert twilio.state()["refused"] == {"20429": 8}
    assert notifier.metric("notifier_twilio_retries_total") == 8


async def test_a_permanent_error_is_recorded_and_does_not_block_later_messages(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    unreachable, reachable = restaurant.phone(), restaurant.phone()
    twilio.control("recipient-errors", to=unreachable, code=63024)
    failing = status_changed("ord-a", OrderStatus.CONFIRMED, phone=unreachable, **restaurant.ids())
    await restaurant.publish(failing)
    await restaurant.publish(
        status_changed("ord-b", OrderStatus.CONFIRMED, phone=reachable, **restaurant.ids())
    )

    await eventually(lambda: len(twilio.messages(reachable)) == 1, timeout=60, what="sent")
    audit = await restaurant.audit(lambda events: len(events) >= 2)
    failed = [event for event in audit if isinstance(event, NotificationFailed)]
    assert len(failed) == 1
    assert failed[0].source_event_id == failing.event_id
    assert (failed[0].error_code, failed[0].permanent) == ("63024", True)
    assert failed[0].to == unreachable
    assert failed[0].kind is NotificationKind.ORDER_STATUS
    assert twilio.messages(unreachable) == []


async def test_63016_falls_back_to_the_approved_template(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    phone = restaurant.phone()
    twilio.control("outside-window", to=phone)
    await restaurant.publish(
        status_changed(
            "ord-w", OrderStatus.DELIVERING, phone=phone, delivery_time="25 min", **restaurant.ids()
        )
    )

    await eventually(lambda: len(twilio.messages(phone)) == 1, timeout=60, what="template sent")
    [message] = twilio.messages(phone)
    assert message["content_sid"] == TEMPLATES["ORDER_STATUS"]
    assert message["content_variables"]["2"] == "ord-w"
    assert message["content_variables"]["5"] == "saiu para entrega"
    [sent] = await restaurant.audit(lambda events: len(events) >= 1)
    assert isinstance(sent, NotificationSent)
    assert sent.template_sid == TEMPLATES["ORDER_STATUS"]
    assert twilio.state()["refused"] == {"63016": 1}


async def test_a_store_configuration_changed_while_running_applies_to_the_next_message(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    phone = restaurant.phone()
    await restaurant.publish(
        status_changed("ord-c", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    )
    await eventually(lambda: len(twilio.messages(phone)) == 1, timeout=60, what="default sent")

    await restaurant.configure(
        store_name="Cantina da Nona",
        notification_templates={OrderStatus.PREPARING: "{store_name} preparando {order_id}"},
    )
    await restaurant.publish(
        status_changed("ord-c", OrderStatus.PREPARING, phone=phone, **restaurant.ids())
    )
    await eventually(lambda: len(twilio.messages(phone)) == 2, timeout=60, what="custom sent")

    await restaurant.configure(notify_customer_on_status_change=False)
    await restaurant.publish(
        status_changed("ord-c", OrderStatus.READY, phone=phone, **restaurant.ids())
    )
    await restaurant.publish(
        payment_status_changed("ord-c", PaymentStatus.PAID, phone=phone, **restaurant.ids())
    )
    await eventually(lambda: len(twilio.messages(phone)) == 3, timeout=60, what="payment sent")

    bodies = twilio.bodies(phone)
    assert bodies[0].startswith("Seu pedido #ord-c foi confirmado!")
    assert bodies[1] == "Cantina da Nona preparando ord-c"
    assert bodies[2].startswith("Recebemos o pagamento")  # READY was not sent


async def test_a_store_with_its_own_whatsapp_sender_messages_its_customers_from_it(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    own, platform = restaurant, restaurant.another()
    await own.configure(whatsapp_sender=STORE_SENDER)
    phones = {own.client_id: own.phone(), platform.client_id: platform.phone()}
    for store in (own, platform):
        phone = phones[store.client_id]
        await store.publish(order_placed("ord-s", phone=phone, **store.ids()))
        await store.publish(
            status_changed("ord-s", OrderStatus.CONFIRMED, phone=phone, **store.ids())
        )
    for phone in phones.values():
        await eventually(messages_to(twilio, phone, 2), timeout=60, what="2 messages")

    assert {m["from"] for m in twilio.messages(phones[own.client_id])} == {STORE_SENDER}
    assert {m["from"] for m in twilio.messages(phones[platform.client_id])} == {SENDER}


async def test_a_store_with_its_own_approved_templates_sends_them_instead_of_the_platforms(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    store_templates = {"ORDER_STATUS": "HX" + "5" * 32, "PAYMENT_CONFIRMED": "HX" + "6" * 32}
    own, platform = restaurant, restaurant.another()
    await own.configure(whatsapp_sender=STORE_SENDER, whatsapp_templates=store_templates)
    phones = {own.client_id: own.phone(), platform.client_id: platform.phone()}
    a_day_ago = now() - timedelta(hours=25)  # outside the window: templates only
    for store in (own, platform):
        phone = phones[store.client_id]
        await store.publish(order_placed("ord-t", phone=phone, at=a_day_ago, **store.ids()))
        await store.publish(
            payment_status_changed("ord-t", PaymentStatus.PAID, phone=phone, **store.ids())
        )
    for phone in phones.values():
        await eventually(messages_to(twilio, phone, 2), timeout=60, what="2 messages")

    sent_by_own = twilio.messages(phones[own.client_id])
    assert [(m["from"], m["content_sid"]) for m in sent_by_own] == [
        (STORE_SENDER, store_templates["ORDER_STATUS"]),
        (STORE_SENDER, store_templates["PAYMENT_CONFIRMED"]),
    ]
    assert [m["content_sid"] for m in twilio.messages(phones[platform.client_id])] == [
        TEMPLATES["ORDER_STATUS"],
        TEMPLATES["PAYMENT_CONFIRMED"],
    ]


async def test_a_malformed_event_is_dead_lettered_and_later_events_are_still_notified(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    phone = restaurant.phone()
    key = key_for(ORDERS_EVENTS, restaurant.client_id)
    valid = status_changed("ord-m", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    invalid = valid.to_wire() | {"eventId": str(uuid.uuid4()), "totalCents": 12.5}
    for value in (b"{not json", json.dumps(invalid).encode()):
        await restaurant.sink.send(
            OutgoingRecord(
                topic=ORDERS_EVENTS,
                key=key,
                value=value,
                headers={"event-type": "OrderStatusChanged"},
                event_id="",
            )
        )
    await restaurant.publish(valid)

    await eventually(lambda: len(twilio.messages(phone)) == 1, timeout=60, what="valid sent")
    dead = await read_until(
        restaurant.bootstrap,
        dlq_topic(ORDERS_EVENTS),
        lambda records: len([r for r in records if r.key == key]) >= 2,
        timeout=60,
    )
    mine = [record for record in dead if record.key == key]
    assert [record.value for record in mine] == [b"{not json", json.dumps(invalid).encode()]
    headers = dict(mine[1].headers)
    assert headers["dlq-error-type"] == b"ContractError"
    assert headers["dlq-original-topic"] == ORDERS_EVENTS.encode()


async def test_a_restarted_notifier_rebuilds_store_configs_from_the_topic(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    first = start_notifier()
    phone = restaurant.phone()
    await restaurant.configure(
        notification_templates={OrderStatus.CONFIRMED: "Confirmadíssimo: {order_id} ({total})"}
    )
    await restaurant.publish(
        status_changed("ord-r", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    )
    await eventually(lambda: len(twilio.messages(phone)) == 1, timeout=60, what="first sent")
    known = first.metric("notifier_store_configs")
    first.terminate()

    second = start_notifier()
    assert known >= 1
    assert second.metric("notifier_store_configs") == known  # the whole copy, read again
    await restaurant.publish(
        status_changed(
            "ord-r2", OrderStatus.CONFIRMED, phone=phone, total_cents=999, **restaurant.ids()
        )
    )

    await eventually(lambda: len(twilio.messages(phone)) == 2, timeout=60, what="second sent")
    assert twilio.bodies(phone) == [
        "Confirmadíssimo: ord-r (R$ 44,80)",
        "Confirmadíssimo: ord-r2 (R$ 9,99)",
    ]


async def test_a_payment_alert_is_handled_and_sends_nothing(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    notifier = start_notifier()
    alert = RefundFailed(
        **envelope(client_id=restaurant.client_id, store_id=restaurant.store_id),
        order_id="ord-p",
        payment_id="pay_1",
        reason="400 insufficient_balance",
        attempts=5,
    )

    await restaurant.publish(alert, PAYMENTS_EVENTS)

    await eventually(
        lambda: (
            notifier.metric("messages_handled_total", event_type="RefundFailed", outcome="handled")
            >= 1
        ),
        timeout=60,
        what="the alert handled",
    )
    assert twilio.state()["messages"] == 0


async def left_unfinished(database: Database, notification_id: str) -> str:
    """What a process killed between Twilio's answer and the record leaves behind: a claim."""
    await database[NOTIFICATIONS].insert_one(
        {"_id": notification_id, "state": "SENDING", "attempts": 1, "claimedAt": now()}
    )
    return notification_id


async def test_a_claim_left_by_a_crash_is_sent_again_counted_and_marked(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    notifier = start_notifier()
    phone = restaurant.phone()
    event = status_changed("ord-d", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    notification_id = await left_unfinished(database, f"{event.event_id}:ORDER_STATUS")

    await restaurant.publish(event)

    await eventually(lambda: len(twilio.messages(phone)) == 1, timeout=60, what="sent again")
    await eventually(
        lambda: notifier.metric("notifier_possible_duplicates_total") == 1,
        timeout=10,
        what="counted",
    )

    async def recorded() -> bool:
        entry = await database[NOTIFICATIONS].find_one({"_id": notification_id})
        return entry is not None and entry["state"] == "SENT"

    await eventually(recorded, timeout=10, what="recorded")
    entry = await database[NOTIFICATIONS].find_one({"_id": notification_id})
    assert entry is not None
    assert (entry["possibleDuplicate"], entry["attempts"]) == (True, 2)
    assert "Twilio does not list it; sending again" in notifier.log_tail()


async def test_a_claim_left_by_a_crash_after_twilio_accepted_is_not_sent_again(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    notifier = start_notifier()
    phone = restaurant.phone()
    event = status_changed("ord-e", OrderStatus.READY, phone=phone, **restaurant.ids())
    await left_unfinished(database, f"{event.event_id}:ORDER_STATUS")
    body = "Seu pedido #ord-e está pronto! Em breve sairá para entrega."
    sid = twilio.send(phone, body)  # Twilio accepted it, then the process died

    await restaurant.publish(event)

    [sent] = await restaurant.audit(lambda events: len(events) >= 1)
    assert isinstance(sent, NotificationSent)
    assert sent.twilio_sid == sid
    assert len(twilio.messages(phone)) == 1
    assert notifier.metric("notifier_duplicates_avoided_total") == 1
    assert notifier.metric("notifier_possible_duplicates_total") == 0


async def placed_a_day_ago(order_id: str, restaurant: Restaurant, twilio: TwilioEmulator) -> str:
    """An order placed 25 hours ago (outside the free-form window: templates only), its PENDING
    template sent; returns the customer's phone."""
    phone = restaurant.phone()
    a_day_ago = now() - timedelta(hours=25)
    await restaurant.publish(order_placed(order_id, phone=phone, at=a_day_ago, **restaurant.ids()))
    await eventually(messages_to(twilio, phone, 1), timeout=60, what="the PENDING template")
    return phone


async def test_a_template_sent_before_a_crash_is_found_in_twilio_and_not_sent_again(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    notifier = start_notifier()
    phone = await placed_a_day_ago("ord-g", restaurant, twilio)
    paid = payment_status_changed("ord-g", PaymentStatus.PAID, phone=phone, **restaurant.ids())
    await left_unfinished(database, f"{paid.event_id}:PAYMENT_CONFIRMED")
    sid = twilio.send_template(phone, TEMPLATES["PAYMENT_CONFIRMED"])  # then the process died

    await restaurant.publish(paid)

    audit = await restaurant.audit(lambda events: len(events) >= 2)
    assert [message["content_sid"] for message in twilio.messages(phone)] == [
        TEMPLATES["ORDER_STATUS"],
        TEMPLATES["PAYMENT_CONFIRMED"],
    ]
    sent = audit[-1]
    assert isinstance(sent, NotificationSent)
    assert (sent.twilio_sid, sent.template_sid) == (sid, TEMPLATES["PAYMENT_CONFIRMED"])
    assert notifier.metric("notifier_duplicates_avoided_total") == 1


async def test_a_template_send_whose_answer_was_lost_is_found_in_twilio_not_sent_twice(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    notifier = start_notifier(TWILIO_TIMEOUT_S="0.5")
    phone = await placed_a_day_ago("ord-h", restaurant, twilio)
    twilio.control("slow-answers", count=1, ms=1500, to=phone)  # accepted, answered too late

    await restaurant.publish(
        payment_status_changed("ord-h", PaymentStatus.PAID, phone=phone, **restaurant.ids())
    )

    audit = await restaurant.audit(lambda events: len(events) >= 2)
    messages = twilio.messages(phone)
    assert [message["content_sid"] for message in messages] == [
        TEMPLATES["ORDER_STATUS"],
        TEMPLATES["PAYMENT_CONFIRMED"],
    ]
    sent = audit[-1]
    assert isinstance(sent, NotificationSent)
    assert sent.twilio_sid == messages[-1]["sid"]
    assert notifier.metric("notifier_duplicates_avoided_total") == 1


async def test_a_notifier_killed_mid_stream_loses_no_message_and_counts_any_duplicate(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    doomed = start_notifier()
    twilio.control("latency", ms=20)
    statuses = [OrderStatus.CONFIRMED, OrderStatus.PREPARING, OrderStatus.READY]
    orders = {f"ord-k{n}": restaurant.phone() for n in range(15)}
    for status in statuses:
        for order_id, phone in orders.items():
            await restaurant.publish(
                status_changed(order_id, status, phone=phone, **restaurant.ids())
            )
    await eventually(lambda: twilio.state()["messages"] >= 10, timeout=60, what="some sent")
    doomed.kill()

    survivor = start_notifier()
    await eventually(
        lambda: all(len(set(twilio.bodies(phone))) == len(statuses) for phone in orders.values()),
        timeout=90,
        what="every message sent",
    )

    duplicates = 0
    for phone in orders.values():
        bodies = twilio.bodies(phone)
        duplicates += len(bodies) - len(set(bodies))
        first_seen = list(dict.fromkeys(bodies))
        assert ["confirmado" in first_seen[0], "preparado" in first_seen[1]] == [True, True]
        assert "pronto" in first_seen[2]
    counted = survivor.metric("notifier_possible_duplicates_total")
    avoided = survivor.metric("notifier_duplicates_avoided_total")
    print(f"\nkill -9 mid-stream: {duplicates} duplicate(s), {counted} counted, {avoided} avoided")
    assert duplicates <= counted


async def rewind_the_notifier_group(restaurant: Restaurant) -> int:
    """Moves the group's committed offset back to the restaurant's first order event, where a
    crash between the ledger writes and the commit leaves it; returns how many events follow."""
    key = key_for(ORDERS_EVENTS, restaurant.client_id)
    records = await read_all(restaurant.bootstrap, ORDERS_EVENTS)
    ours = [record for record in records if record.key == key]
    partition = TopicPartition(ORDERS_EVENTS, ours[0].partition)
    group = AIOKafkaConsumer(
        bootstrap_servers=restaurant.bootstrap, group_id="notifier", enable_auto_commit=False
    )
    await group.start()
    try:
        group.assign([partition])
        await group.commit({partition: ours[0].offset})
    finally:
        await group.stop()
    return len(ours)


async def test_events_handled_again_after_a_crash_before_their_commit_send_nothing_again(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    first = start_notifier()
    phone = restaurant.phone()
    placed = order_placed("ord-r", phone=phone, **restaurant.ids())
    confirmed = status_changed("ord-r", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    # An event minutes old when handled again: its entry, finished as long ago, was archived.
    long_ago = now() - 3 * ARCHIVED_AFTER
    preparing = status_changed(
        "ord-r", OrderStatus.PREPARING, phone=phone, **restaurant.ids()
    ).model_copy(update={"occurred_at": long_ago})
    ready = status_changed("ord-r", OrderStatus.READY, phone=phone, **restaurant.ids())
    for event in (placed, confirmed, preparing, ready):
        await restaurant.publish(event)
    await restaurant.audit(lambda events: len(events) >= 4)
    first.terminate()
    archived_id = f"{preparing.event_id}:ORDER_STATUS"
    await database[NOTIFICATIONS].update_one(
        {"_id": archived_id}, {"$set": {"finishedAt": long_ago}}
    )
    ledger = MongoNotificationLedger(database, OutboxRelay(RecordingSink(), OutboxSettings()))
    assert await ledger.compact(now()) == 1
    assert await rewind_the_notifier_group(restaurant) == 4

    second = start_notifier()
    delivered = status_changed("ord-r", OrderStatus.DELIVERED, phone=phone, **restaurant.ids())
    await restaurant.publish(delivered)

    audit = await restaurant.audit(lambda events: len(events) >= 5)
    assert [event.source_event_id for event in audit] == [
        e.event_id for e in (placed, confirmed, preparing, ready, delivered)
    ]
    bodies = twilio.bodies(phone)
    assert len(bodies) == 5, bodies
    assert "entregue" in bodies[-1]
    assert await database[HISTORY].distinct("_id") == [archived_id]
    assert await database[NOTIFICATIONS].count_documents({"state": {"$ne": "SENT"}}) == 0
    assert await database[PROCESSED_EVENTS].count_documents({}) == 0
    assert second.metric("notifier_possible_duplicates_total") == 0
    # The second process did take the four events again (and `delivered`).
    handled = second.metric("messages_handled_total", consumer="notifier", outcome="handled")
    assert handled >= 5


async def test_messages_a_day_after_the_order_was_placed_go_as_approved_templates(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    start_notifier()
    phone = restaurant.phone()
    await restaurant.publish(
        order_placed("ord-old", phone=phone, at=now() - timedelta(hours=25), **restaurant.ids())
    )
    await restaurant.publish(
        payment_status_changed("ord-old", PaymentStatus.PAID, phone=phone, **restaurant.ids())
    )

    await eventually(lambda: len(twilio.messages(phone)) == 2, timeout=60, what="both sent")
    assert [message["content_sid"] for message in twilio.messages(phone)] == [
        TEMPLATES["ORDER_STATUS"],
        TEMPLATES["PAYMENT_CONFIRMED"],
    ]
    assert twilio.state()["refused"] == {}


async def test_the_twilio_token_never_reaches_the_log_sent_or_refused(
    start_notifier: StartNotifier, twilio: TwilioEmulator, restaurant: Restaurant
) -> None:
    phone = restaurant.phone()
    accepted = start_notifier()
    await restaurant.publish(
        status_changed("ord-t1", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    )
    await eventually(lambda: len(twilio.messages(phone)) == 1, timeout=60, what="sent")
    accepted.terminate()
    wrong_token = f"wrong-twilio-token-{uuid.uuid4().hex}"
    refused = start_notifier(TWILIO_AUTH_TOKEN=wrong_token)
    await restaurant.publish(
        status_changed("ord-t2", OrderStatus.CONFIRMED, phone=phone, **restaurant.ids())
    )
    await eventually(
        lambda: refused.metric("notifier_notifications_total", outcome="failed") >= 1,
        timeout=60,
        what="the send Twilio refused recorded",
    )

    for process, token in ((accepted, AUTH_TOKEN), (refused, wrong_token)):
        text = process.log_path.read_text(errors="replace")
        basic = base64.b64encode(f"{ACCOUNT_SID}:{token}".encode()).decode()
        assert token not in text, process.log_path.name
        assert basic not in text, process.log_path.name
    assert "not sent" in refused.log_path.read_text(errors="replace")  # the refusal was logged


def start_in_an_outage(start_notifier: StartNotifier, twilio: TwilioEmulator) -> ServiceProcess:
    """A notifier whose in-line retries last half a second, Twilio answering 503 to every send."""
    notifier = start_notifier(TWILIO_ATTEMPTS="2", TWILIO_MAX_ELAPSED_S="0.5")
    twilio.control("server-errors", count=1_000_000, status=503)
    return notifier


async def test_a_twilio_outage_longer_than_the_retry_window_loses_no_message_nor_their_order(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    notifier = start_in_an_outage(start_notifier, twilio)
    orders = {f"ord-o{n}": restaurant.phone() for n in range(3)}
    events = []
    for order_id, phone in orders.items():
        events += [
            payment_status_changed(order_id, PaymentStatus.FAILED, phone=phone, **restaurant.ids()),
            payment_status_changed(
                order_id,
                PaymentStatus.NOT_APPLICABLE,
                phone=phone,
                reason="PAYMENT_METHOD_CHANGED",
                **restaurant.ids(),
            ),
            status_changed(order_id, OrderStatus.CONFIRMED, phone=phone, **restaurant.ids()),
        ]
    for event in events:
        await restaurant.publish(event)

    async def all_waiting_and_retried() -> bool:
        # Every event was consumed and its message queued while Twilio refused everything,
        # and the retry loop kept trying past the in-line retries.
        waiting = database[NOTIFICATIONS].find(
            {"clientId": restaurant.client_id, "state": "WAITING"}
        )
        entries = [entry async for entry in waiting]
        return len(entries) == len(events) and any(entry["waits"] >= 3 for entry in entries)

    await eventually(all_waiting_and_retried, timeout=60, what="all waiting through the outage")
    assert twilio.state()["messages"] == 0
    twilio.control("server-errors", count=0)

    audit = await restaurant.audit(lambda found: len(found) >= len(events))
    assert all(isinstance(event, NotificationSent) for event in audit)
    assert sorted(str(event.source_event_id) for event in audit) == sorted(
        str(event.event_id) for event in events
    )
    for phone in orders.values():
        bodies = twilio.bodies(phone)
        assert [body.split(" ")[0] for body in bodies] == ["Não", "Combinado!", "Seu"], bodies
        assert "confirmado" in bodies[2]
    assert notifier.metric("notifier_waited_total", reason="queued") >= len(orders)


async def test_a_stale_status_message_waiting_through_an_outage_is_dropped_never_sent(
    start_notifier: StartNotifier,
    twilio: TwilioEmulator,
    restaurant: Restaurant,
    database: Database,
) -> None:
    notifier = start_in_an_outage(start_notifier, twilio)
    phone = restaurant.phone()
    preparing = status_changed("ord-s", OrderStatus.PREPARING, phone=phone, **restaurant.ids())
    delivered = status_changed("ord-s", OrderStatus.DELIVERED, phone=phone, **restaurant.ids())
    await restaurant.publish(preparing)

    async def waiting() -> bool:
        found = await database[NOTIFICATIONS].find_one(
            {"_id": f"{preparing.event_id}:ORDER_STATUS"}
        )
        return found is not None and found["state"] == "WAITING"

    await eventually(waiting, timeout=60, what="PREPARING waiting")
    await restaurant.publish(delivered)
    await restaurant.audit(lambda found: len(found) >= 1)  # the drop
    twilio.control("server-errors", count=0)

    audit = await restaurant.audit(lambda found: len(found) >= 2)
    dropped, sent = audit
    assert isinstance(dropped, NotificationDropped)
    assert (dropped.source_event_id, dropped.superseded_by) == (
        preparing.event_id,
        delivered.event_id,
    )
    assert isinstance(sent, NotificationSent)
    assert sent.source_event_id == delivered.event_id
    assert twilio.bodies(phone) == ["Seu pedido #ord-s foi entregue. Bom apetite!"]
    assert notifier.metric("notifier_notifications_total", outcome="dropped") == 1
