"""Bad input, redelivery, store configuration and the query routes of the order service."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.orders import OrderPlaced, OrderRejected, OrderStatusChanged
from shared.contracts.pos import PosOrderConfirmed, PosOrderReceived, PosOrderStatusUpdated
from shared.contracts.registry import decode
from shared.contracts.stores import StoreConfigChanged
from shared.keys import key_for
from shared.topics import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    STORES_CONFIG,
    dlq_topic,
    pos_orders_topic,
    pos_updates_topic,
)
from tests.integration.kafka_helpers import Record, read_until
from tests.order.conftest import Restaurant
from tests.processes import ServiceProcess

pytestmark = pytest.mark.integration


async def test_malformed_command_is_answered_with_order_rejected_and_dead_lettered(
    restaurant: Restaurant,
) -> None:
    command = restaurant.order().to_wire()
    command["items"][0]["unitPrice"] = "18.905"  # three decimal places
    raw = json.dumps(command).encode()
    await restaurant.sink.broker.publish(
        raw, ORDERS_COMMANDS, key=key_for(ORDERS_COMMANDS, restaurant.client_id)
    )

    (rejected,) = await restaurant.messages(ORDERS_EVENTS, OrderRejected)
    assert rejected.reason_code == "MALFORMED_COMMAND"
    assert rejected.correlation_id == command["correlationId"]
    assert rejected.command_id == command["commandId"]
    dead = await read_until(
        restaurant.bootstrap,
        dlq_topic(ORDERS_COMMANDS),
        lambda records: any(r.value == raw for r in records),
    )
    assert any(r.value == raw for r in dead)


async def test_unreadable_bytes_are_dead_lettered_never_lost(restaurant: Restaurant) -> None:
    raw = b"\xff not json " + uuid.uuid4().bytes
    await restaurant.sink.broker.publish(
        raw, ORDERS_COMMANDS, key=key_for(ORDERS_COMMANDS, restaurant.client_id)
    )
    dead = await read_until(
        restaurant.bootstrap,
        dlq_topic(ORDERS_COMMANDS),
        lambda records: any(r.value == raw for r in records),
    )
    assert any(r.value == raw for r in dead)


async def test_refused_order_is_answered_with_its_reason_twice_by_one_event_and_nothing_stored(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(acceptedPaymentMethods=["CASH"], minimumOrderValue="10.00")
    command = restaurant.order("PIX")
    await restaurant.place(command)
    await restaurant.place(command)  # redelivered: decided again, refused by the same event
    first, again = await restaurant.messages(ORDERS_EVENTS, OrderRejected, count=2)
    assert first.reason_code == "PAYMENT_METHOD_NOT_ACCEPTED"
    assert first.phone_number == "+5511987654321"
    assert again.event_id == first.event_id
    response = await restaurant.http.get(
        f"/stores/{restaurant.client_id}/{restaurant.store_id}/orders"
    )
    assert response.json()["orders"] == []


async def test_every_order_consumer_given_the_same_event_twice_acts_once(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    command = restaurant.order()
    await restaurant.place(command)
    await restaurant.place(command)  # the very same event: same eventId
    (received,) = await restaurant.pos_messages(PosOrderReceived)
    confirmed = restaurant.pos_update(PosOrderConfirmed, received.order_id)
    await restaurant.pos_send(confirmed)
    await restaurant.pos_send(confirmed)
    marker = restaurant.order()
    await restaurant.place(marker)
    await restaurant.messages(
        ORDERS_EVENTS, OrderPlaced, lambda e: e.command_id == marker.command_id
    )
    # A second confirmation with an id of its own finds the order confirmed: no change. The
    # kitchen's next report, behind it on the same topic, shows it was handled.
    await restaurant.pos_send(restaurant.pos_update(PosOrderConfirmed, received.order_id))
    await restaurant.pos_send(
        restaurant.pos_update(PosOrderStatusUpdated, received.order_id, status="PREPARING")
    )
    changes = await restaurant.messages(ORDERS_EVENTS, OrderStatusChanged, count=2)
    placed = await restaurant.messages(ORDERS_EVENTS, OrderPlaced, count=2)
    assert [event.command_id for event in placed] == [command.command_id, marker.command_id]
    assert [change.to_status for change in changes] == ["CONFIRMED", "PREPARING"]


async def test_store_configuration_is_validated_published_and_creates_the_pos_topics(
    restaurant: Restaurant,
) -> None:
    path = f"/stores/{restaurant.client_id}/{restaurant.store_id}/config"
    defaults = (await restaurant.http.get(path)).json()
    assert defaults["paymentTimeout"] == 15
    assert defaults["refundTimeout"] == 60
    assert defaults["timeZone"] == "America/Sao_Paulo"

    for bad in (
        {"autoConfirmationTimeout": -1},
        {"acceptedPaymentMethods": ["BITCOIN"]},
        {"notificationTemplates": {"READY": "Pedido {order_id} pronto, {senha}"}},
        {"minimumOrderValue": "10.001"},
    ):
        response = await restaurant.http.put(path, json=bad)
        assert response.status_code == 422, bad

    stored = await restaurant.configure(storeName="Burger da Ana", autoConfirmationTimeout=0.1)
    assert stored["autoConfirmationTimeout"] == 0.1
    assert (await restaurant.http.get(path)).json()["storeName"] == "Burger da Ana"

    def published(records: list[Record]) -> bool:
        return any(r.key and r.key.startswith(restaurant.client_id.encode()) for r in records)

    records = await read_until(restaurant.bootstrap, STORES_CONFIG, published)
    record = next(r for r in records if published([r]))
    change = decode(record.value)
    assert isinstance(change, StoreConfigChanged)
    assert change.config.store_name == "Burger da Ana"
    assert record.key == f"{restaurant.client_id}:{restaurant.store_id}".encode()
    admin = AIOKafkaAdminClient(bootstrap_servers=restaurant.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    assert pos_orders_topic(restaurant.client_id, restaurant.store_id) in existing
    assert pos_updates_topic(restaurant.client_id, restaurant.store_id) in existing
    assert dlq_topic(pos_updates_topic(restaurant.client_id, restaurant.store_id)) in existing


async def test_routes_refuse_a_missing_or_wrong_token(system: dict[str, ServiceProcess]) -> None:
    async with httpx.AsyncClient(base_url=system["order"].url) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
            for path in ("/orders?phoneNumber=%2B5511987654321", "/stores/a/b/config"):
                assert (await http.get(path, headers=headers)).status_code in (401, 403)
        assert (await http.get("/healthz")).status_code == 200


async def test_queries_return_the_right_orders_newest_first_a_page_at_a_time(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=0)
    phone = f"+55119{uuid.uuid4().int % 10**8:08d}"
    customer = {"customer_id": f"cust-{phone}", "phone_number": phone, "name": "Bia",
                "cpf": "529.982.247-25"}  # fmt: skip
    commands = [restaurant.order("CASH", customer=customer) for _ in range(3)]
    commands.append(restaurant.order("PIX", customer=customer))
    for command in commands:
        await restaurant.place(command)
    placed = await restaurant.messages(ORDERS_EVENTS, OrderPlaced, count=4)
    newest_first = [event.order_id for event in reversed(placed)]

    by_phone = (await restaurant.http.get("/orders", params={"phoneNumber": phone})).json()
    assert [o["orderId"] for o in by_phone["orders"]] == newest_first
    by_customer = (
        await restaurant.http.get("/orders", params={"customerId": customer["customer_id"]})
    ).json()
    assert [o["orderId"] for o in by_customer["orders"]] == newest_first

    first = (await restaurant.http.get("/orders", params={"phoneNumber": phone, "limit": 3})).json()
    assert [o["orderId"] for o in first["orders"]] == newest_first[:3]
    second = (
        await restaurant.http.get(
            "/orders", params={"phoneNumber": phone, "limit": 3, "cursor": first["nextCursor"]}
        )
    ).json()
    assert [o["orderId"] for o in second["orders"]] == newest_first[3:]

    store = f"/stores/{restaurant.client_id}/{restaurant.store_id}/orders"
    pending = (await restaurant.http.get(store, params={"status": "PENDING"})).json()
    assert [o["orderId"] for o in pending["orders"]] == newest_first
    pix = newest_first[0]
    paying = (await restaurant.http.get("/orders", params={"paymentStatus": "PENDING"})).json()
    assert pix in [o["orderId"] for o in paying["orders"]]
    assert not set(newest_first[1:]) & {o["orderId"] for o in paying["orders"]}
    one = (await restaurant.http.get(f"/orders/{pix}")).json()
    assert one["paymentMethod"] == "PIX"
    assert "outbox" not in one
    assert "version" not in one
    assert (await restaurant.http.get("/orders/nope")).status_code == 404
    assert (await restaurant.http.get("/orders")).status_code == 400
