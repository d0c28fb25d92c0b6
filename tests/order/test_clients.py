"""The chatbot and POS clients of `shared/clients` against the order service as a process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from deploy.local.servers import REPO_ROOT, free_port
from shared.clients.chatbot import ChatbotClient
from shared.clients.pos import PosClient
from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
)
from shared.contracts.pos import PosOrderReceived
from shared.contracts.values import PosStatus
from shared.topics import ORDERS_EVENTS
from tests.order.conftest import ADMIN, Restaurant
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


async def test_chatbot_switches_an_unpaid_order_to_another_method_and_hears_each_outcome(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=False, paymentTimeout=10)
    async with ChatbotClient(restaurant.bootstrap) as chatbot:
        placed = await chatbot.place(restaurant.order("PIX"))
        assert isinstance(placed, OrderPlaced)

        def switch(method: str) -> ChangePaymentMethod:
            return ChangePaymentMethod(
                **restaurant.envelope(), order_id=placed.order_id, payment_method=method
            )

        to_card = await chatbot.change_payment_method(switch("CREDIT"))
        assert isinstance(to_card, OrderPaymentStatusChanged)
        assert (to_card.from_status, to_card.to_status, to_card.payment_method) == (
            "PENDING", "PENDING", "CREDIT"
        )  # fmt: skip
        to_cash = await chatbot.change_payment_method(switch("CASH"))
        assert isinstance(to_cash, OrderPaymentStatusChanged)
        assert (to_cash.to_status, to_cash.payment_method) == ("NOT_APPLICABLE", "CASH")
        too_late = await chatbot.change_payment_method(switch("PIX"))
        assert isinstance(too_late, OrderRejected)
        assert (too_late.reason_code, too_late.order_number) == (
            "ORDER_NOT_PENDING", placed.order_number
        )  # fmt: skip


async def test_the_chatbot_command_line_pays_an_order_another_way(restaurant: Restaurant) -> None:
    await restaurant.configure(requiresConfirmation=True, paymentTimeout=10)
    await restaurant.place(restaurant.order("DEBIT"))
    (placed,) = await restaurant.messages(ORDERS_EVENTS, OrderPlaced)
    where = ["--bootstrap", restaurant.bootstrap]
    store = ["--client", restaurant.client_id, "--store", restaurant.store_id]

    async def pay_with(method: str) -> dict[str, object]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.clients.chatbot_cli", *where, *store, "pay-with",
            "--order", placed.order_id, "--method", method, stdout=subprocess.PIPE, cwd=REPO_ROOT,
        )  # fmt: skip
        printed, _ = await process.communicate()
        assert process.returncode == 0
        outcome: dict[str, object] = json.loads(printed)
        return outcome

    changed = await pay_with("CASH")
    assert (changed["eventType"], changed["toStatus"], changed["paymentMethod"]) == (
        "OrderPaymentStatusChanged", "NOT_APPLICABLE", "CASH"
    )  # fmt: skip
    refused = await pay_with("CASH")
    assert (refused["eventType"], refused["reasonCode"]) == ("OrderRejected", "ALREADY_RELEASED")


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


async def chatbot_cli(*args: str, token: str) -> tuple[int, str, str]:
    """Runs the chatbot command line as a person would: exit code, what it printed, its errors."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.clients.chatbot_cli", *args,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT,
        env=os.environ | {"CHATBOT_TOKEN": token},
    )  # fmt: skip
    printed, errors = await process.communicate()
    assert process.returncode is not None
    return process.returncode, printed.decode(), errors.decode()


async def test_the_chatbot_command_line_tells_an_orders_status_and_a_customers_latest_orders(
    restaurant: Restaurant,
) -> None:
    await restaurant.configure(requiresConfirmation=False)
    phone = f"+55119{uuid.uuid4().int % 10**8:08d}"
    customer = {"customer_id": f"cust-{phone}", "phone_number": phone, "name": "Bia"}
    for _ in range(4):
        await restaurant.place(restaurant.order("CASH", customer=customer))
    placed = await restaurant.messages(ORDERS_EVENTS, OrderPlaced, count=4)
    token = ADMIN["Authorization"].removeprefix("Bearer ")
    service = ["--order-service", str(restaurant.http.base_url)]
    asked = f"asking the order service at {restaurant.http.base_url}\n"  # on stderr

    code, printed, errors = await chatbot_cli(
        *service, "status", "--order", placed[0].order_id, token=token
    )
    assert (code, errors) == (0, asked)
    assert printed.splitlines() == [
        "Order #1: CONFIRMED, payment NOT_APPLICABLE",
        "  2x X-Burger",
        "  Total R$ 37,80, CASH, pickup",
        f"  Placed {placed[0].order.created_at:%Y-%m-%d %H:%M} UTC, order id {placed[0].order_id}",
    ]

    code, printed, errors = await chatbot_cli(*service, "recent", "--phone", phone, token=token)
    assert (code, errors) == (0, asked)
    heading, *lines = printed.splitlines()
    assert heading == f"Latest orders of {phone}, newest first:"
    assert [line.split()[:3] for line in lines] == [
        ["#4", "CONFIRMED", "payment"],
        ["#3", "CONFIRMED", "payment"],
        ["#2", "CONFIRMED", "payment"],
    ]
    assert lines[0].endswith(placed[3].order_id)

    code, printed, _ = await chatbot_cli(
        *service, "recent", "--phone", phone, "--limit", "10", "--json", token=token
    )
    assert code == 0
    assert [order["orderNumber"] for order in json.loads(printed)] == [4, 3, 2, 1]
    stranger = "+5521900000001"
    code, printed, _ = await chatbot_cli(*service, "recent", "--phone", stranger, token=token)
    assert (code, printed) == (0, f"No orders for {stranger}.\n")


async def test_the_chatbot_command_line_explains_what_went_wrong_in_one_line(
    restaurant: Restaurant,
) -> None:
    token = ADMIN["Authorization"].removeprefix("Bearer ")
    service = ["--order-service", str(restaurant.http.base_url)]
    cases = [
        (["status", "--order", "no-such-order"], token, "order no-such-order not found"),
        (["status", "--order", "x"], "wrong-token", "the order service refused the token (401)"),
        (["recent", "--phone", "11 98765-4321"], token, "is not a phone number in E.164 form"),
        (["recent", "--phone", "+5511987654321", "--limit", "0"], token, "must be 1 to 200"),
    ]
    for args, given, expected in cases:
        code, printed, errors = await chatbot_cli(*service, *args, token=given)
        assert (code, printed) == (1, ""), args
        where, error = errors.splitlines()  # what it asked, then one line: no traceback
        assert where == f"asking the order service at {restaurant.http.base_url}"
        assert error.startswith("error: "), errors
        assert expected in error, errors

    away = ["--order-service", f"http://127.0.0.1:{free_port()}"]
    code, _, errors = await chatbot_cli(*away, "status", "--order", "x", token=token)
    assert code == 1
    assert "cannot be reached" in errors
    assert "is it running?" in errors

    code, printed, _ = await chatbot_cli("--help", token=token)
    assert code == 0
    assert "chatbot_cli status --order" in printed
    assert "chatbot_cli recent --phone +5511987654321" in printed
    assert "pay-with" in printed
    code, printed, _ = await chatbot_cli("recent", "--help", token=token)
    assert code == 0
    assert "example:" in printed
    assert "--limit" in printed


async def test_the_simulated_pos_shows_orders_by_number_and_why_an_update_was_refused(
    restaurant: Restaurant, tmp_path: Path
) -> None:
    await restaurant.configure(requiresConfirmation=False)
    screen_log = tmp_path / "pos.log"
    with screen_log.open("wb") as screen:
        pos = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shared.clients.pos_simulator", "--bootstrap",
            restaurant.bootstrap, "--client", restaurant.client_id, "--store",
            restaurant.store_id, stdin=subprocess.PIPE, stdout=screen,
            stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )  # fmt: skip
        try:
            await restaurant.place(restaurant.order())

            def shows(text: str) -> bool:
                return text in screen_log.read_text()

            await eventually(lambda: shows("novo pedido #1 de Ana"), what="the order on screen")
            assert pos.stdin is not None
            pos.stdin.write(b"status #1 READY\nconfirm 99\n")  # skips PREPARING; no order 99
            await pos.stdin.drain()
            await eventually(lambda: shows("pedido 99"), what="both refusals on screen")
        finally:
            pos.terminate()
            await pos.wait()
    lines = screen_log.read_text().splitlines()
    assert (
        "[POS] atualização recusada, pedido #1: mudança não permitida (TRANSITION_NOT_ALLOWED), "
        "status atual CONFIRMED"
    ) in lines
    assert "[POS] atualização recusada, pedido 99: pedido desconhecido (ORDER_NOT_FOUND)" in lines
