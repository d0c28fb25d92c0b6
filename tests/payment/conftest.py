"""The payment service and the Asaas emulator as real processes, on the real broker and server.

Each test module starts one emulator and one payment service (with its own database) and
shares them between its tests; every test onboards restaurants of its own (a fresh client id
and Asaas API key, which is a fresh emulator account), so tests do not see each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.fernet import Fernet
from pymongo import AsyncMongoClient

from services.payment.adapters.mongo import INBOX, PAYMENTS
from shared.broker import BrokerSink
from shared.contracts.base import Message
from shared.contracts.payments import (
    CancelPayment,
    PaymentCustomer,
    RequestPayment,
    RequestRefund,
)
from shared.contracts.registry import ContractError, decode
from shared.contracts.values import PaymentMethod
from shared.mongo import Database, Document
from shared.outbox_documents import OUTBOX
from shared.records import OutgoingRecord
from shared.topics import PAYMENTS_COMMANDS, PAYMENTS_EVENTS
from tests.access import TOKEN_ENV
from tests.integration.kafka_helpers import Record, running_broker
from tests.processes import ServiceProcess
from tests.waiting import eventually

M = TypeVar("M", bound=Message)

ADMIN_TOKEN = "test-admin-token"
VALID_CPF = "52998224725"

FAST_SERVICE = TOKEN_ENV | {
    "ADMIN_TOKEN": ADMIN_TOKEN,
    "LOG_LEVEL": "INFO",
    "CONSUMER_ATTEMPTS": "2",
    "CONSUMER_TRANSIENT_MAX_ELAPSED_S": "5",
    "OUTBOX_SWEEP_INTERVAL_S": "0.5",
    "OUTBOX_SWEEP_GRACE_S": "0.5",
    "ASAAS_TIMEOUT_S": "2",
    "ASAAS_ATTEMPTS": "5",
    "ASAAS_BACKOFF_INITIAL_S": "0.05",
    "ASAAS_BACKOFF_MAX_S": "0.2",
    "ASAAS_MAX_ELAPSED_S": "5",
    "PAYMENT_CHARGE_WINDOW_S": "3",
    "PAYMENT_CHARGE_BACKOFF_INITIAL_S": "0.05",
    "PAYMENT_CHARGE_BACKOFF_MAX_S": "0.3",
    "PAYMENT_REFUND_RETRY_WINDOW_S": "2",
    "PAYMENT_REFUND_BACKOFF_INITIAL_S": "0.1",
    "PAYMENT_REFUND_BACKOFF_MAX_S": "0.3",
    "PAYMENT_POLL_INTERVAL_S": "0.2",
    "PAYMENT_RECONCILE_RATE_PER_S": "50",
    "PAYMENT_UNMATCHED_WEBHOOK_RETRY_S": "2",
}
FAST_EMULATOR = {
    "ASAAS_EMULATOR_WEBHOOK_RETRY_S": "0.2",
    "ASAAS_EMULATOR_WEBHOOK_MAX_FAILURES": "15",
    "ASAAS_EMULATOR_REFUND_DELAY_S": "0.3",
}


def now() -> datetime:
    return datetime.now(UTC)


RIGHT_TOKEN = "<the restaurant's own webhook token>"
"""`Restaurant.webhook`'s default: send the token Asaas was given (compared by identity)."""


@dataclass
class Stack:
    """One emulator, one payment service and the database the service writes."""

    emulator: ServiceProcess
    service: ServiceProcess
    database: Database
    encryption_key: str
    secrets: list[str] = field(default_factory=list)
    """Every API key and webhook token handed out: none may appear in a log."""
    replicas: list[ServiceProcess] = field(default_factory=list)
    """More payment service processes on the same database, if a test started some."""

    def stop(self) -> None:
        for process in (*self.replicas, self.service, self.emulator):
            process.stop_if_running()


def start_stack(
    tmp: Path,
    kafka_bootstrap: str,
    mongodb_uri: str,
    mongo: AsyncMongoClient[Document],
    **overrides: str,
) -> Stack:
    emulator = ServiceProcess("deploy.emulators.asaas", FAST_EMULATOR, tmp / "asaas.log")
    emulator.start()
    database_name = f"test_payment_{uuid.uuid4().hex[:10]}"
    key = Fernet.generate_key().decode()
    service = ServiceProcess("services.payment", {}, tmp / "payment.log")
    service.env = (
        FAST_SERVICE
        | {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "MONGODB_URI": mongodb_uri,
            "MONGODB_DATABASE": database_name,
            "PAYMENT_ENCRYPTION_KEY": key,
            "PUBLIC_BASE_URL": service.url,
            "ASAAS_BASE_URLS": f"{emulator.url}/v3",
        }
        | overrides
    )
    service.start()
    stack = Stack(emulator, service, mongo[database_name], key, secrets=[key])
    try:
        emulator.wait_ready()
        service.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack


class PaymentEvents:
    """Everything on `payments.events` since the module started, read in the background."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self.records: list[tuple[Record, Message]] = []
        self._read_up_to: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            PAYMENTS_EVENTS,
            bootstrap_servers=self._bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        self._consumer = consumer

        async def collect() -> None:
            try:
                while True:
                    for partition, batch in (await consumer.getmany(timeout_ms=100)).items():
                        for record in batch:
                            with contextlib.suppress(ContractError):
                                self.records.append((record, decode(record.value)))
                            self._read_up_to[partition] = record.offset + 1
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(collect())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def all_published(self, restaurant: Restaurant, order_id: str) -> None:
        """Returns once every webhook of the restaurant is processed, the order's payment has
        nothing left in its outbox, and `payments.events` is read to its end: a count of
        messages taken then is final, not a count taken before the work was done."""

        stack, client_id = restaurant.stack, restaurant.client_id

        async def settled() -> bool:
            # A webhook event is due until it is processed (its outcome marked).
            pending = {"clientId": client_id, "dueAt": {"$exists": True}}
            payment = await stack.database[PAYMENTS].find_one({"_id": f"{client_id}:{order_id}"})
            return (
                await stack.database[INBOX].count_documents(pending) == 0
                and payment is not None
                and not payment.get(OUTBOX)
            )

        await eventually(settled, what=f"webhooks processed and {order_id}'s outbox empty")
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self._consumer.assignment()))
        await eventually(
            lambda: all(self._read_up_to.get(tp, 0) >= end for tp, end in ends.items()),
            what=f"{PAYMENTS_EVENTS} read to its end",
        )

    def messages(self, order_id: str) -> list[Message]:
        return [m for _, m in self.records if getattr(m, "order_id", None) == order_id]

    def of(self, order_id: str, kind: type[M]) -> list[M]:
        return [m for m in self.messages(order_id) if isinstance(m, kind)]

    def records_of(self, order_id: str) -> list[tuple[Record, Message]]:
        return [(r, m) for r, m in self.records if getattr(m, "order_id", None) == order_id]

    async def wait(self, order_id: str, kind: type[M], count: int = 1, timeout: float = 20) -> M:
        await eventually(
            lambda: len(self.of(order_id, kind)) >= count,
            timeout=timeout,
            what=f"{count} {kind.__name__} for {order_id}; have "
            f"{[type(m).__name__ for m in self.messages(order_id)]}",
        )
        return self.of(order_id, kind)[count - 1]


class Restaurant:
    """One restaurant of one test: its own client id and Asaas account on the emulator."""

    def __init__(self, stack: Stack, sink: BrokerSink) -> None:
        tag = uuid.uuid4().hex[:10]
        self.stack = stack
        self.sink = sink
        self.client_id = f"rest-{tag}"
        self.api_key = f"$aact_test_{uuid.uuid4().hex}"
        self.webhook_token = f"whk-{uuid.uuid4().hex}"
        stack.secrets += [self.api_key, self.webhook_token]
        self.asaas = httpx.AsyncClient(
            base_url=stack.emulator.url, headers={"access_token": self.api_key}, timeout=10
        )
        self.service = httpx.AsyncClient(base_url=stack.service.url, timeout=10)

    async def onboard(self) -> dict[str, Any]:
        response = await self.service.put(
            f"/restaurants/{self.client_id}/asaas",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            json={
                "apiKey": self.api_key,
                "webhookToken": self.webhook_token,
                "baseUrl": f"{self.stack.emulator.url}/v3",
            },
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def close(self) -> None:
        await self.asaas.aclose()
        await self.service.aclose()

    # Commands

    def order(self) -> str:
        return f"order-{uuid.uuid4().hex[:12]}"

    def request_payment(
        self, order_id: str, method: PaymentMethod = PaymentMethod.PIX, cents: int = 4480
    ) -> RequestPayment:
        return RequestPayment(
            event_id=uuid.uuid4(),
            occurred_at=now(),
            correlation_id=f"turn-{order_id}",
            client_id=self.client_id,
            store_id="store-1",
            order_id=order_id,
            payment_method=method,
            amount_cents=cents,
            customer=PaymentCustomer(
                name="Maria Silva", cpf=VALID_CPF, phone_number="+5511987654321"
            ),
            description=f"Pedido #{order_id}",
            time_zone="America/Sao_Paulo",
        )

    def cancel_payment(self, order_id: str) -> CancelPayment:
        return CancelPayment(
            event_id=uuid.uuid4(),
            occurred_at=now(),
            correlation_id=f"cancel-{order_id}",
            client_id=self.client_id,
            store_id="store-1",
            order_id=order_id,
        )

    def request_refund(self, order_id: str) -> RequestRefund:
        return RequestRefund(
            event_id=uuid.uuid4(),
            occurred_at=now(),
            correlation_id=f"refund-{order_id}",
            client_id=self.client_id,
            store_id="store-1",
            order_id=order_id,
            reason="CONFIRMATION_TIMEOUT",
        )

    async def send(self, *commands: Message) -> None:
        for command in commands:
            await self.sink.send(OutgoingRecord.of(PAYMENTS_COMMANDS, command))

    # The emulator

    async def charges(self, order_id: str) -> list[dict[str, Any]]:
        response = await self.asaas.get("/v3/payments", params={"externalReference": order_id})
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    async def charge(self, payment_id: str) -> dict[str, Any]:
        response = await self.asaas.get(f"/v3/payments/{payment_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.asaas.post(f"/_control/{path}", json=body or {})
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def sandbox(self, payment_id: str, action: str) -> dict[str, Any]:
        response = await self.asaas.post(f"/v3/sandbox/payment/{payment_id}/{action}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def refund_requests(self) -> list[tuple[str, int]]:
        """Every refund request Asaas got for this restaurant: (charge id, answer status)."""
        response = await self.asaas.get("/_control/refunds")
        return [(entry["payment"], entry["status"]) for entry in response.json()["data"]]

    async def payment_document(self, order_id: str, attempt: int = 1) -> dict[str, Any] | None:
        """The payment service's record of the order's charge attempt, as stored."""
        reference = order_id if attempt == 1 else f"{order_id}:{attempt}"
        found: dict[str, Any] | None = await self.stack.database[PAYMENTS].find_one(
            {"_id": f"{self.client_id}:{reference}"}
        )
        return found

    async def deliveries(self) -> list[dict[str, Any]]:
        response = await self.asaas.get("/_control/deliveries")
        return list(response.json()["data"])

    async def webhook(
        self, body: dict[str, Any] | bytes, token: str | None = RIGHT_TOKEN, client_id: str = ""
    ) -> httpx.Response:
        """POSTs to the service's webhook route as Asaas would: with the restaurant's token
        unless `token` says which (None: no token header at all)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["asaas-access-token"] = self.webhook_token if token is RIGHT_TOKEN else token
        path = f"/webhooks/asaas/{client_id or self.client_id}"
        if isinstance(body, bytes):
            return await self.service.post(path, content=body, headers=headers)
        return await self.service.post(path, json=body, headers=headers)


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("payment")


@pytest.fixture(scope="module")
async def sink(kafka_bootstrap: str) -> AsyncIterator[BrokerSink]:
    async with running_broker(kafka_bootstrap) as broker:
        yield BrokerSink(broker)


@pytest.fixture(scope="module")
async def payment_events(kafka_bootstrap: str) -> AsyncIterator[PaymentEvents]:
    events = PaymentEvents(kafka_bootstrap)
    await events.start()
    yield events
    await events.stop()


@pytest.fixture
async def restaurant(stack: Stack, sink: BrokerSink) -> AsyncIterator[Restaurant]:
    """A restaurant onboarded on the emulator and the payment service."""
    onboarded = Restaurant(stack, sink)
    await onboarded.onboard()
    yield onboarded
    await onboarded.close()


@pytest.fixture
async def newcomer(stack: Stack, sink: BrokerSink) -> AsyncIterator[Restaurant]:
    """A restaurant not onboarded yet."""
    fresh = Restaurant(stack, sink)
    yield fresh
    await fresh.close()


def stack_fixture(**overrides: str) -> Any:
    """A module-scoped `stack` fixture with these service settings."""

    @pytest.fixture(scope="module")
    async def stack(
        module_tmp: Path,
        kafka_bootstrap: str,
        mongodb_uri: str,
        mongo_client: AsyncMongoClient[Document],
    ) -> AsyncIterator[Stack]:
        started = start_stack(module_tmp, kafka_bootstrap, mongodb_uri, mongo_client, **overrides)
        yield started
        started.stop()
        await mongo_client.drop_database(started.database.name)

    return stack
