"""The chaos test's traffic: chatbots placing orders, customers paying, POS terminals answering,
all concurrently and each timed; the stories the orders follow and what each customer reads."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.order.service import order_id_for
from shared.clients.pos import PosClient
from shared.contracts.pos import PosOrderReceived
from shared.contracts.values import NotificationKind
from tests.system.conftest import Restaurant
from tests.system.lost_payment import LostPayment
from tests.system.stories import (
    AWAITING_RESTAURANT,
    CARD,
    CONFIRMED,
    NEVER_ANSWERED,
    PAID_AWAITING_RESTAURANT,
    PIX,
    REFUND_COMING,
    REFUNDED,
    UNPAID,
)
from tests.waiting import eventually

PAID = frozenset({"RECEIVED", "CONFIRMED"})
"""Asaas's statuses of a charge whose money the restaurant holds."""


@dataclass(frozen=True)
class Story:
    """What happens to one order, the state it must end in and what its customer reads."""

    name: str
    method: str
    pays: bool
    restaurant_confirms: bool
    expected: tuple[str, str]
    messages: tuple[str, ...]
    refunded: bool = False


STORIES = (
    Story(
        "cash-confirmed",
        "CASH",
        False,
        True,
        ("CONFIRMED", "NOT_APPLICABLE"),
        (AWAITING_RESTAURANT, CONFIRMED),
    ),
    Story(
        "cash-unanswered",
        "CASH",
        False,
        False,
        ("CANCELLED", "NOT_APPLICABLE"),
        (AWAITING_RESTAURANT, NEVER_ANSWERED),
    ),
    Story(
        "pix-paid-confirmed",
        "PIX",
        True,
        True,
        ("CONFIRMED", "PAID"),
        (PIX, PAID_AWAITING_RESTAURANT, CONFIRMED),
    ),
    Story(
        "card-paid-unanswered",
        "CREDIT",
        True,
        False,
        ("REFUNDED", "REFUNDED"),
        (CARD, PAID_AWAITING_RESTAURANT, NEVER_ANSWERED + REFUND_COMING, REFUNDED),
        refunded=True,
    ),
    Story("pix-unpaid", "PIX", False, False, ("CANCELLED", "CANCELLED"), (PIX, UNPAID)),
)
LOST = Story(
    "pix-paid-lost",
    "PIX",
    True,
    False,
    ("REFUNDED", "REFUNDED"),
    # The order service never learnt of the payment: at its deadline it tells the customer
    # that no payment came, then the payment service's refund is told.
    (PIX, UNPAID, REFUNDED),
    refunded=True,
)
"""A paid order whose PaymentSucceeded the order service dead-letters (`LostPayment`)."""


CANCELLATIONS = {UNPAID, NEVER_ANSWERED, NEVER_ANSWERED + REFUND_COMING}


@dataclass(frozen=True)
class Droppable:
    """A message the notifier drops, unsent, when it waited through a Twilio outage and one of
    `passed_by` came after it (its rule): instructions once paid or cancelled, a status once a
    later status came."""

    kind: NotificationKind
    passed_by: frozenset[str]


DROPPABLE = {
    PIX: Droppable(
        NotificationKind.PAYMENT_INSTRUCTIONS, frozenset({PAID_AWAITING_RESTAURANT, *CANCELLATIONS})
    ),
    CARD: Droppable(
        NotificationKind.PAYMENT_INSTRUCTIONS, frozenset({PAID_AWAITING_RESTAURANT, *CANCELLATIONS})
    ),
    AWAITING_RESTAURANT: Droppable(
        NotificationKind.ORDER_STATUS, frozenset({CONFIRMED, *CANCELLATIONS})
    ),
}


@dataclass
class Placed:
    """One order sent, and when each step of it happened (epoch seconds)."""

    story: Story
    restaurant: Restaurant
    order_id: str
    phone: str
    sent_at: float
    paid_at: float | None = None
    """When the customer's payment went through."""
    received_at: float | None = None
    """When its POS got it after the payment (PosOrderReceived)."""


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

    def __init__(
        self,
        restaurants: list[Restaurant],
        stack: contextlib.AsyncExitStack,
        lost: LostPayment,
        *,
        pace_s: float,
        tail: int,
        payment_s: float,
    ) -> None:
        self.restaurants = restaurants
        self.stack = stack
        self.lost = lost
        self.pace_s = pace_s
        self.tail = tail
        self.payment_s = payment_s
        """How long after sending an order its customer may pay (its payment deadline)."""
        self.placed: list[Placed] = []
        self.clients: list[asyncio.Task[Any]] = []
        """Chatbots sending and customers paying: each ends once its part is done."""
        self.received: Counter[str] = Counter()
        self.confirmed: list[str] = []
        self.done_at: float | None = None
        """When every order was sent and every payment made (epoch seconds)."""

    def overlaps(self, started: float, ended: float) -> bool:
        """Whether orders were in flight between `started` and `ended`: one was sent before the
        end, and the chatbots and customers were not done before the start."""
        assert self.done_at is not None
        return self.placed[0].sent_at < ended and started < self.done_at

    def of(self, order_id: str) -> Placed | None:
        return next((placed for placed in self.placed if placed.order_id == order_id), None)

    async def open_the_stores(self) -> None:
        """Each restaurant's POS answers until the test ends (the stack closes)."""
        for restaurant in self.restaurants:
            pos = await self.stack.enter_async_context(restaurant.pos())
            terminal = asyncio.create_task(self._answer(pos))
            self.stack.callback(terminal.cancel)

    async def run(self, until: asyncio.Future[Any], lose_when: asyncio.Event) -> None:
        """Places orders at a steady pace until `until` is done and `tail` more after it, the
        first one once `lose_when` is set losing its payment, at the first restaurant; returns
        once every order was sent and paid."""
        stories = itertools.cycle(STORIES)
        restaurants = itertools.cycle(self.restaurants)
        chatbot = {
            r.client_id: await self.stack.enter_async_context(r.chatbot()) for r in self.restaurants
        }
        after = 0
        lost = False
        while after < self.tail:
            if lose_when.is_set() and not lost:
                lost = True
                await self._place(self.restaurants[0], LOST, chatbot)
            else:
                await self._place(next(restaurants), next(stories), chatbot)
            if until.done():
                after += 1
            await asyncio.sleep(self.pace_s)
        await asyncio.gather(*self.clients)
        self.done_at = time.time()

    async def _place(self, restaurant: Restaurant, story: Story, chatbot: dict[str, Any]) -> None:
        phone = f"+55119{uuid.uuid4().int % 10**8:08d}"  # one customer per order
        command = restaurant.order(story.method, phone=phone)
        order_id = order_id_for(command)
        placed = Placed(story, restaurant, order_id, phone, time.time())
        self.placed.append(placed)
        send = chatbot[restaurant.client_id].send
        self.clients.append(
            asyncio.create_task(persist(lambda: send(command), doing=f"sending {order_id}"))
        )
        if story.pays:
            self.clients.append(asyncio.create_task(self._pay(placed)))

    async def _pay(self, placed: Placed) -> None:
        """The customer pays once the charge is made, unless its code expired first (a
        restaurant's Asaas outage may delay the charge past the payment deadline)."""
        charge_id = await self._charge_to_pay(placed)
        if charge_id is None:
            print(f"{placed.order_id}: no charge to pay before the deadline", flush=True)
        elif placed.story is LOST:
            async with self.lost.losing(placed.restaurant, placed.order_id):
                await self._confirm(placed, charge_id)
        else:
            await self._confirm(placed, charge_id)

    async def _confirm(self, placed: Placed, charge_id: str) -> None:
        """Pays the charge on Asaas (its sandbox), trying again while the account is away."""
        asaas = placed.restaurant.asaas

        async def paid() -> bool:
            response = await asaas.post(f"/v3/sandbox/payment/{charge_id}/confirm")
            if response.status_code == 404:
                return False  # deleted: the order was cancelled meanwhile
            if response.status_code == 400:
                # An earlier try that timed out may have paid it.
                charge = await asaas.get(f"/v3/payments/{charge_id}")
                if charge.status_code == 200 and charge.json()["status"] in PAID:
                    return True
            response.raise_for_status()
            return True

        if await persist(paid, doing=f"paying {placed.order_id}"):
            placed.paid_at = time.time()

    async def _charge_to_pay(self, placed: Placed) -> str | None:
        """The order's charge, once Asaas lists it; None if the payment deadline came first."""
        found: list[dict[str, Any]] = []

        async def charged() -> bool:
            with contextlib.suppress(Exception):  # the restaurant's Asaas account may be away
                found[:] = await placed.restaurant.charges(placed.order_id)
            return len(found) == 1

        deadline = placed.sent_at + self.payment_s
        # A customer looks now and then, not twenty times a second.
        with contextlib.suppress(AssertionError):
            await eventually(charged, timeout=deadline - time.time(), every=0.5)
        if not found or time.time() > deadline:
            return None
        charge_id: str = found[0]["id"]
        return charge_id

    def _to_confirm(self, message: PosOrderReceived) -> bool:
        placed = self.of(message.order_id)
        return (
            message.awaiting_confirmation
            and placed is not None
            and placed.story.restaurant_confirms
        )

    async def _answer(self, pos: PosClient) -> None:
        while True:
            try:
                async for message in pos.messages():
                    self.received[type(message).__name__] += 1
                    if not isinstance(message, PosOrderReceived):
                        continue
                    self._note_received(message)
                    if self._to_confirm(message):
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

    def _note_received(self, message: PosOrderReceived) -> None:
        placed = self.of(message.order_id)
        if placed is not None and placed.received_at is None:
            placed.received_at = time.time()
