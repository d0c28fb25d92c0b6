"""What the order service needs from storage: its repositories, as protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.order.domain.order import Order
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus, PaymentStatus
from shared.records import OutgoingRecord


@dataclass(frozen=True)
class OrderQuery:
    """One of the source design's order look-ups, newest first, a page at a time."""

    phone_number: str | None = None
    customer_id: str | None = None
    payment_status: PaymentStatus | None = None
    client_id: str | None = None
    store_id: str | None = None
    status: OrderStatus | None = None
    limit: int = 50
    before: tuple[datetime, str] | None = None
    """Only orders older than this (createdAt, orderId): the page after the one that ended there."""


class OrderRepository(Protocol):
    """Orders by id, each written with its outbox records in one write, then published."""

    async def get(self, order_id: str) -> Order | None: ...

    async def add(self, order: Order, records: Sequence[OutgoingRecord], now: datetime) -> bool:
        """Inserts a new order; False if one with its id exists already."""
        ...

    async def save(
        self, order: Order, expected_version: int, records: Sequence[OutgoingRecord], now: datetime
    ) -> None:
        """Replaces the order if still at `expected_version`, else raises ConcurrencyConflict."""
        ...

    async def find(self, query: OrderQuery) -> list[Order]: ...

    async def publish(self, order_id: str) -> None:
        """Relays the order's pending records now (a sweep catches what this misses)."""
        ...


class OrderNumbers(Protocol):
    """Each store's order numbers: 1, 2, 3, ... never the same one twice (a gap is allowed)."""

    async def next(self, client_id: str, store_id: str, order_id: str, now: datetime) -> int:
        """The store's next number, claimed for `order_id` (a new one on every call)."""
        ...

    async def release(self, client_id: str, store_id: str, order_id: str, number: int) -> None:
        """Gives back `number`, just claimed for `order_id` by a command whose order was stored
        already: the next claim takes it again, unless a later number was claimed meanwhile
        (then it stays a gap)."""
        ...


class StoreConfigRepository(Protocol):
    """Stores' order configurations; a store without one has none here (defaults apply)."""

    async def get(self, client_id: str, store_id: str) -> StoreOrderConfig | None: ...

    async def put(
        self, config: StoreOrderConfig, records: Sequence[OutgoingRecord], now: datetime
    ) -> None: ...

    async def publish(self, client_id: str, store_id: str) -> None:
        """Relays the configuration's pending records now."""
        ...


class StoreTopics(Protocol):
    """The two POS topics of each store, made the first time the service meets the store."""

    async def ensure(self, client_id: str, store_id: str) -> None: ...
