"""In-memory twins of the order service's repositories, order numbers and POS topics, for unit
and component tests; the contract tests in tests/order/test_repositories.py hold them to the
MongoDB ones."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

from services.order.domain.errors import ConcurrencyConflict
from services.order.domain.order import Order
from services.order.ports import OrderQuery
from shared.contracts.stores import StoreOrderConfig
from shared.records import OutgoingRecord, RecordSink

K = TypeVar("K")


class _Outboxes(Generic[K]):
    """Each document's pending records; `publish` sends them in order, then forgets them."""

    def __init__(self, sink: RecordSink) -> None:
        self.pending: dict[K, list[OutgoingRecord]] = {}
        self._sink = sink

    def add(self, document_id: K, records: Sequence[OutgoingRecord]) -> None:
        self.pending.setdefault(document_id, []).extend(records)

    async def publish(self, document_id: K) -> None:
        sent = list(self.pending.get(document_id, ()))
        if not sent:
            return
        await self._sink.send(*sent)
        # Records added while the sink was busy stay for the next publish, as in the relay.
        del self.pending[document_id][: len(sent)]


def _matches(order: Order, query: OrderQuery) -> bool:
    wanted = {
        "phone_number": query.phone_number,
        "customer_id": query.customer_id,
        "payment_status": query.payment_status,
        "client_id": query.client_id,
        "store_id": query.store_id,
        "status": query.status,
    }
    if any(value is not None and getattr(order, name) != value for name, value in wanted.items()):
        return False
    return query.before is None or (order.created_at, order.order_id) < query.before


class InMemoryOrderRepository:
    """The order repository in a dict: the insert is the duplicate check, the version check
    guards every save, and the outbox is published only when asked."""

    def __init__(self, sink: RecordSink) -> None:
        self.orders: dict[str, Order] = {}
        self.outboxes = _Outboxes[str](sink)

    async def get(self, order_id: str) -> Order | None:
        return self.orders.get(order_id)

    async def add(self, order: Order, records: Sequence[OutgoingRecord], now: datetime) -> bool:
        if order.order_id in self.orders:
            return False
        self.orders[order.order_id] = order
        self.outboxes.add(order.order_id, records)
        return True

    async def save(
        self, order: Order, expected_version: int, records: Sequence[OutgoingRecord], now: datetime
    ) -> None:
        current = self.orders.get(order.order_id)
        if current is None or current.version != expected_version:
            raise ConcurrencyConflict(order.order_id, expected_version)
        self.orders[order.order_id] = order.model_copy(update={"version": expected_version + 1})
        self.outboxes.add(order.order_id, records)

    async def publish(self, order_id: str) -> None:
        await self.outboxes.publish(order_id)

    async def find(self, query: OrderQuery) -> list[Order]:
        found = [order for order in self.orders.values() if _matches(order, query)]
        found.sort(key=lambda order: (order.created_at, order.order_id), reverse=True)
        return found[: query.limit]


class InMemoryOrderNumbers:
    """Each store's last number in a dict; who got which is in `claims`."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], list[str]] = {}

    async def next(self, client_id: str, store_id: str, order_id: str, now: datetime) -> int:
        claimed = self.claims.setdefault((client_id, store_id), [])
        claimed.append(order_id)
        return len(claimed)

    async def release(self, client_id: str, store_id: str, order_id: str, number: int) -> None:
        claimed = self.claims[(client_id, store_id)]
        if len(claimed) == number and claimed[-1] == order_id:
            claimed.pop()


class InMemoryStoreConfigRepository:
    """Store configurations in a dict, one per (clientId, storeId)."""

    def __init__(self, sink: RecordSink) -> None:
        self.configs: dict[tuple[str, str], StoreOrderConfig] = {}
        self.outboxes = _Outboxes[tuple[str, str]](sink)

    async def get(self, client_id: str, store_id: str) -> StoreOrderConfig | None:
        return self.configs.get((client_id, store_id))

    async def put(
        self, config: StoreOrderConfig, records: Sequence[OutgoingRecord], now: datetime
    ) -> None:
        store = (config.client_id, config.store_id)
        self.configs[store] = config
        self.outboxes.add(store, records)

    async def publish(self, client_id: str, store_id: str) -> None:
        await self.outboxes.publish((client_id, store_id))


class InMemoryStoreTopics:
    """Remembers the stores whose POS topics it was asked to make (in order, repeats kept)."""

    def __init__(self) -> None:
        self.ensured: list[tuple[str, str]] = []

    async def ensure(self, client_id: str, store_id: str) -> None:
        self.ensured.append((client_id, store_id))
