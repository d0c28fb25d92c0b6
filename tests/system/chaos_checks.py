"""What the chaos test checks once the traffic stops: every order ends as one of its story's
endings, with the charges, refunds and WhatsApp messages that ending implies; and how long the
orders took, by restaurant and fault."""

from __future__ import annotations

import contextlib
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.records import HEADER_EVENT_TYPE
from shared.topics import NOTIFICATIONS_EVENTS, ORDERS_EVENTS
from tests.integration.kafka_helpers import headers_of, read_all
from tests.system.chaos_faults import TWILIO_OUTAGE, Fault
from tests.system.chaos_traffic import DROPPABLE, PAID, Placed, Traffic
from tests.system.conftest import TWILIO_SID, Restaurant
from tests.system.stories import CARD, PIX, UNPAID, told
from tests.waiting import eventually

SETTLE_S = 300.0


@dataclass(frozen=True)
class Ending:
    """One way an order may end: its state, what its customer reads, how many charges Asaas
    lists for it and whether its charge is refunded."""

    name: str
    state: tuple[str, str]
    messages: tuple[str, ...]
    charges: int
    refunded: bool


def endings(placed: Placed, failing: Restaurant) -> list[Ending]:
    """The story's ending; for the restaurant whose Asaas was away, an online order may also be
    cancelled at its deadline before its charge could be made or paid (the charge deleted)."""
    story = placed.story
    told_story = Ending(
        story.name, story.expected, story.messages, 1 if story.pays else 0, story.refunded
    )
    if placed.restaurant is not failing or story.method == "CASH":
        return [told_story]
    instructions = PIX if story.method == "PIX" else CARD
    unpaid = ("CANCELLED", "CANCELLED")
    return [
        told_story,
        Ending("charged too late", unpaid, (instructions, UNPAID), 0, False),
        Ending("never charged", unpaid, (UNPAID,), 0, False),
    ]


@dataclass
class Outcome:
    """What became of one order."""

    placed: Placed
    order: dict[str, Any] | None
    messages: list[str]
    waited: bool
    """Whether its messages may have waited through the Twilio outage (placed before its end)."""

    @property
    def state(self) -> tuple[str, str] | None:
        return None if self.order is None else (self.order["status"], self.order["paymentStatus"])

    def ending(self, failing: Restaurant) -> Ending | None:
        """The ending the order reached, state and messages both (the one read with the fewest
        messages dropped); None if none."""
        reached = [
            (len(dropped), position, ending)
            for position, ending in enumerate(endings(self.placed, failing))
            if self.state == ending.state and (dropped := self.dropped(ending)) is not None
        ]
        return min(reached)[2] if reached else None

    def dropped(self, ending: Ending) -> list[str] | None:
        """The ending's messages the customer did not read, each passed by a later one while
        Twilio was away; None if the customer read anything else (a message twice, out of
        order, or missing without a later one passing it)."""
        if self.order is None:
            return None
        texts = ending.messages
        read = iter(self.messages)
        dropped = []
        upcoming = next(read, None)
        for position, text in enumerate(texts):
            droppable = DROPPABLE.get(text)
            if upcoming == told(text, self.order):
                upcoming = next(read, None)
            elif self.waited and droppable and droppable.passed_by & set(texts[position + 1 :]):
                dropped.append(text)
            else:
                return None
        return dropped if upcoming is None else None


async def settle(traffic: Traffic, failing: Restaurant, twilio_back: float) -> list[Outcome]:
    """Waits until every order reached one of its endings (state and messages); the outcomes
    as they are then, reached or not by the deadline."""
    outcomes: list[Outcome] = []

    async def settled() -> bool:
        outcomes[:] = await _outcomes(traffic, twilio_back)
        return all(outcome.ending(failing) is not None for outcome in outcomes)

    with contextlib.suppress(AssertionError):
        await eventually(settled, timeout=SETTLE_S, what="every order settled", every=1)
    return outcomes


async def _outcomes(traffic: Traffic, twilio_back: float) -> list[Outcome]:
    conversations = await whatsapp_conversations(traffic.restaurants[0])
    outcomes = []
    for placed in traffic.placed:
        response = await placed.restaurant.order_api.get(f"/orders/{placed.order_id}")
        order = response.json() if response.status_code == 200 else None
        read = conversations.get(placed.phone, [])
        outcomes.append(Outcome(placed, order, read, waited=placed.sent_at < twilio_back))
    return outcomes


async def whatsapp_conversations(restaurant: Restaurant) -> dict[str, list[str]]:
    """Every WhatsApp body Twilio accepted, by the recipient's number, oldest first."""
    found: list[dict[str, Any]] = []
    uri: str | None = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json?PageSize=1000"
    while uri is not None:
        response = await restaurant.twilio.get(uri)
        assert response.status_code == 200, response.text
        page = response.json()
        found.extend(page["messages"])
        uri = page["next_page_uri"]
    conversations: dict[str, list[str]] = {}
    for message in reversed(found):  # Twilio lists newest first
        phone = message["to"].removeprefix("whatsapp:")
        conversations.setdefault(phone, []).append(message["body"])
    return conversations


def story_violations(outcomes: list[Outcome], failing: Restaurant) -> list[str]:
    """Each order that reached none of its endings: its state and what its customer read."""
    violations = []
    for outcome in outcomes:
        if outcome.ending(failing) is None:
            placed = outcome.placed
            violations.append(
                f"{placed.story.name} {placed.order_id}: {outcome.state}, read {outcome.messages}"
            )
    return violations


@dataclass
class Money:
    """The charges and refunds found on Asaas, against what each order's ending implies."""

    violations: list[str]
    kept: list[str]
    """Orders cancelled with the customer's money kept (a paid charge never refunded)."""
    repeated_refunds: int


async def money(outcomes: list[Outcome], failing: Restaurant) -> Money:
    found = Money([], [], 0)
    requests: dict[str, Counter[tuple[str, int]]] = {}
    for outcome in outcomes:
        placed = outcome.placed
        restaurant = placed.restaurant
        if restaurant.client_id not in requests:
            requests[restaurant.client_id] = await restaurant.refund_requests()
        asked_of = requests[restaurant.client_id]
        # Asaas lists no deleted charge: an unpaid order's pending charge must be gone.
        charges = await restaurant.charges(placed.order_id)
        cancelled = outcome.state is not None and outcome.state[0] in ("CANCELLED", "REFUNDED")
        for charge in charges:
            if cancelled and charge["status"] in PAID:
                found.kept.append(f"{placed.order_id}: charge {charge['id']} {charge['status']}")
        ending = outcome.ending(failing)
        if ending is None:
            continue  # told among the story violations
        if len(charges) != ending.charges:
            found.violations.append(f"{placed.order_id}: {len(charges)} charges")
        for charge in charges:
            refunds = len(charge.get("refunds") or [])
            accepted = asked_of[(charge["id"], 200)]
            due = 1 if ending.refunded else 0
            asked = sum(n for (charge_id, _), n in asked_of.items() if charge_id == charge["id"])
            # Asking again after a crash hid the first answer is refused by Asaas, and harmless;
            # asking for an order that owes nothing is not.
            if (refunds, accepted) != (due, due) or (asked and not due):
                found.violations.append(
                    f"{placed.order_id}: {refunds} refunds, {accepted} accepted of {asked} asked"
                )
            found.repeated_refunds += asked - accepted
    return found


async def drops_unexplained(
    bootstrap: str, outcomes: Iterable[Outcome], failing: Restaurant
) -> tuple[int, list[str]]:
    """How many messages were dropped, and each one missing without the notifier's
    NotificationDropped telling it (a message lost, not dropped by rule)."""
    notices: Counter[tuple[str, str]] = Counter(
        (notice.get("orderId"), notice["kind"])
        for _, notice in await published(bootstrap, NOTIFICATIONS_EVENTS, "NotificationDropped")
    )
    count, unexplained = 0, []
    for outcome in outcomes:
        ending = outcome.ending(failing)
        for text in (outcome.dropped(ending) or []) if ending is not None else []:
            count += 1
            key = (outcome.placed.order_id, DROPPABLE[text].kind.value)
            if notices[key] > 0:
                notices[key] -= 1
            else:
                unexplained.append(f"{outcome.placed.order_id}: never read {text[:40]!r}...")
    return count, unexplained


def duplicated_messages(outcomes: Iterable[Outcome]) -> int:
    """WhatsApp messages a customer got more than once."""
    return sum(count - 1 for outcome in outcomes for count in Counter(outcome.messages).values())


# Latency


async def instructions_issued(bootstrap: str) -> dict[str, float]:
    """When each order's first payment instructions were published (epoch seconds)."""
    found: dict[str, float] = {}
    for at, issued in await published(bootstrap, ORDERS_EVENTS, "PaymentInstructionsIssued"):
        found[issued["orderId"]] = min(found.get(issued["orderId"], at), at)
    return found


async def published(bootstrap: str, topic: str, event_type: str) -> list[tuple[float, Any]]:
    """When (epoch seconds) and what (its JSON) each `event_type` on `topic` was published."""
    return [
        (record.timestamp / 1000, json.loads(record.value))
        for record in await read_all(bootstrap, topic, timeout=60)
        if headers_of(record).get(HEADER_EVENT_TYPE) == event_type
    ]


@dataclass(frozen=True)
class Span:
    """One measured stretch of an order's way, and who it belongs to."""

    placed: Placed
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def meets(self, fault: Fault) -> bool:
        return self.started <= fault.ended and fault.started <= self.ended


def latency_table(
    traffic: Traffic,
    issued: dict[str, float],
    faults: list[Fault],
    failing: Restaurant,
    outage: Fault,
) -> str:
    """Each order's charge (PlaceOrder sent to its payment instructions published) and release
    (paid to its POS receiving it), in seconds, for the healthy restaurants and the failing one,
    by when: over before any fault, begun during the Asaas outage (meeting no crash), begun after
    every fault. Twilio's outage delays neither."""
    crashes = [f for f in faults if f.name != TWILIO_OUTAGE and f is not outage]
    over = max(f.ended for f in faults)
    charge = [
        Span(p, p.sent_at, issued[p.order_id]) for p in traffic.placed if p.order_id in issued
    ]
    release = [
        Span(p, p.paid_at, p.received_at)
        for p in traffic.placed
        if p.paid_at is not None and p.received_at is not None
    ]

    def period(span: Span) -> str | None:
        who = "failing" if span.placed.restaurant is failing else "healthy"
        if span.ended < outage.started:
            return f"{who}, {BEFORE}"
        if outage.started <= span.started <= outage.ended and not any(map(span.meets, crashes)):
            return f"{who}, {DURING}"
        if span.started > over:
            return f"{who}, {AFTER}"
        return None

    seconds: dict[tuple[str, str | None], list[float]] = defaultdict(list)
    for kind, spans in (("charge", charge), ("release", release)):
        for span in spans:
            seconds[(kind, period(span))].append(span.seconds)
    rows = [
        "| orders | charge n | p50 | p90 | max | release n | p50 | p90 | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for who in ("healthy", "failing"):
        for when in (BEFORE, DURING, AFTER):
            title = f"{who}, {when}"
            rows.append(
                f"| {title} | {_figures(seconds[('charge', title)])} "
                f"| {_figures(seconds[('release', title)])} |"
            )
    return "\n".join(rows)


BEFORE, DURING, AFTER = "before any fault", "during the Asaas outage", "after every fault"


def _figures(seconds: list[float]) -> str:
    if not seconds:
        return "0 | - | - | -"
    ordered = sorted(seconds)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{len(ordered)} | {statistics.median(ordered):.2f} | {p90:.2f} | {ordered[-1]:.2f}"
