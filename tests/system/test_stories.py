"""Every story of `tests/system/stories.py`, played at once against one running system (real
processes, both emulators), each by a restaurant and a customer of its own, with demo deadlines
a few seconds long. Each story's customer reads exactly its messages, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts.orders import ChangePaymentMethod, OrderPaymentStatusChanged, OrderPlaced
from shared.contracts.pos import PosOrderCancelled, PosOrderReceived
from shared.contracts.values import PosStatus
from tests.builders import envelope
from tests.system.conftest import Restaurant, System
from tests.system.stories import (
    PIX,
    REJECTION_REASON,
    STORIES,
    SWITCHED_TO,
    TABLE_END,
    TABLE_START,
    Ending,
    Story,
    shown_table,
    told,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KITCHEN = {
    "DELIVERY": (PosStatus.PREPARING, PosStatus.READY, PosStatus.DELIVERING,
                 PosStatus.DELIVERED, PosStatus.COMPLETED),
    "PICKUP": (PosStatus.PREPARING, PosStatus.READY, PosStatus.COMPLETED),
}  # fmt: skip
WAIT_S = 120.0
"""Thirteen stories share two cores: each step may take a while."""


def store_config(story: Story) -> dict[str, Any]:
    """The store's configuration for the story: its deadline, when it has one, a few seconds."""
    config: dict[str, Any] = {
        "requiresConfirmation": story.restaurant_confirms,
        "autoConfirmationTimeout": 0,
        "refundTimeout": 60,
    }
    if story.ending is Ending.UNPAID:
        # Long enough for the charge to be made first on a busy machine: a deadline passing
        # before it leaves no instructions to tell (the charge is deleted as it comes).
        config["paymentTimeout"] = 0.5
    if story.ending is Ending.NEVER_ANSWERED:
        config["autoConfirmationTimeout" if story.method == "CASH" else "refundTimeout"] = 0.05
    return config


def final_state(story: Story) -> tuple[str, str]:
    online = SWITCHED_TO.get(story.ending, story.method) != "CASH"
    match story.ending:
        case Ending.SERVED | Ending.PAID_BY_CARD_INSTEAD | Ending.PAID_IN_CASH_INSTEAD:
            return ("COMPLETED", "PAID" if online else "NOT_APPLICABLE")
        case Ending.UNPAID:
            return ("CANCELLED", "CANCELLED")
    return ("REFUNDED", "REFUNDED") if online else ("CANCELLED", "NOT_APPLICABLE")


@dataclass
class Played:
    """What became of one story: its order and the customer's WhatsApp messages."""

    restaurant: Restaurant
    order: dict[str, Any]
    messages: list[dict[str, Any]]
    pix_details: dict[str, Any] | None = None
    """The PIX instructions of an order whose payment method changed since."""

    @property
    def pix(self) -> dict[str, Any]:
        """The order's PIX instructions."""
        return self.pix_details or self.order["paymentDetails"]

    def expected(self, story: Story) -> list[str]:
        """The story's texts, with this order's number, payment code, link and expiry."""
        return [
            told(text, self.order, self.pix if text == PIX else None) for text in story.messages
        ]


async def play(story: Story, system: System) -> Played:
    """The chatbot places the story's order, the customer pays (or not), the POS answers (or
    not); returns once the order has ended and the customer has read the story's count."""
    restaurant = Restaurant(system)
    await restaurant.onboard(**store_config(story))
    async with restaurant.pos() as pos:
        async with restaurant.chatbot() as chatbot:
            placed = await chatbot.place(restaurant.order(story.method, delivery=story.delivery))
        assert isinstance(placed, OrderPlaced), placed
        order_id = placed.order_id
        pix_details = None
        if story.ending in SWITCHED_TO:
            pix_details = await payment_fails(restaurant, order_id)
            await switches(restaurant, order_id, SWITCHED_TO[story.ending])
            if SWITCHED_TO[story.ending] != "CASH":
                await customer_pays(restaurant, f"{order_id}:2")  # the second charge's reference
        elif story.method != "CASH" and story.ending is not Ending.UNPAID:
            await customer_pays(restaurant, order_id)
        if story.ending is not Ending.UNPAID:
            await kitchen(story, pos.messages(), pos, order_id)
    await reaches(restaurant, order_id, final_state(story))
    messages: list[dict[str, Any]] = []

    async def all_read() -> bool:
        messages[:] = await restaurant.whatsapp_messages()
        return len(messages) >= len(story.messages)

    try:
        await eventually(all_read, timeout=WAIT_S, what=f"{story.name}: all messages")
    except AssertionError as error:
        read = [message["body"] for message in messages]
        raise AssertionError(f"{error}; read {read}, expected {story.messages}") from None
    return Played(restaurant, await restaurant.order_document(order_id), messages, pix_details)


async def one_charge(restaurant: Restaurant, reference: str) -> dict[str, Any]:
    """The charge Asaas holds for an order (or one attempt, by its `externalReference`)."""

    async def charged() -> bool:
        return len(await restaurant.charges(reference)) == 1

    await eventually(charged, timeout=WAIT_S, what=f"{reference}'s charge")
    (charge,) = await restaurant.charges(reference)
    return charge


async def customer_pays(restaurant: Restaurant, reference: str) -> None:
    charge = await one_charge(restaurant, reference)
    response = await restaurant.asaas.post(f"/v3/sandbox/payment/{charge['id']}/confirm")
    assert response.status_code == 200, response.text


async def payment_fails(restaurant: Restaurant, order_id: str) -> dict[str, Any]:
    """The PIX charge expires unpaid; returns its instructions, as the order kept them."""
    charge = await one_charge(restaurant, order_id)
    details: dict[str, Any] = {}

    async def instructed() -> bool:
        details.update((await restaurant.order_document(order_id)).get("paymentDetails") or {})
        return bool(details)

    await eventually(instructed, timeout=WAIT_S, what=f"order {order_id}'s PIX instructions")
    response = await restaurant.asaas.post(f"/v3/sandbox/payment/{charge['id']}/overdue")
    assert response.status_code == 200, response.text
    await reaches(restaurant, order_id, ("PENDING", "FAILED"))
    return details


async def switches(restaurant: Restaurant, order_id: str, method: str) -> None:
    """The chatbot sends the customer's new choice of payment method."""
    command = ChangePaymentMethod(
        **envelope(client_id=restaurant.client_id, store_id=restaurant.store_id),
        order_id=order_id,
        payment_method=method,
    )
    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.change_payment_method(command, timeout=WAIT_S)
    assert isinstance(outcome, OrderPaymentStatusChanged), outcome
    assert (outcome.to_status, outcome.payment_method) == (
        "NOT_APPLICABLE" if method == "CASH" else "PENDING", method
    )  # fmt: skip

    async def pix_charge_deleted() -> bool:
        return await restaurant.charges(order_id) == []  # Asaas lists no deleted charge

    await eventually(pix_charge_deleted, timeout=WAIT_S, what=f"order {order_id}'s PIX deleted")


async def kitchen(story: Story, received: AsyncIterator[Any], pos: Any, order_id: str) -> None:
    """The POS: confirms when it must and cooks, rejects, or never answers."""
    order = await anext(received)
    assert isinstance(order, PosOrderReceived), order
    assert order.awaiting_confirmation is story.restaurant_confirms
    match story.ending:
        case Ending.SERVED | Ending.PAID_BY_CARD_INSTEAD | Ending.PAID_IN_CASH_INSTEAD:
            if story.restaurant_confirms:
                await pos.confirm(order_id)
            for status in KITCHEN[story.delivery]:
                delivery_time = "25 minutos" if status is PosStatus.DELIVERING else None
                await pos.update_status(order_id, status, delivery_time)
        case Ending.REJECTED:
            await pos.reject(order_id, REJECTION_REASON)
        case Ending.NEVER_ANSWERED:
            cancelled = await anext(received)
            assert isinstance(cancelled, PosOrderCancelled), cancelled


async def reaches(restaurant: Restaurant, order_id: str, expected: tuple[str, str]) -> None:
    async def reached() -> bool:
        document = await restaurant.order_document(order_id)
        return (document["status"], document["paymentStatus"]) == expected

    await eventually(reached, timeout=WAIT_S, what=f"order {order_id} reaches {expected}")


@pytest.fixture(scope="module")
async def played(system: System) -> AsyncIterator[dict[str, Played | BaseException]]:
    """Every story, played at once; a story that failed holds its error."""
    outcomes = await asyncio.gather(
        *(play(story, system) for story in STORIES), return_exceptions=True
    )
    yield {story.name: outcome for story, outcome in zip(STORIES, outcomes, strict=True)}
    for outcome in outcomes:
        if isinstance(outcome, Played):
            await outcome.restaurant.close()


def story_of(played: dict[str, Played | BaseException], story: Story) -> Played:
    outcome = played[story.name]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.mark.parametrize("story", STORIES, ids=[story.name for story in STORIES])
def test_the_customer_reads_exactly_the_storys_messages_in_order(
    played: dict[str, Played | BaseException], story: Story
) -> None:
    outcome = story_of(played, story)

    assert [message["body"] for message in outcome.messages] == outcome.expected(story)


@pytest.mark.parametrize("story", STORIES, ids=[story.name for story in STORIES])
def test_every_message_names_the_order_by_its_number_never_by_its_id(
    played: dict[str, Played | BaseException], story: Story
) -> None:
    outcome = story_of(played, story)

    for message in outcome.messages:
        assert f"#{outcome.order['orderNumber']}" in message["body"]
        assert outcome.order["orderId"] not in message["body"]


PIX_STORIES = [story for story in STORIES if story.method == "PIX"]


@pytest.mark.parametrize("story", PIX_STORIES, ids=[story.name for story in PIX_STORIES])
async def test_the_pix_instructions_carry_the_qr_code_as_a_png_image(
    played: dict[str, Played | BaseException], story: Story
) -> None:
    outcome = story_of(played, story)
    instructions = outcome.messages[story.messages.index(PIX)]
    others = [message for message in outcome.messages if message is not instructions]

    assert instructions["num_media"] == "1"
    assert all(message["num_media"] == "0" for message in others)

    async def fetched() -> bool:
        return bool(await outcome.restaurant.media(instructions))

    await eventually(fetched, timeout=WAIT_S, what="Twilio's copy of the QR image")
    [(content_type, image)] = await outcome.restaurant.media(instructions)
    assert content_type == "image/png"
    assert image.startswith(PNG_SIGNATURE)
    [now] = [
        message
        for message in await outcome.restaurant.whatsapp_messages()
        if message["sid"] == instructions["sid"]
    ]
    assert (now["status"], now["error_code"]) == ("queued", None)
    url = outcome.pix["pixQrCodeUrl"]
    assert url.startswith(f"{outcome.restaurant.system.url('payment')}/pix/")
    async with httpx.AsyncClient(timeout=10) as anyone:  # no bearer, as WhatsApp fetches it
        served = await anyone.get(url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == image


def test_the_notifications_page_shows_the_stories_table() -> None:
    page = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text()
    start, end = page.find(TABLE_START), page.find(TABLE_END)
    assert start >= 0, f"docs/notifications.md has no {TABLE_START}"
    assert end > start, f"docs/notifications.md has no {TABLE_END} after {TABLE_START}"

    assert page[start : end + len(TABLE_END)] == shown_table(), (
        "docs/notifications.md's table of stories differs from tests/system/stories.py; paste "
        "`python -c 'from tests.system.stories import shown_table; print(shown_table())'`"
    )
