"""The whole system as real processes: both emulators and the five services, on the real broker
and MongoDB-protocol server. Each test onboards a restaurant of its own (fresh clientId and
Asaas account) and a customer of its own (fresh phone number), so tests share the processes but
never each other's data.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from opentelemetry.trace import TracerProvider
from pymongo import MongoClient

from deploy.local.servers import free_port
from shared.clients.chatbot import ChatbotClient
from shared.clients.pos import PosClient
from shared.contracts.orders import PlaceOrder
from tests.access import TOKEN_ENV
from tests.builders import customer, item, place_order
from tests.processes import ServiceProcess

ADMIN_TOKEN = "system-test-token"
TWILIO_SID = "AC00000000000000000000000000000000"
TWILIO_TOKEN = "local-twilio-token"
FAST = {
    "KAFKA_METADATA_MAX_AGE_MS": "1000",
    "OUTBOX_SWEEP_INTERVAL_S": "0.5",
    "OUTBOX_SWEEP_GRACE_S": "1",
    "CONSUMER_ATTEMPTS": "2",
    "CONSUMER_TRANSIENT_MAX_ELAPSED_S": "5",
}


@dataclass
class System:
    processes: dict[str, ServiceProcess]
    bootstrap: str
    databases: dict[str, str]

    def url(self, name: str) -> str:
        return self.processes[name].url

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop_if_running()


PAYMENT_FAST = {
    "PAYMENT_POLL_INTERVAL_S": "0.2",
    "PAYMENT_RECONCILE_AFTER_S": "5",
    "PAYMENT_RECONCILE_MAX_INTERVAL_S": "10",
    "PAYMENT_REFUND_BACKOFF_INITIAL_S": "0.1",
    "PAYMENT_REFUND_BACKOFF_MAX_S": "0.5",
    "ASAAS_BACKOFF_INITIAL_S": "0.05",
    "ASAAS_BACKOFF_MAX_S": "0.3",
}
"""The payment service's waits shortened, so that tests see retries and reconciliation."""


def start_system(
    bootstrap: str,
    mongodb_uri: str,
    logs: Path,
    *,
    fast: bool = True,
    env: Mapping[str, Mapping[str, str]] | None = None,
) -> System:
    """Starts the emulators, then the services, and waits until every one answers.

    `fast` shortens sweeps, retries and reconciliation for tests; without it the services keep
    their production defaults (benchmarks). `env` adds variables to a process by its name (a
    service's Kafka identity)."""
    tag = uuid.uuid4().hex[:8]
    databases = {
        name: f"test_sys_{tag}_{name}"
        for name in ("order", "payment", "notifier", "scheduler", "panel")
    }
    ports = {name: free_port() for name in ("asaas", "twilio", "payment", "order")}
    common = (
        (FAST if fast else {})
        | TOKEN_ENV
        | {
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOG_LEVEL": "INFO",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "MONGODB_URI": mongodb_uri,
        }
    )

    def process(
        name: str, module: str, variables: dict[str, str], port: int | None = None
    ) -> ServiceProcess:
        found = ServiceProcess(
            module, variables | dict((env or {}).get(name, {})), logs / f"{name}.log"
        )
        if port is not None:
            found.port = port
        return found

    processes = {
        "asaas": process(
            "asaas",
            "deploy.emulators.asaas",
            {
                # Fifteen failed deliveries a second apart interrupt a queue: a restart of the
                # payment service is survived, a longer outage is left to reconciliation.
                "ASAAS_EMULATOR_WEBHOOK_RETRY_S": "1",
                "ASAAS_EMULATOR_REFUND_DELAY_S": "0.3",
            },
            ports["asaas"],
        ),
        "twilio": process(
            "twilio",
            "deploy.emulators.twilio",
            {"TWILIO_ACCOUNT_SID": TWILIO_SID, "TWILIO_AUTH_TOKEN": TWILIO_TOKEN},
            ports["twilio"],
        ),
        "scheduler": process(
            "scheduler", "services.scheduler", common | {"MONGODB_DATABASE": databases["scheduler"]}
        ),
        "order": process(
            "order",
            "services.order",
            common | {"MONGODB_DATABASE": databases["order"]},
            ports["order"],
        ),
        "payment": process(
            "payment",
            "services.payment",
            common
            | {
                "MONGODB_DATABASE": databases["payment"],
                "PAYMENT_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "ASAAS_BASE_URLS": f"http://127.0.0.1:{ports['asaas']}/v3",
                "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['payment']}",
            }
            | (PAYMENT_FAST if fast else {}),
            ports["payment"],
        ),
        "notifier": process(
            "notifier",
            "services.notifier",
            common
            | {
                "MONGODB_DATABASE": databases["notifier"],
                "TWILIO_BASE_URL": f"http://127.0.0.1:{ports['twilio']}",
                "TWILIO_ACCOUNT_SID": TWILIO_SID,
                "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
                "TWILIO_BACKOFF_INITIAL_S": "0.05",
                "TWILIO_BACKOFF_MAX_S": "0.3",
            },
        ),
        "panel": process(
            "panel",
            "services.panel",
            common
            | {
                "MONGODB_DATABASE": databases["panel"],
                "PANEL_ORDER_URL": f"http://127.0.0.1:{ports['order']}",
                "PANEL_ACTION_WAIT_S": "5",
            },
        ),
    }
    system = System(processes, bootstrap, databases)
    try:
        for found in processes.values():
            found.start()
        for found in processes.values():
            found.wait_ready(timeout=90)
    except BaseException:
        system.stop()
        raise
    return system


@contextmanager
def running_system(
    bootstrap: str,
    mongodb_uri: str,
    logs: Path,
    *,
    env: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[System]:
    """A started system (`start_system`), stopped and its databases dropped afterwards."""
    running = start_system(bootstrap, mongodb_uri, logs, env=env)
    try:
        yield running
    finally:
        running.stop()
        with MongoClient[dict[str, Any]](mongodb_uri) as client:
            for name in running.databases.values():
                client.drop_database(name)


@pytest.fixture(scope="module")
def system(
    kafka_bootstrap: str, mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    with running_system(kafka_bootstrap, mongodb_uri, tmp_path_factory.mktemp("system")) as running:
        yield running


class Restaurant:
    """One onboarded restaurant with one customer: its chatbot, POS, Asaas and WhatsApp views."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.client_id = f"r{uuid.uuid4().hex[:10]}"
        self.store_id = "loja-1"
        self.asaas_key = f"$aact_test_{uuid.uuid4().hex}"
        self.phone = f"+55119{uuid.uuid4().int % 10**8:08d}"
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.order_api = httpx.AsyncClient(base_url=system.url("order"), headers=auth, timeout=15)
        self.payment_api = httpx.AsyncClient(
            base_url=system.url("payment"), headers=auth, timeout=15
        )
        self.asaas = httpx.AsyncClient(
            base_url=system.url("asaas"), headers={"access_token": self.asaas_key}, timeout=15
        )
        self.twilio = httpx.AsyncClient(
            base_url=system.url("twilio"), auth=(TWILIO_SID, TWILIO_TOKEN), timeout=15
        )

    async def onboard(self, **config: Any) -> None:
        """The store's order configuration and its Asaas credentials, through the real routes."""
        response = await self.order_api.put(
            f"/stores/{self.client_id}/{self.store_id}/config",
            json={"storeName": "Burger da Praça"} | config,
        )
        assert response.status_code == 200, response.text
        response = await self.payment_api.put(
            f"/restaurants/{self.client_id}/asaas",
            json={
                "apiKey": self.asaas_key,
                "webhookToken": f"wh-{uuid.uuid4().hex}",
                "baseUrl": f"{self.system.url('asaas')}/v3",
            },
        )
        assert response.status_code == 200, response.text

    def order(
        self, method: str = "PIX", *, phone: str | None = None, delivery: str = "PICKUP"
    ) -> PlaceOrder:
        """An order (R$ 44,80) of the restaurant's customer (or of the customer on `phone`), to
        pick up or to deliver free of charge."""
        phone = phone or self.phone
        address = {"street": "Rua Augusta", "number": "100"} if delivery == "DELIVERY" else None
        return place_order(
            method,
            client_id=self.client_id,
            store_id=self.store_id,
            customer=customer(customer_id=f"cust-{phone}", phone_number=phone),
            items=[item(quantity=2), item("refri", "Refrigerante", unit_price="7.00")],
            delivery={"type": delivery, "address": address, "fee": "0"},
        )

    def chatbot(self, tracer_provider: TracerProvider | None = None) -> ChatbotClient:
        return ChatbotClient(self.system.bootstrap, tracer_provider=tracer_provider)

    def pos(self) -> PosClient:
        return PosClient(self.system.bootstrap, self.client_id, self.store_id)

    async def order_document(self, order_id: str) -> dict[str, Any]:
        response = await self.order_api.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    async def charges(self, order_id: str) -> list[dict[str, Any]]:
        """The charges of the order on the Asaas emulator (the restaurant's account)."""
        response = await self.asaas.get("/v3/payments", params={"externalReference": order_id})
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    async def refund_requests(self) -> Counter[tuple[str, int]]:
        """How many refund requests the restaurant's Asaas account got, by (charge, answer)."""
        response = await self.asaas.get("/_control/refunds")
        assert response.status_code == 200, response.text
        return Counter((entry["payment"], entry["status"]) for entry in response.json()["data"])

    async def whatsapp(self, phone: str | None = None) -> list[str]:
        """The bodies of the WhatsApp messages the customer (or `phone`) got, oldest first."""
        return [message["body"] for message in await self.whatsapp_messages(phone)]

    async def whatsapp_messages(self, phone: str | None = None) -> list[dict[str, Any]]:
        """The WhatsApp messages (Twilio's resources) the customer (or `phone`) got, oldest
        first."""
        response = await self.twilio.get(
            f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            params={"To": f"whatsapp:{phone or self.phone}", "PageSize": 1000},
        )
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["messages"]))

    async def media(self, message: dict[str, Any]) -> list[tuple[str, bytes]]:
        """The content type and content of each image Twilio keeps for `message`."""
        response = await self.twilio.get(message["subresource_uris"]["media"])
        assert response.status_code == 200, response.text
        found = []
        for medium in response.json()["media_list"]:
            content = await self.twilio.get(medium["uri"].removesuffix(".json"))
            assert content.status_code == 200, content.text
            found.append((medium["content_type"], content.content))
        return found

    async def close(self) -> None:
        for client in (self.order_api, self.payment_api, self.asaas, self.twilio):
            await client.aclose()


@pytest.fixture
async def restaurant(system: System) -> AsyncIterator[Restaurant]:
    place = Restaurant(system)
    yield place
    await place.close()
