"""Order numbers and the POS's refused updates, on the real broker and server, the order service
and the scheduler as processes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import pytest

from shared.contracts.orders import OrderPlaced
from shared.contracts.pos import (
    PosOrderConfirmed,
    PosOrderReceived,
    PosOrderStatusUpdated,
    PosUpdateRejected,
)
from shared.keys import key_for
from shared.topics import ORDERS_EVENTS, dlq_topic, pos_orders_topic, pos_updates_topic
from tests.integration.kafka_helpers import Record, read_all, read_until
from tests.order.conftest import Restaurant

pytestmark = pytest.mark.integration


async def test_a_stores_orders_are_numbered_as_placed_a_repeat_keeps_its_number_stores_apart(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=False)
    first, second, third = (restaurant.order() for _ in range(3))

    await asyncio.gather(restaurant.place(first), restaurant.place(second))
    await restaurant.place(first.model_copy(update={"event_id": uuid.uuid4()}))  # redelivered
    await restaurant.place(third)

    placed = await restaurant.messages(ORDERS_EVENTS, OrderPlaced, count=3)
    assert [event.order_number for event in placed] == [1, 2, 3]  # the repeat took none
    assert {placed[0].command_id, placed[1].command_id} == {first.command_id, second.command_id}
    assert placed[2].command_id == third.command_id
    assert all(event.order.order_number == event.order_number for event in placed)
    received = await restaurant.pos_messages(PosOrderReceived, count=3)
    assert [(r.order_number, r.order.order_number) for r in received] == [(1, 1), (2, 2), (3, 3)]
    for event in placed:
        document = await restaurant.order_document(event.order_id)
        assert document["orderNumber"] == event.order_number
    listed = await restaurant.http.get(
        f"/stores/{restaurant.client_id}/{restaurant.store_id}/orders"
    )
    assert [order["orderNumber"] for order in listed.json()["orders"]] == [3, 2, 1]

    restaurant.store_id = "s2"
    await restaurant.configure(requiresConfirmation=False)
    elsewhere = restaurant.order()
    await restaurant.place(elsewhere)
    (other,) = await restaurant.messages(
        ORDERS_EVENTS, OrderPlaced, lambda e: e.command_id == elsewhere.command_id
    )
    assert other.order_number == 1


def holding(value: bytes) -> Callable[[list[Record]], bool]:
    return lambda records: any(record.value == value for record in records)


async def test_every_refused_pos_update_is_answered_on_its_own_stores_topic_with_why(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=False)
    cash = restaurant.order()
    await restaurant.place(cash)
    (received,) = await restaurant.pos_messages(PosOrderReceived)
    order_id = received.order_id
    unpaid = restaurant.order("PIX")  # the kitchen never sees it
    await restaurant.place(unpaid)
    (unpaid_placed,) = await restaurant.messages(
        ORDERS_EVENTS, OrderPlaced, lambda e: e.command_id == unpaid.command_id
    )
    home, other = (restaurant.client_id, "s1"), (restaurant.client_id, "s2")
    restaurant.store_id = "s2"
    await restaurant.configure()
    restaurant.store_id = "s1"

    unknown = restaurant.pos_update(PosOrderConfirmed, "no-such-order")
    not_received = restaurant.pos_update(PosOrderConfirmed, unpaid_placed.order_id)
    skipping = restaurant.pos_update(PosOrderStatusUpdated, order_id, status="READY")
    unreadable = restaurant.pos_update(PosOrderStatusUpdated, order_id, status="PREPARING")
    raw = json.dumps(unreadable.to_wire() | {"status": "BURNT"}).encode()
    wrong_store = restaurant.pos_update(PosOrderConfirmed, order_id)
    for update in (unknown, not_received, skipping):
        await restaurant.pos_send(update)
    await restaurant.sink.broker.publish(
        raw, pos_updates_topic(*home), key=key_for(pos_updates_topic(*home), restaurant.client_id)
    )
    await restaurant.send(pos_updates_topic(*other), wrong_store)

    answers = await restaurant.pos_messages(PosUpdateRejected, count=4)
    by_update = {answer.refused_event_id: answer for answer in answers}
    sent_here = (unknown, not_received, skipping, unreadable)
    assert set(by_update) == {str(update.event_id) for update in sent_here}
    found = by_update[str(unknown.event_id)]
    assert (found.reason, found.order_id, found.current_status) == (
        "ORDER_NOT_FOUND",
        "no-such-order",
        None,
    )
    found = by_update[str(not_received.event_id)]
    assert (found.reason, found.current_status, found.order_number) == (
        "ORDER_NOT_FOUND",
        None,
        None,
    )
    found = by_update[str(skipping.event_id)]
    assert (found.reason, found.current_status, found.order_number) == (
        "TRANSITION_NOT_ALLOWED",
        "CONFIRMED",
        received.order_number,
    )
    found = by_update[str(unreadable.event_id)]
    assert (found.reason, found.order_id) == ("MALFORMED_UPDATE", order_id)
    assert all(answer.store_id == "s1" for answer in answers)

    (refused,) = await restaurant.messages(pos_orders_topic(*other), PosUpdateRejected)
    assert (refused.reason, refused.refused_event_id) == ("WRONG_STORE", str(wrong_store.event_id))
    assert (refused.order_number, refused.current_status) == (None, None)
    # Dead-lettered: the unreadable one and the one naming another store's order, no other.
    for store, kept in ((home, raw), (other, wrong_store.to_json())):
        dlq = dlq_topic(pos_updates_topic(*store))
        await read_until(restaurant.bootstrap, dlq, holding(kept))
        assert [r.value for r in await read_all(restaurant.bootstrap, dlq)] == [kept]
    home_answers = await read_all(restaurant.bootstrap, pos_orders_topic(*home))
    assert not any(str(wrong_store.event_id).encode() in r.value for r in home_answers)
    assert (await restaurant.order_document(order_id))["status"] == "CONFIRMED"
