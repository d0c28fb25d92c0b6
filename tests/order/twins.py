"""The order service on its in-memory twins, as the tests that need one plain build it."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.order.adapters.in_memory import (
    InMemoryOrderNumbers,
    InMemoryOrderRepository,
    InMemoryStoreConfigRepository,
    InMemoryStoreTopics,
)
from services.order.recent_configs import RecentConfigs
from services.order.service import OrderService
from tests.builders import now
from tests.sinks import RecordingSink


@dataclass
class OrderTwins:
    """The service and the twins behind it; what it publishes is in `sink`."""

    sink: RecordingSink = field(default_factory=RecordingSink)

    def __post_init__(self) -> None:
        self.orders = InMemoryOrderRepository(self.sink)
        self.configs = InMemoryStoreConfigRepository(self.sink)
        self.numbers = InMemoryOrderNumbers()
        self.service = self.replica()

    def replica(self, recent_configs: RecentConfigs | None = None) -> OrderService:
        """Another order service on the same twins (another replica)."""
        return OrderService(
            self.orders,
            self.configs,
            numbers=self.numbers,
            sink=self.sink,
            store_topics=InMemoryStoreTopics(),
            clock=now,
            recent_configs=recent_configs,
        )
