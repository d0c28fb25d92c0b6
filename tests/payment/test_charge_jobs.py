"""Charges created and deleted by jobs, the payment service a real process on the real broker and
server: a restaurant whose Asaas account fails holds up no other on its partition, and a charge
in flight when the service dies is created once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from shared.broker import BrokerSink
from shared.contracts.payments import PaymentCancelled, PaymentCreated
from shared.keys import key_for
from shared.topics import PAYMENTS_COMMANDS
from tests.payment.conftest import PaymentEvents, Restaurant, Stack, stack_fixture
from tests.waiting import eventually

pytestmark = pytest.mark.integration

# A charge is tried for two minutes; a create call may take a minute (the crash test holds one).
stack = stack_fixture(PAYMENT_CHARGE_WINDOW_S="120", PAYMENT_JOB_LEASE_S="2", ASAAS_TIMEOUT_S="60")

FAILING = {
    "latencyMs": 300,
    "fail5xx": {"POST /v3/payments": 10_000},
    "fail429": {"GET /v3/payments": 10_000},
}
"""Every call slow, every charge refused with 500, every look-up throttled."""
DELETIONS_FAILING = {"latencyMs": 3000, "fail5xx": {"DELETE /v3/payments/{id}": 10_000}}
"""Every call very slow (a consumer that made them would hold its partition for many seconds a
command), every deletion refused with 500."""


async def partition_of(kafka_bootstrap: str, client_id: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(PAYMENTS_COMMANDS))
    finally:
        await producer.stop()
    key = key_for(PAYMENTS_COMMANDS, client_id)
    return int(DefaultPartitioner()(key, partitions, partitions))


async def neighbour_of(
    restaurant: Restaurant, stack: Stack, sink: BrokerSink, kafka_bootstrap: str
) -> Restaurant:
    """A new restaurant whose commands share `restaurant`'s partition."""
    wanted = await partition_of(kafka_bootstrap, restaurant.client_id)
    while True:
        candidate = Restaurant(stack, sink)
        if await partition_of(kafka_bootstrap, candidate.client_id) == wanted:
            await candidate.onboard()
            return candidate
        await candidate.close()


@pytest.fixture
async def healthy(
    restaurant: Restaurant, stack: Stack, sink: BrokerSink, kafka_bootstrap: str
) -> AsyncIterator[Restaurant]:
    """A restaurant whose commands share `restaurant`'s partition."""
    neighbour = await neighbour_of(restaurant, stack, sink, kafka_bootstrap)
    yield neighbour
    await neighbour.close()


async def test_a_restaurant_whose_asaas_fails_holds_up_none_after_it_on_its_partition(
    restaurant: Restaurant, healthy: Restaurant, payment_events: PaymentEvents
) -> None:
    await restaurant.control("faults", FAILING)
    stalled = [restaurant.order() for _ in range(3)]
    served = [healthy.order() for _ in range(3)]
    await restaurant.send(*(restaurant.request_payment(order_id) for order_id in stalled))
    await healthy.send(*(healthy.request_payment(order_id) for order_id in served))

    for order_id in served:
        await payment_events.wait(order_id, PaymentCreated)
    for order_id in stalled:
        assert payment_events.messages(order_id) == [], order_id
        document = await restaurant.payment_document(order_id)
        assert document is not None
        assert document["status"] == "CREATING"

    await restaurant.control("reset")
    # Back, and the first charge's answer is lost: its job finds it by externalReference.
    await restaurant.control("faults", {"loseResponse": {"POST /v3/payments": 1}})
    for order_id in stalled:
        created = await payment_events.wait(order_id, PaymentCreated, timeout=40)
        await payment_events.all_published(restaurant, order_id)
        assert len(payment_events.messages(order_id)) == 1, order_id
        assert [c["id"] for c in await restaurant.charges(order_id)] == [created.payment_id]
    for order_id in served:
        assert len(await healthy.charges(order_id)) == 1


async def test_a_restaurant_whose_asaas_cannot_delete_holds_up_no_cancellation_after_it(
    restaurant: Restaurant, healthy: Restaurant, payment_events: PaymentEvents
) -> None:
    # Enough that a consumer which waited for each deletion would hold the healthy ones long.
    stalled = [restaurant.order() for _ in range(5)]
    served = [healthy.order() for _ in range(3)]
    await restaurant.send(*(restaurant.request_payment(order_id) for order_id in stalled))
    await healthy.send(*(healthy.request_payment(order_id) for order_id in served))
    charged = {
        order_id: (await payment_events.wait(order_id, PaymentCreated)).payment_id
        for order_id in (*stalled, *served)
    }

    await restaurant.control("faults", DELETIONS_FAILING)
    cancels = {order_id: restaurant.cancel_payment(order_id) for order_id in stalled}
    await restaurant.send(*cancels.values())
    later = healthy.order()
    await healthy.send(
        *(healthy.cancel_payment(order_id) for order_id in served),
        healthy.request_payment(later),
    )

    for order_id in served:
        await payment_events.wait(order_id, PaymentCancelled)
        assert (await healthy.charge(charged[order_id]))["deleted"] is True
    await payment_events.wait(later, PaymentCreated)
    for order_id in stalled:
        assert payment_events.of(order_id, PaymentCancelled) == [], order_id
        document = await restaurant.payment_document(order_id)
        assert document is not None
        assert (document["status"], document["unwanted"]) == ("PENDING", True)
        assert (await restaurant.charge(charged[order_id]))["deleted"] is False

    await restaurant.control("reset")
    for order_id in stalled:
        cancelled = await payment_events.wait(order_id, PaymentCancelled, timeout=40)
        assert cancelled.causation_id == str(cancels[order_id].event_id)
        assert (await restaurant.charge(charged[order_id]))["deleted"] is True
        await payment_events.all_published(restaurant, order_id)
        assert len(payment_events.of(order_id, PaymentCancelled)) == 1, order_id


async def test_a_charge_in_flight_when_the_service_dies_is_created_once_after_a_restart(
    restaurant: Restaurant, stack: Stack, payment_events: PaymentEvents
) -> None:
    # Asaas makes the charge and holds its answer: the service dies waiting for it.
    await restaurant.control(
        "faults", {"loseResponse": {"POST /v3/payments": 1}, "loseResponseDelayS": 50}
    )
    order_id = restaurant.order()
    await restaurant.send(restaurant.request_payment(order_id))
    await eventually(
        lambda: _charged_on_asaas(restaurant, order_id), what="the charge made on Asaas"
    )
    stack.service.kill()
    stack.service.start().wait_ready()

    created = await payment_events.wait(order_id, PaymentCreated, timeout=40)
    await payment_events.all_published(restaurant, order_id)
    assert len(payment_events.messages(order_id)) == 1
    assert [c["id"] for c in await restaurant.charges(order_id)] == [created.payment_id]


async def _charged_on_asaas(restaurant: Restaurant, order_id: str) -> bool:
    return len(await restaurant.charges(order_id)) == 1
