"""The order service and the scheduler as real processes, shared by a module's scenarios.

Each scenario plays the chatbot, the payment service and the POS itself, for a restaurant of
its own (a fresh clientId), so scenarios never see each other's messages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
from pymongo import MongoClient

from shared.broker import BrokerSink
from shared.contracts.base import Message
from shared.contracts.orders import CancelOrder, ChangePaymentMethod, PlaceOrder
from shared.contracts.pos import PosUpdate
from shared.contracts.registry import ContractError, decode
from shared.records import OutgoingRecord
from shared.topics import ORDERS_COMMANDS, pos_orders_topic, pos_updates_topic
from tests.access import TOKEN_ENV
from tests.builders import envelope, place_order, pos_update
from tests.integration.kafka_helpers import read_until, running_broker
from tests.processes import ServiceProcess, Services

M = TypeVar("M", bound=Message)
P = TypeVar("P", bound=PosUpdate)
ADMIN = {"Authorization": "Bearer order-test-token"}


@pytest.fixture(scope="module")
def order_database(mongodb_uri: str) -> Iterator[str]:
    name = f"test_order_{uuid.uuid4().hex[:10]}"
    yield name
    with MongoClient[dict[str, Any]](mongodb_uri) as client:
        client.drop_database(name)


def system_fixture(**overrides: str) -> Any:
    """A module-scoped `system` fixture: one order service (with these settings) and one
    scheduler for the module's scenarios."""

    @pytest.fixture(scope="module")
    def system(
        kafka_bootstrap: str,
        mongodb_uri: str,
        order_database: str,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[dict[str, ServiceProcess]]:
        running = Services(
            {
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "MONGODB_URI": mongodb_uri,
                "MONGODB_DATABASE": order_database,
                "ADMIN_TOKEN": "order-test-token",
                "KAFKA_METADATA_MAX_AGE_MS": "1000",
                "OUTBOX_SWEEP_INTERVAL_S": "0.5",
                "CONSUMER_ATTEMPTS": "2",
            }
            | TOKEN_ENV,
            Path(tmp_path_factory.mktemp("order-system")),
        )
        processes = {
            "order": running.start("services.order", **overrides),
            "scheduler": running.start("services.scheduler"),
        }
        for process in processes.values():
            process.wait_ready()
        yield processes
        for process in running.started:
            process.stop_if_running()

    return system


system = system_fixture()


class Restaurant:
    """A restaurant of one scenario: its chatbot, its payment side and its POS, all by hand."""

    def __init__(self, bootstrap: str, sink: BrokerSink, order_url: str) -> None:
        self.bootstrap = bootstrap
        self.sink = sink
        self.http = httpx.AsyncClient(base_url=order_url, headers=ADMIN, timeout=15)
        self.client_id = f"c{uuid.uuid4().hex[:10]}"
        self.store_id = "s1"

    def envelope(self) -> dict[str, Any]:
        return envelope(client_id=self.client_id, store_id=self.store_id)

    async def configure(self, **config: Any) -> dict[str, Any]:
        response = await self.http.put(
            f"/stores/{self.client_id}/{self.store_id}/config", json=config
        )
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())

    def order(self, method: str = "CASH", **overrides: Any) -> PlaceOrder:
        return place_order(method, client_id=self.client_id, store_id=self.store_id, **overrides)

    def pos_update(self, kind: type[P], order_id: str, **fields: Any) -> P:
        """A report of this restaurant's POS on `order_id`."""
        return pos_update(kind, order_id, client_id=self.client_id, **fields)

    async def send(self, topic: str, message: Message) -> None:
        await self.sink.send(OutgoingRecord.of(topic, message))

    async def place(self, command: PlaceOrder | CancelOrder | ChangePaymentMethod) -> None:
        await self.send(ORDERS_COMMANDS, command)

    async def pos_send(self, message: Message) -> None:
        await self.send(pos_updates_topic(self.client_id, self.store_id), message)

    async def messages(
        self,
        topic: str,
        kind: type[M],
        where: Callable[[M], bool] = lambda _: True,
        *,
        count: int = 1,
        timeout: float = 20.0,
    ) -> list[M]:
        """Waits until `topic` holds `count` messages of `kind` for this restaurant."""

        def mine(records: list[Any]) -> list[M]:
            found = []
            for record in records:
                try:
                    message = decode(record.value)
                except ContractError:
                    continue  # other tests put unreadable records on shared topics on purpose
                if isinstance(message, kind) and where(message) and self._ours(message):
                    found.append(message)
            return found

        records = await read_until(
            self.bootstrap, topic, lambda records: len(mine(records)) >= count, timeout=timeout
        )
        return mine(records)

    def _ours(self, message: Message) -> bool:
        return getattr(message, "client_id", self.client_id) in (self.client_id, None)

    async def pos_messages(
        self, kind: type[M], *, count: int = 1, timeout: float = 20.0
    ) -> list[M]:
        return await self.messages(
            pos_orders_topic(self.client_id, self.store_id), kind, count=count, timeout=timeout
        )

    async def order_document(self, order_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())


@pytest.fixture
async def restaurant(
    system: dict[str, ServiceProcess], kafka_bootstrap: str
) -> AsyncIterator[Restaurant]:
    async with running_broker(kafka_bootstrap) as broker:
        place = Restaurant(kafka_bootstrap, BrokerSink(broker), system["order"].url)
        yield place
        await place.http.aclose()
