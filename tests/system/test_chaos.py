"""Chaos: continuous traffic while each service is killed (-9) and restarted, the Kafka broker and
the MongoDB-protocol server are restarted, Asaas fails a burst of charge creations and delivers
its webhooks twice and out of order, and poison (1000-deep JSON, a 5000-digit integer, binary and
null headers) lands on `orders.commands` and on a POS updates topic. When the traffic stops and
the system settles, every order must be in the state its story implies, with at most one charge
and exactly the refunds due, and every poison message is in its topic's DLQ.

This module has a broker and a server of its own, so that restarting them disturbs no other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.servers import FerretDBServer, KafkaServer, free_port
from services.order.service import order_id_for
from shared.clients.pos import PosClient
from shared.contracts.pos import PosOrderReceived
from shared.records import HEADER_ORIGINAL_TOPIC
from shared.topics import ORDERS_COMMANDS, dlq_topic, pos_updates_topic
from tests.integration.kafka_helpers import read_all
from tests.system.conftest import Restaurant, System, start_system
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ORDERS = 60
PACE_S = 1.1
"""Paced so that the traffic spans every fault below (the test asserts that it does)."""
CONFIG = {
    "requiresConfirmation": True,
    "autoConfirmationTimeout": 0.75,  # 45 s: longer than any outage below
    "refundUnconfirmedOrders": True,
    "refundTimeout": 0.75,
    "paymentTimeout": 1,
}


@dataclass(frozen=True)
class Story:
    """What happens to one order, and the state it must end in."""

    name: str
    method: str
    pays: bool
    restaurant_confirms: bool
    expected: tuple[str, str]
    refunded: bool = False


STORIES = (
    Story("cash-confirmed", "CASH", False, True, ("CONFIRMED", "NOT_APPLICABLE")),
    Story("cash-unanswered", "CASH", False, False, ("CANCELLED", "NOT_APPLICABLE")),
    Story("pix-paid-confirmed", "PIX", True, True, ("CONFIRMED", "PAID")),
    Story("card-paid-unanswered", "CREDIT", True, False, ("REFUNDED", "REFUNDED"), True),
    Story("pix-unpaid", "PIX", False, False, ("CANCELLED", "CANCELLED")),
)


@dataclass
class Placed:
    story: Story
    restaurant: Restaurant
    order_id: str
    phone: str
    at: float
    """When it was sent (monotonic seconds)."""


@dataclass(frozen=True)
class Fault:
    """One fault injected, and when (monotonic seconds)."""

    name: str
    started: float
    ended: float


@pytest.fixture(scope="module")
def own_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KafkaServer, FerretDBServer]]:
    home = tmp_path_factory.mktemp("chaos-servers")
    kafka = KafkaServer(home=home / "kafka", port=free_port(), controller_port=free_port())
    mongo = FerretDBServer(home=home / "ferretdb", port=free_port())
    kafka.start()
    mongo.start()
    yield kafka, mongo
    kafka.stop()
    mongo.stop()


@pytest.fixture(scope="module")
def chaos_system(
    own_servers: tuple[KafkaServer, FerretDBServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    kafka, mongo = own_servers
    running = start_system(kafka.bootstrap_servers, mongo.uri, tmp_path_factory.mktemp("chaos"))
    yield running
    running.stop()


async def persist(what: Callable[[], Awaitable[Any]], *, doing: str, seconds: float = 120) -> Any:
    """What a real client does when the system is briefly away: try again until it works; fails
    naming what it was doing and the last error once `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await what()
        except Exception as error:  # any failure of an outside client is retried
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{doing}: still failing after {seconds}s: {type(error).__name__}: {error}"
                ) from error
            await asyncio.sleep(0.5)


class Traffic:
    """Chatbots placing orders, POS terminals answering, customers paying, all concurrently."""

    def __init__(self, restaurants: list[Restaurant], stack: contextlib.AsyncExitStack) -> None:
        self.restaurants = restaurants
        self.stack = stack
        self.placed: list[Placed] = []
        self.clients: list[asyncio.Task[Any]] = []
        """Chatbots sending and customers paying: each ends once its part is done."""
        self.received: Counter[str] = Counter()
        self.confirmed: list[str] = []
        self.done_at: float | None = None
        """When every order was sent and every payment made (monotonic seconds)."""

    def overlaps(self, fault: Fault) -> bool:
        """Whether orders were in flight during `fault`: one was sent before it ended, and
        the chatbots and customers were not done before it began."""
        assert self.done_at is not None
        return self.placed[0].at < fault.ended and fault.started < self.done_at

    async def open_the_stores(self) -> None:
        """Each restaurant's POS answers until the test ends (the stack closes)."""
        for restaurant in self.restaurants:
            pos = await self.stack.enter_async_context(restaurant.pos())
            terminal = asyncio.create_task(self._answer(pos))
            self.stack.callback(terminal.cancel)

    async def run(self) -> None:
        """Places the orders at a steady pace; returns once every order was sent and paid."""
        stories = itertools.cycle(STORIES)
        restaurants = itertools.cycle(self.restaurants)
        chatbot = {
            r.client_id: await self.stack.enter_async_context(r.chatbot()) for r in self.restaurants
        }
        for _ in range(ORDERS):
            await self._place(next(restaurants), next(stories), chatbot)
            await asyncio.sleep(PACE_S)
        await asyncio.gather(*self.clients)
        self.done_at = time.monotonic()

    async def _place(self, restaurant: Restaurant, story: Story, chatbot: dict[str, Any]) -> None:
        phone = f"+55119{uuid.uuid4().int % 10**8:08d}"  # one customer per order
        command = restaurant.order(story.method, phone=phone)
        command = command.model_copy(
            update={"customer": command.customer.model_copy(update={"name": story.name})}
        )
        order_id = order_id_for(command)
        self.placed.append(Placed(story, restaurant, order_id, phone, time.monotonic()))
        send = chatbot[restaurant.client_id].send
        self.clients.append(
            asyncio.create_task(persist(lambda: send(command), doing=f"sending {order_id}"))
        )
        if story.pays:
            self.clients.append(asyncio.create_task(self._pay(restaurant, order_id)))

    async def _pay(self, restaurant: Restaurant, order_id: str) -> None:
        async def charged() -> bool:
            return len(await restaurant.charges(order_id)) == 1

        await eventually(charged, timeout=120, what=f"the charge of {order_id}")
        (found,) = await restaurant.charges(order_id)

        async def confirm() -> None:
            response = await restaurant.asaas.post(f"/v3/sandbox/payment/{found['id']}/confirm")
            response.raise_for_status()

        await persist(confirm, doing=f"paying {order_id}")

    @staticmethod
    def _to_confirm(message: PosOrderReceived) -> bool:
        return message.awaiting_confirmation and message.order.customer_name.endswith("-confirmed")

    async def _answer(self, pos: PosClient) -> None:
        while True:
            try:
                async for message in pos.messages():
                    self.received[type(message).__name__] += 1
                    if isinstance(message, PosOrderReceived) and self._to_confirm(message):
                        await persist(
                            functools.partial(pos.confirm, message.order_id),
                            doing=f"confirming {message.order_id}",
                        )
                        self.confirmed.append(message.order_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the broker went away: the POS reconnects
                print(f"POS reconnects after {type(error).__name__}: {error}", flush=True)
                await asyncio.sleep(1)


async def test_no_order_is_lost_and_every_story_ends_as_it_should_through_crashes_and_restarts(
    chaos_system: System, own_servers: tuple[KafkaServer, FerretDBServer]
) -> None:
    restaurants = [Restaurant(chaos_system) for _ in range(2)]
    for restaurant in restaurants:
        await restaurant.onboard(**CONFIG)
    noisy = restaurants[0]
    await noisy.asaas.post("/_control/faults", json={"duplicateWebhooks": True})
    async with contextlib.AsyncExitStack() as stack:
        traffic = Traffic(restaurants, stack)
        await traffic.open_the_stores()
        running = asyncio.create_task(traffic.run())
        poisoned = asyncio.create_task(poison_midway(chaos_system, traffic))
        faults = await inject_faults(chaos_system, own_servers, restaurants)
        await running
        poison = await poisoned
        violations = await settle(traffic)
    print(f"\nPOS got {dict(traffic.received)}, confirmed {len(traffic.confirmed)}")

    charges_violations = []
    duplicates = repeated_refunds = 0
    refund_requests = {r.client_id: await r.refund_requests() for r in restaurants}
    for placed in traffic.placed:
        # Asaas lists no deleted charge: an unpaid order's pending charge must be gone.
        charges = await placed.restaurant.charges(placed.order_id)
        if len(charges) != (1 if placed.story.pays else 0):
            charges_violations.append(f"{placed.order_id}: {len(charges)} charges")
        requests = refund_requests[placed.restaurant.client_id]
        for charge in charges:
            refunds = len(charge.get("refunds") or [])
            accepted = requests[(charge["id"], 200)]
            due = 1 if placed.story.refunded else 0
            asked = sum(n for (charge_id, _), n in requests.items() if charge_id == charge["id"])
            # Asking again after a crash hid the first answer is refused by Asaas, and harmless;
            # asking for an order that owes nothing is not.
            if (refunds, accepted) != (due, due) or (asked and not due):
                charges_violations.append(
                    f"{placed.order_id}: {refunds} refunds, {accepted} accepted of {asked} asked"
                )
            repeated_refunds += asked - accepted
        bodies = await placed.restaurant.whatsapp(placed.phone)
        duplicates += sum(count - 1 for count in Counter(bodies).values())
    counted = sum(
        path.read_text(errors="replace").count("the customer may receive it twice")
        for path in Path(chaos_system.processes["notifier"].log_path).parent.glob("notifier*.log")
    )
    print(
        f"\nchaos: {len(traffic.placed)} orders sent, {len(faults) + 1} faults injected "
        f"({'; '.join(f.name for f in faults)}; Asaas webhooks delivered twice, the whole run, "
        f"one restaurant), {len(violations) + len(charges_violations)} invariant "
        f"violations, {duplicates} WhatsApp messages sent twice "
        f"({counted} counted by the notifier as a crash between sending and recording), "
        f"{repeated_refunds} refund requests repeated (and refused by Asaas)"
    )
    start, done = traffic.placed[0].at, traffic.done_at or 0.0
    timeline = [f"{f.name} {f.started - start:.1f}-{f.ended - start:.1f}s" for f in faults]
    print(f"traffic 0-{done - start:.1f}s; faults: " + "; ".join(timeline))
    assert [f.name for f in faults if not traffic.overlaps(f)] == [], "a fault met no traffic"
    dead = await dead_poison(chaos_system, poison)
    assert dead == poison, "every poison message is in its topic's DLQ"
    assert violations == [], "\n".join(violations)
    assert charges_violations == [], "\n".join(charges_violations)
    assert duplicates <= counted


POISON: list[tuple[bytes, list[tuple[str, bytes | None]]]] = [
    (b"[" * 1000 + b"]" * 1000, []),
    (b'{"eventType": "PlaceOrder", "n": ' + b"9" * 5000 + b"}", []),
    (b'{"eventType": "PosOrderConfirmed"}', [("event-type", b"\xff\xfe"), ("event-id", None)]),
]


async def poison_midway(system: System, traffic: Traffic) -> set[tuple[str, bytes]]:
    """Once half the orders are placed, poison on the commands topic and on a POS's updates
    topic, under the restaurant's own key; (topic, value) of each."""
    await eventually(lambda: len(traffic.placed) >= ORDERS // 2, timeout=300, what="midway")
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


async def inject_faults(
    system: System, servers: tuple[KafkaServer, FerretDBServer], restaurants: list[Restaurant]
) -> list[Fault]:
    """One fault after another, a few seconds apart, while the traffic runs; what was done and
    when."""
    kafka, mongo = servers
    faults: list[Fault] = []

    @contextlib.asynccontextmanager
    async def fault(name: str) -> AsyncIterator[None]:
        started = time.monotonic()
        yield
        faults.append(Fault(name, started, time.monotonic()))

    async def pause() -> None:
        await asyncio.sleep(1)

    for name in ("order", "payment", "notifier", "scheduler"):
        await pause()
        process = system.processes[name]
        async with fault(f"kill -9 {name}"):
            process.kill()
            process.start()
            await asyncio.to_thread(process.wait_ready, 120)
    await pause()
    async with fault("Kafka broker restarted"):
        await asyncio.to_thread(kafka.stop)
        await asyncio.to_thread(kafka.start)
    await pause()
    async with fault("MongoDB-protocol server killed and restarted"):
        await asyncio.to_thread(mongo.kill)
        await asyncio.to_thread(mongo.start)
    asaas = restaurants[1].asaas
    # Three in a row: fewer than the client's attempts (ASAAS_ATTEMPTS, 4), so the retries
    # absorb the burst; a longer one fails the charge and cancels the order (issue 16).
    async with fault("Asaas 5xx burst on charge creation"):
        await asaas.post("/_control/faults", json={"fail5xx": {"POST /v3/payments": 3}})
    async with fault("Asaas webhooks held and delivered in reverse order"):
        await asaas.post("/_control/webhooks/pause")
        await pause()
        await asaas.post("/_control/webhooks/resume", json={"order": "reverse"})
    return faults


async def settle(traffic: Traffic) -> list[str]:
    """Waits until every order is in the state its story implies; what is not, at the deadline."""
    violations: list[str] = []

    async def settled() -> bool:
        violations.clear()
        for placed in traffic.placed:
            try:
                document = await placed.restaurant.order_document(placed.order_id)
            except AssertionError:
                violations.append(f"{placed.story.name} {placed.order_id}: no order")
                continue
            state = (document["status"], document["paymentStatus"])
            if state != placed.story.expected:
                violations.append(f"{placed.story.name} {placed.order_id}: {state}")
        return not violations

    with contextlib.suppress(AssertionError):
        await eventually(settled, timeout=240, what="every order settled")
    return violations
