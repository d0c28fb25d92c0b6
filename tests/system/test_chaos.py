"""Chaos: continuous traffic to three restaurants while each service is killed (-9) and restarted,
the Kafka broker and the MongoDB-protocol server are restarted, Twilio refuses every message for
two minutes, one restaurant's Asaas account is away for a minute while the others keep ordering,
Asaas delivers webhooks twice and out of order, the order service dead-letters a real
PaymentSucceeded, and poison lands on `orders.commands` and on a POS updates topic. When the
system settles, every order ended as its story says with exactly the charges and refunds due (no
order cancelled with money kept), every customer read each message of its story once (but for
one a later message made pointless while Twilio was away, dropped as the notifier reports), and
every poison message is in its DLQ. The orders' latency, by restaurant and fault, is printed.

This module has a broker and a server of its own, so that restarting them disturbs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.servers import FerretDBServer, KafkaServer, free_port, local_mongo
from shared.records import HEADER_ORIGINAL_TOPIC
from shared.topics import ORDERS_COMMANDS, dlq_topic, pos_updates_topic
from tests.integration.kafka_helpers import read_all
from tests.system.chaos_checks import (
    drops_unexplained,
    duplicated_messages,
    instructions_issued,
    latency_table,
    money,
    settle,
    story_violations,
)
from tests.system.chaos_faults import ASAAS_OUTAGE, TWILIO_OUTAGE, Faults
from tests.system.chaos_traffic import Traffic, persist
from tests.system.conftest import Restaurant, System, start_system
from tests.system.lost_payment import LostPayment
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PACE_S = 1.1
TAIL = 20
"""Orders placed once every fault is over: the calm their latency is compared with."""
POISON_AT = 90
CONFIG = {
    "requiresConfirmation": True,
    "autoConfirmationTimeout": 0.75,  # 45 s: longer than any crash below
    "refundUnconfirmedOrders": True,
    "refundTimeout": 0.75,
    "paymentTimeout": 2,  # the failing restaurant's charges, made late, can still be paid
}


@pytest.fixture(scope="module")
def own_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KafkaServer, FerretDBServer]]:
    home = tmp_path_factory.mktemp("chaos-servers")
    kafka = KafkaServer(home=home / "kafka", port=free_port(), controller_port=free_port())
    # On the backend the other tests use (MONGO_BACKEND); the fault kills FerretDB only.
    mongo = local_mongo(home / "mongo", free_port(), free_port())
    servers = [kafka, *mongo.servers().values()]
    for server in servers:
        server.start()
    yield kafka, mongo
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="module")
def chaos_system(
    own_servers: tuple[KafkaServer, FerretDBServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    kafka, mongo = own_servers
    running = start_system(kafka.bootstrap_servers, mongo.uri, tmp_path_factory.mktemp("chaos"))
    yield running
    running.stop()


async def test_no_order_is_lost_no_money_is_kept_and_every_customer_reads_its_story_once(
    chaos_system: System, own_servers: tuple[KafkaServer, FerretDBServer]
) -> None:
    noisy, bursty, failing = restaurants = [Restaurant(chaos_system) for _ in range(3)]
    for restaurant in restaurants:
        await restaurant.onboard(**CONFIG)
    await noisy.asaas.post("/_control/faults", json={"duplicateWebhooks": True})
    mongo = own_servers[1]
    lost = LostPayment(chaos_system.bootstrap, mongo.uri, chaos_system.databases["order"])
    faults = Faults(chaos_system, own_servers, bursty=bursty, failing=failing)
    async with contextlib.AsyncExitStack() as stack:
        traffic = Traffic(
            restaurants,
            stack,
            lost,
            pace_s=PACE_S,
            tail=TAIL,
            payment_s=CONFIG["paymentTimeout"] * 60,
        )
        await traffic.open_the_stores()
        injecting = asyncio.create_task(faults.inject())
        running = asyncio.create_task(traffic.run(until=injecting, lose_when=faults.calm))
        poisoned = asyncio.create_task(poison_midway(chaos_system, traffic))
        injected = await injecting
        await running
        poison = await poisoned
        outcomes = await settle(traffic, failing, faults.named(TWILIO_OUTAGE).ended)
    print(f"\nPOS got {dict(traffic.received)}, confirmed {len(traffic.confirmed)}")
    notifier = chaos_system.processes["notifier"]
    print(
        f"notifier: {notifier.metric('notifier_waiting_messages'):.0f} messages waiting (oldest "
        f"{notifier.metric('notifier_oldest_waiting_seconds'):.0f} s), "
        f"{notifier.metric('notifier_notifications_total', outcome='sent'):.0f} sent since its "
        "last start"
    )

    violations = story_violations(outcomes, failing)
    found = await money(outcomes, failing)
    duplicates = duplicated_messages(outcomes)
    dropped, lost_messages = await drops_unexplained(chaos_system.bootstrap, outcomes, failing)
    counted = sum(
        path.read_text(errors="replace").count("the customer may receive it twice")
        for path in Path(chaos_system.processes["notifier"].log_path).parent.glob("notifier*.log")
    )
    reached = Counter(
        ending.name for outcome in outcomes if (ending := outcome.ending(failing)) is not None
    )
    print(
        f"\nchaos: {len(traffic.placed)} orders sent to {len(restaurants)} restaurants, "
        f"{len(injected) + 2} faults injected "
        f"({'; '.join(f.name for f in injected)}; a PaymentSucceeded dead-lettered; Asaas "
        f"webhooks delivered twice, the whole run, one restaurant); endings {dict(reached)}; "
        f"{len(violations) + len(found.violations)} invariant violations, "
        f"{len(found.kept)} orders cancelled with money kept, {dropped} WhatsApp messages "
        f"dropped as passed by a later one while Twilio was away, {duplicates} "
        f"sent twice ({counted} counted by the notifier as a crash between sending and "
        f"recording), {found.repeated_refunds} refund requests repeated (and refused by Asaas)"
    )
    start, done = traffic.placed[0].sent_at, traffic.done_at or 0.0
    timeline = [f"{f.name} {f.started - start:.1f}-{f.ended - start:.1f}s" for f in injected]
    if lost.started is not None and lost.ended is not None:
        timeline.append(
            f"PaymentSucceeded of {lost.order_id} dead-lettered "
            f"{lost.started - start:.1f}-{lost.ended - start:.1f}s"
        )
    print(f"traffic 0-{done - start:.1f}s; faults: " + "; ".join(timeline))
    outage = faults.named(ASAAS_OUTAGE)
    issued = await instructions_issued(chaos_system.bootstrap)
    print("latency (seconds):\n" + latency_table(traffic, issued, injected, failing, outage))
    broken = [*found.kept, *violations, *found.violations, *lost_messages]
    print(f"{len(broken)} violations" + "".join(f"\n  {line[:300]}" for line in broken[:20]))
    assert found.kept == [], "\n".join(found.kept)
    assert violations == [], "\n".join(violations)
    assert found.violations == [], "\n".join(found.violations)
    assert lost_messages == [], "\n".join(lost_messages)
    assert duplicates == 0
    assert [f.name for f in injected if not traffic.overlaps(f.started, f.ended)] == [], (
        "a fault met no traffic"
    )
    assert lost.ended is not None, "the PaymentSucceeded was dead-lettered and the order restored"
    dead = await dead_poison(chaos_system, poison)
    assert dead == poison, "every poison message is in its topic's DLQ"


POISON: list[tuple[bytes, list[tuple[str, bytes | None]]]] = [
    (b"[" * 1000 + b"]" * 1000, []),
    (b'{"eventType": "PlaceOrder", "n": ' + b"9" * 5000 + b"}", []),
    (b'{"eventType": "PosOrderConfirmed"}', [("event-type", b"\xff\xfe"), ("event-id", None)]),
]


async def poison_midway(system: System, traffic: Traffic) -> set[tuple[str, bytes]]:
    """Once POISON_AT orders are placed, poison on the commands topic and on a POS's updates
    topic, under the restaurant's own key; (topic, value) of each."""
    await eventually(lambda: len(traffic.placed) >= POISON_AT, timeout=300, what="midway")
    restaurant = traffic.restaurants[0]
    targets = [ORDERS_COMMANDS, pos_updates_topic(restaurant.client_id, restaurant.store_id)]
    producer = AIOKafkaProducer(bootstrap_servers=system.bootstrap, acks="all")
    await persist(producer.start, doing="starting the poison producer")
    sent: set[tuple[str, bytes]] = set()
    try:
        for topic in targets:
            for value, headers in POISON:
                await persist(
                    functools.partial(
                        producer.send_and_wait,
                        topic,
                        value,
                        key=restaurant.client_id.encode(),
                        headers=headers,
                    ),
                    doing=f"sending poison to {topic}",
                )
                sent.add((topic, value))
    finally:
        await producer.stop()
    print(f"\n{len(sent)} poison messages sent mid-traffic", flush=True)
    return sent


async def dead_poison(system: System, poison: set[tuple[str, bytes]]) -> set[tuple[str, bytes]]:
    """The poison messages found in their topics' DLQs (a kill may dead-letter one twice)."""
    found: set[tuple[str, bytes]] = set()
    for topic in {topic for topic, _ in poison}:
        for record in await read_all(system.bootstrap, dlq_topic(topic)):
            origin = dict(record.headers).get(HEADER_ORIGINAL_TOPIC, b"").decode()
            if (origin, record.value) in poison:
                found.add((origin, record.value))
    return found
