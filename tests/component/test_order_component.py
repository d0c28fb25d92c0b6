"""The order service's consumers on FastStream's test broker, with the in-memory twins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from services.order.adapters.in_memory import (
    InMemoryOrderNumbers,
    InMemoryOrderRepository,
    InMemoryStoreConfigRepository,
    InMemoryStoreTopics,
)
from services.order.handlers import subscriptions
from services.order.service import OrderService, order_id_for
from shared.broker import BrokerSink
from shared.contracts.orders import OrderPlaced, OrderStatusChanged
from shared.contracts.pos import PosOrderConfirmed, PosOrderReceived
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus
from shared.topics import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    SCHEDULER_COMMANDS,
    pos_orders_topic,
    pos_updates_topic,
)
from tests.builders import CLIENT, STORE, now, place_order, pos_update
from tests.component.wiring import Running, in_memory_broker, running

KITCHEN = pos_orders_topic(CLIENT, STORE)


@dataclass
class Component:
    kafka: Running
    orders: InMemoryOrderRepository
    configs: InMemoryStoreConfigRepository


@pytest.fixture
async def component() -> AsyncIterator[Component]:
    broker = in_memory_broker()
    sink = BrokerSink(broker)
    orders, configs = InMemoryOrderRepository(sink), InMemoryStoreConfigRepository(sink)
    service = OrderService(
        orders,
        configs,
        numbers=InMemoryOrderNumbers(),
        sink=sink,
        store_topics=InMemoryStoreTopics(),
        clock=now,
    )
    topics = (ORDERS_EVENTS, PAYMENTS_COMMANDS, SCHEDULER_COMMANDS, KITCHEN)
    async with running(broker, subscriptions(service), *topics) as kafka:
        yield Component(kafka, orders, configs)


async def test_a_place_order_on_the_commands_topic_becomes_an_order_and_its_events(
    component: Component,
) -> None:
    command = place_order("CASH")

    await component.kafka.send(ORDERS_COMMANDS, command)

    order = await component.orders.get(order_id_for(command))
    assert order is not None
    assert order.status is OrderStatus.CONFIRMED
    assert component.kafka.outputs.sent() == [
        (ORDERS_EVENTS, "OrderPlaced"),
        (ORDERS_EVENTS, "OrderStatusChanged"),
        (KITCHEN, "PosOrderReceived"),
    ]
    [received] = component.kafka.outputs.messages(PosOrderReceived)
    assert received.order_id == order.order_id


async def test_the_same_place_order_delivered_twice_is_handled_once(component: Component) -> None:
    command = place_order("PIX")

    await component.kafka.send(ORDERS_COMMANDS, command)
    await component.kafka.send(ORDERS_COMMANDS, command)

    assert list(component.orders.orders) == [order_id_for(command)]
    assert component.kafka.outputs.sent() == [
        (ORDERS_EVENTS, "OrderPlaced"),
        (PAYMENTS_COMMANDS, "RequestPayment"),
        (SCHEDULER_COMMANDS, "ScheduleTimer"),
    ]
    assert component.kafka.dead_letters.records == []


async def test_a_confirmation_on_the_stores_pos_topic_confirms_the_order(
    component: Component,
) -> None:
    config = StoreOrderConfig(client_id=CLIENT, store_id=STORE, requires_confirmation=True)
    await component.configs.put(config, [], now())
    command = place_order("CASH")
    await component.kafka.send(ORDERS_COMMANDS, command)
    order_id = order_id_for(command)

    confirmed = pos_update(PosOrderConfirmed, order_id, client_id=CLIENT)
    await component.kafka.send(pos_updates_topic(CLIENT, STORE), confirmed)
    await component.kafka.send(pos_updates_topic(CLIENT, STORE), confirmed)

    order = await component.orders.get(order_id)
    assert order is not None
    assert order.status is OrderStatus.CONFIRMED
    [change] = component.kafka.outputs.messages(OrderStatusChanged)
    assert (change.to_status, change.causation_id) == (
        OrderStatus.CONFIRMED,
        str(confirmed.event_id),
    )
    assert len(component.kafka.outputs.messages(OrderPlaced)) == 1
    assert component.kafka.dead_letters.records == []
