"""The chatbot and POS clients of `shared/clients` against the order service as a process."""

from __future__ import annotations

import pytest

from shared.clients.chatbot import ChatbotClient
from shared.clients.pos import PosClient
from shared.contracts.orders import CancelOrder, OrderPlaced, OrderRejected, OrderStatusChanged
from shared.contracts.pos import PosOrderReceived
from shared.contracts.values import PosStatus
from tests.order.conftest import Restaurant
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def test_chatbot_places_an_order_and_the_pos_takes_it_through_to_delivery(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    async with (
        ChatbotClient(restaurant.bootstrap) as chatbot,
        PosClient(restaurant.bootstrap, restaurant.client_id, restaurant.store_id) as pos,
    ):
        placed = await chatbot.place(restaurant.order())
        assert isinstance(placed, OrderPlaced)

        received = await anext(aiter(pos.messages()))
        assert isinstance(received, PosOrderReceived)
        assert received.order_id == placed.order_id
        await pos.confirm(placed.order_id)
        await pos.update_status(placed.order_id, PosStatus.PREPARING)
        await pos.update_status(placed.order_id, PosStatus.READY)
        await pos.update_status(placed.order_id, PosStatus.DELIVERING, delivery_time="20 min")

        async def delivering() -> bool:
            document = await restaurant.order_document(placed.order_id)
            return bool(document["status"] == "DELIVERING")

        await eventually(delivering, what="the order is out for delivery")
        refused = await chatbot.cancel(
            CancelOrder(**restaurant.envelope(), order_id=placed.order_id)
        )
        assert isinstance(refused, OrderRejected)
        assert refused.reason_code == "CANCELLATION_NOT_ALLOWED"


async def test_chatbot_hears_a_refusal_and_a_cancellation(restaurant: Restaurant) -> None:
    await restaurant.configure(acceptedPaymentMethods=["CASH"], requiresConfirmation=True)
    async with ChatbotClient(restaurant.bootstrap) as chatbot:
        refused = await chatbot.place(restaurant.order("PIX"))
        assert isinstance(refused, OrderRejected)
        assert refused.reason_code == "PAYMENT_METHOD_NOT_ACCEPTED"

        placed = await chatbot.place(restaurant.order("CASH"))
        assert isinstance(placed, OrderPlaced)
        cancelled = await chatbot.cancel(
            CancelOrder(**restaurant.envelope(), order_id=placed.order_id, reason="Mudei de ideia")
        )
        assert isinstance(cancelled, OrderStatusChanged)
        assert cancelled.to_status == "CANCELLED"
        assert cancelled.reason == "Mudei de ideia"
