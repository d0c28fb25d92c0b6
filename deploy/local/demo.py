"""`python -m deploy.local.demo`: the guided demo of `make run`, on the system `make up` started.

It onboards a demo restaurant through the real HTTP routes (the operator mints the restaurant's
and its chatbot's tokens, the restaurant sets its store configuration on the order service and
its Asaas credentials on the payment service), then plays three stories and prints each
as the customer's WhatsApp conversation (read back from the Twilio emulator, the PIX QR image
included) beside the POS screen: a PIX order paid and delivered, a cash order for pickup
confirmed by the restaurant, and a card order refunded with an apology because the restaurant
never answered (demo deadlines are seconds long).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from shared.clients.chatbot import ChatbotClient
from shared.clients.pos import PosClient
from shared.clients.pos_simulator import screen
from shared.contracts.orders import OrderPlaced, PlaceOrder
from shared.contracts.pos import PosOrderReceived
from shared.contracts.values import PosStatus

CLIENT, STORE = "demo-burger", "centro"
ASAAS_KEY = "$aact_demo_local_key"
TWILIO_SID = os.environ.get("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000")
TWILIO_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "local-twilio-token")
ADMIN = {"Authorization": f"Bearer {os.environ.get('ADMIN_TOKEN', 'local-admin-token')}"}
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
ORDER_URL, PAYMENT_URL = "http://127.0.0.1:8081", "http://127.0.0.1:8082"
PANEL_URL = "http://127.0.0.1:8085"
PANEL_TOKEN_TTL_S = 12 * 3600
ASAAS_URL, TWILIO_URL = "http://127.0.0.1:8701", "http://127.0.0.1:8702"
CONFIG = {
    "storeName": "Burger da Praça",
    "requiresConfirmation": True,
    "autoConfirmationTimeout": 0.5,  # 30 seconds to confirm a cash order
    "refundUnconfirmedOrders": True,
    "refundTimeout": 0.25,  # 15 seconds before an unconfirmed paid order is refunded
    "paymentTimeout": 5,
}


DELIVERY_KITCHEN = (PosStatus.PREPARING, PosStatus.READY, PosStatus.DELIVERING,
                    PosStatus.DELIVERED, PosStatus.COMPLETED)  # fmt: skip
PICKUP_KITCHEN = (PosStatus.PREPARING, PosStatus.READY, PosStatus.COMPLETED)


def say(text: str = "") -> None:
    print(text, flush=True)


class WhatsApp:
    """Prints the customer's WhatsApp messages as they reach the Twilio emulator."""

    def __init__(self, http: httpx.AsyncClient, phone: str) -> None:
        self._http = http
        self._phone = phone
        self.seen = 0

    def has(self, count: int) -> Callable[[], Awaitable[bool]]:
        """A check for `until`: at least `count` messages shown."""

        async def check() -> bool:
            return self.seen >= count

        return check

    async def show_new(self) -> list[str]:
        response = await self._http.get(
            f"{TWILIO_URL}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            params={"To": f"whatsapp:{self._phone}", "PageSize": 1000},
            auth=(TWILIO_SID, TWILIO_TOKEN),
        )
        messages = list(reversed(response.json()["messages"]))
        new = messages[self.seen :]
        for message in new:
            lines = (message["body"] or "").splitlines() or [""]
            say(f"  📱 {lines[0]}")
            for line in lines[1:]:
                say(f"     {line}")
            if message["num_media"] != "0":
                say(f"     🖼  {await self._media(message)}")
        self.seen = len(messages)
        return [message["body"] for message in new]

    async def _media(self, message: dict[str, Any]) -> str:
        """The image Twilio fetched for `message`, in words (it fetches after answering)."""
        for _ in range(20):
            response = await self._http.get(
                TWILIO_URL + message["subresource_uris"]["media"], auth=(TWILIO_SID, TWILIO_TOKEN)
            )
            media = response.json()["media_list"]
            if media:
                content = await self._http.get(
                    TWILIO_URL + media[0]["uri"].removesuffix(".json"),
                    auth=(TWILIO_SID, TWILIO_TOKEN),
                )
                return f"QR code image ({media[0]['content_type']}, {len(content.content)} bytes)"
            await asyncio.sleep(0.25)
        return "an image Twilio could not fetch"


async def until(check: Callable[[], Awaitable[bool]], chat: WhatsApp, timeout: float) -> None:
    """Prints the conversation while waiting for `check` (fails loudly at the deadline)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await chat.show_new()
            await asyncio.sleep(0.3)
    await chat.show_new()


def order(
    phone: str,
    name: str,
    method: str,
    items: list[tuple[str, int, str]],
    delivery: str = "DELIVERY",
) -> PlaceOrder:
    address = {"street": "Rua Augusta", "number": "100", "city": "São Paulo", "state": "SP"}
    return PlaceOrder(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        correlation_id=f"demo-{uuid.uuid4().hex[:8]}",
        client_id=CLIENT,
        store_id=STORE,
        command_id=f"demo-{uuid.uuid4().hex[:10]}",
        customer={"customer_id": phone, "phone_number": phone, "name": name,
                  "cpf": "529.982.247-25"},
        items=[
            {"item_id": item.lower().replace(" ", "-"), "name": item, "quantity": quantity,
             "unit_price": Decimal(price)}
            for item, quantity, price in items
        ],
        delivery={"type": delivery, "address": address if delivery == "DELIVERY" else None,
                  "fee": Decimal("5.00" if delivery == "DELIVERY" else "0")},
        payment_method=method,
    )  # fmt: skip


class Demo:
    def __init__(self, http: httpx.AsyncClient, chatbot: ChatbotClient, pos: PosClient) -> None:
        self.http = http
        self.chatbot = chatbot
        self.pos = pos
        self.pos_messages = pos.messages()
        self.chatbot_auth = ADMIN
        self.numbers: dict[str, str] = {}
        """How people name each order: `#<orderNumber>`."""

    async def token(self, role: str) -> dict[str, str]:
        """A token the operator mints for the demo restaurant's `role`, as a header."""
        return {"Authorization": f"Bearer {await self.mint(role)}"}

    async def mint(self, role: str, ttl_s: int | None = None) -> str:
        asked: dict[str, Any] = {"role": role, "clientId": CLIENT}
        if ttl_s is not None:
            asked["ttlSeconds"] = ttl_s
        response = await self.http.post(f"{ORDER_URL}/auth/tokens", json=asked, headers=ADMIN)
        response.raise_for_status()
        token: str = response.json()["token"]
        return token

    async def open_the_panel(self) -> None:
        """Where the restaurant's staff work without a POS: the panel, and a token to sign in."""
        token = await self.mint("restaurant", PANEL_TOKEN_TTL_S)
        say("\n▶ The restaurant panel")
        say(f"  open {PANEL_URL}/entrar and paste this restaurant token (valid 12 hours):")
        say(f"  {token}")
        say(f"  then the board of the demo store: {PANEL_URL}/lojas/{CLIENT}/{STORE}")
        say("  (place an order with the chatbot command line below and watch it arrive)")

    async def onboard(self) -> None:
        say("▶ Onboarding the demo restaurant through the real routes")
        restaurant = await self.token("restaurant")
        self.chatbot_auth = await self.token("chatbot")
        say(f"  the operator minted a restaurant and a chatbot token for {CLIENT}")
        response = await self.http.put(
            f"{ORDER_URL}/stores/{CLIENT}/{STORE}/config", json=CONFIG, headers=restaurant
        )
        response.raise_for_status()
        response = await self.http.put(
            f"{PAYMENT_URL}/restaurants/{CLIENT}/asaas",
            json={"apiKey": ASAAS_KEY, "webhookToken": "demo-webhook-token",
                  "baseUrl": f"{ASAAS_URL}/v3"},
            headers=restaurant,
        )  # fmt: skip
        response.raise_for_status()
        say(f"  store {CLIENT}/{STORE}: confirmation by the restaurant, 30 s for cash orders,")
        say("  15 s before an unconfirmed paid order is refunded; Asaas webhook registered")

    async def place(self, command: PlaceOrder) -> str:
        outcome = await self.chatbot.place(command)
        if not isinstance(outcome, OrderPlaced):
            raise SystemExit(f"the order was refused: {outcome.message}")
        self.numbers[outcome.order_id] = f"#{outcome.order_number or outcome.order_id}"
        return outcome.order_id

    async def pos_receives(self) -> PosOrderReceived:
        while True:
            message = await anext(self.pos_messages)
            say(screen(message))
            if isinstance(message, PosOrderReceived):
                return message

    async def status(self, order_id: str) -> tuple[str, str]:
        response = await self.http.get(f"{ORDER_URL}/orders/{order_id}", headers=self.chatbot_auth)
        document: dict[str, Any] = response.json()
        return document["status"], document["paymentStatus"]

    async def pay(self, order_id: str) -> None:
        found = await self.http.get(
            f"{ASAAS_URL}/v3/payments",
            params={"externalReference": order_id},
            headers={"access_token": ASAAS_KEY},
        )
        (charge,) = found.json()["data"]
        say(f"  💳 the customer pays {charge['billingType']} charge {charge['id']} on Asaas")
        await self.http.post(
            f"{ASAAS_URL}/v3/sandbox/payment/{charge['id']}/confirm",
            headers={"access_token": ASAAS_KEY},
        )

    def reached(self, order_id: str, wanted: tuple[str, str]) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await self.status(order_id) == wanted

        return check

    async def cook(
        self, order_id: str, chat: WhatsApp, payment: str, *, pickup: bool = False
    ) -> None:
        for status in PICKUP_KITCHEN if pickup else DELIVERY_KITCHEN:
            await asyncio.sleep(1)
            say(f"[POS] {self.numbers[order_id]} -> {status}")
            await self.pos.update_status(
                order_id, status, "25 minutos" if status is PosStatus.DELIVERING else None
            )
            await until(self.reached(order_id, (status.value, payment)), chat, 30)

    async def pix_order_paid_and_delivered(self) -> None:
        say("\n▶ 1. A PIX order, paid and delivered")
        chat = WhatsApp(self.http, "+5511911110001")
        order_id = await self.place(
            order("+5511911110001", "Ana", "PIX", [("X-Burger", 2, "18.90"), ("Suco", 1, "7.00")])
        )
        await until(chat.has(1), chat, 30)
        await self.pay(order_id)
        await self.pos_receives()
        say(f"[POS] the restaurant confirms {self.numbers[order_id]}")
        await self.pos.confirm(order_id)
        await until(self.reached(order_id, ("CONFIRMED", "PAID")), chat, 30)
        await self.cook(order_id, chat, "PAID")
        await until(chat.has(8), chat, 30)

    async def cash_pickup_order_confirmed_by_the_restaurant(self) -> None:
        say("\n▶ 2. A cash order for pickup, confirmed by the restaurant")
        chat = WhatsApp(self.http, "+5511911110002")
        order_id = await self.place(
            order("+5511911110002", "Bruno", "CASH", [("Pizza Calabresa", 1, "52.00")], "PICKUP")
        )
        await self.pos_receives()
        await asyncio.sleep(2)
        say(f"[POS] the restaurant confirms {self.numbers[order_id]}")
        await self.pos.confirm(order_id)
        await until(self.reached(order_id, ("CONFIRMED", "NOT_APPLICABLE")), chat, 30)
        await self.cook(order_id, chat, "NOT_APPLICABLE", pickup=True)
        await until(chat.has(5), chat, 30)

    async def paid_order_refunded_when_the_restaurant_never_answers(self) -> None:
        say("\n▶ 3. A card order the restaurant never confirms: cancelled and refunded")
        chat = WhatsApp(self.http, "+5511911110003")
        order_id = await self.place(
            order("+5511911110003", "Carla", "CREDIT", [("Temaki", 3, "24.50")])
        )
        await until(chat.has(1), chat, 30)
        await self.pay(order_id)
        await self.pos_receives()
        say("[POS] ... nobody at the restaurant answers (15 s)")
        await until(self.reached(order_id, ("REFUNDED", "REFUNDED")), chat, 60)
        await until(chat.has(4), chat, 30)
        while True:
            message = await anext(self.pos_messages)
            say(screen(message))
            if not isinstance(message, PosOrderReceived):
                break


async def main() -> None:
    async with (
        httpx.AsyncClient(timeout=15) as http,
        ChatbotClient(KAFKA) as chatbot,
        PosClient(KAFKA, CLIENT, STORE) as pos,
    ):
        demo = Demo(http, chatbot, pos)
        await demo.onboard()
        await demo.pix_order_paid_and_delivered()
        await demo.cash_pickup_order_confirmed_by_the_restaurant()
        await demo.paid_order_refunded_when_the_restaurant_never_answers()
        await demo.open_the_panel()
    say("\n✔ Demo finished. The system stays up: try `python -m shared.clients.chatbot_cli`")
    say("  and `python -m shared.clients.pos_simulator` (docs/integrating.md). Ctrl-C stops it.")


if __name__ == "__main__":
    # The POS topic does not exist until the store is configured: aiokafka's complaint is noise.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        say("\nDemo interrupted.")
        sys.exit(130)
