"""The chatbot and POS clients of `shared/clients` against the order service as a process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local.servers import REPO_ROOT
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


async def test_the_command_lines_place_an_order_and_the_simulated_pos_cooks_it(
    restaurant: Restaurant, tmp_path: Path
) -> None:
    await restaurant.configure(requiresConfirmation=True, autoConfirmationTimeout=30)
    where = ["--bootstrap", restaurant.bootstrap]
    store = ["--client", restaurant.client_id, "--store", restaurant.store_id]
    with (tmp_path / "pos.log").open("wb") as screen:
        pos = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.clients.pos_simulator", *where, *store, "--auto",
            "--step", "0.1", stdout=screen, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )  # fmt: skip
        try:
            chatbot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "shared.clients.chatbot_cli", *where, *store, "place",
                "--item", "X-Burger:2:18.90", "--name", "Ana", "--phone", "+5511987654321",
                stdout=subprocess.PIPE, cwd=REPO_ROOT,
            )  # fmt: skip
            printed, _ = await chatbot.communicate()
            outcome = json.loads(printed)
            assert outcome["eventType"] == "OrderPlaced"
            assert outcome["order"]["totalCents"] == 3780

            async def completed() -> bool:
                document = await restaurant.order_document(outcome["orderId"])
                return bool(document["status"] == "COMPLETED")

            await eventually(completed, what="the simulated kitchen completes the order")
        finally:
            pos.terminate()
            await pos.wait()
    assert "novo pedido" in (tmp_path / "pos.log").read_text()
