"""Every 4xx and 5xx answer of every service is an RFC 9457 problem (`application/problem+json`
with `type`, `title`, `status`, `detail`), which never quotes a token, a secret or a value of
the request. Each service's own app (its `build_app`, on the real MongoDB-protocol server) is
asked, for every route of its OpenAPI document: without a token, with a wrong method, with an
unreadable, an invalid and a too large body, with its bearer check failing, and at an unknown
path and before it is ready."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from services.payment.adapters.mongo import MongoCredentialsRepository
from services.payment.ports import StoredCredentials
from shared.auth import Access
from shared.http import PROBLEM_MEDIA_TYPE
from shared.mongo import Document
from tests.access import bearer
from tests.service_apps import ADMIN_TOKEN, ENCRYPTION_KEY, SERVICES, build_service_app

pytestmark = pytest.mark.integration

SECRET = "s3cret-never-echoed"
"""Put in every request a test makes, in the body, the token and the failure raised."""
WEBHOOK_TOKEN = "problems-webhook-token"
CLIENT = "problems-rest"
METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation: dict[str, Any]

    @property
    def url(self) -> str:
        return re.sub(r"\{[^}]+\}", lambda name: CLIENT if "client" in name[0] else "x1", self.path)

    @property
    def bearer(self) -> bool:
        return bool(self.operation.get("security"))

    @property
    def webhook(self) -> bool:
        return any(p["name"] == "asaas-access-token" for p in self.operation.get("parameters", []))

    @property
    def reads_body(self) -> bool:
        return "requestBody" in self.operation

    def headers(self) -> dict[str, str]:
        """What opens the route: the operator's token, or the restaurant's webhook token."""
        if self.webhook:
            return {"asaas-access-token": WEBHOOK_TOKEN}
        return bearer(ADMIN_TOKEN) if self.bearer else {}


@dataclass
class Service:
    name: str
    app: FastAPI
    http: httpx.AsyncClient

    def operations(self) -> list[Operation]:
        paths = self.app.openapi()["paths"]
        return [
            Operation(method, path, operation)
            for path, operations in paths.items()
            for method, operation in operations.items()
        ]


@pytest.fixture(params=SERVICES)
async def service(
    request: pytest.FixtureRequest, mongodb_uri: str, kafka_bootstrap: str
) -> AsyncIterator[Service]:
    """The service's app on a database of its own (the payment service's holds a restaurant
    with a webhook token), its broker not started."""
    name = request.param
    database = f"test_problems_{uuid.uuid4().hex[:8]}"
    env = {"MONGODB_URI": mongodb_uri, "MONGODB_DATABASE": database,
           "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}  # fmt: skip
    app = build_service_app(name, env)
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    if name == "payment":
        await seed_webhook_token(client, database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield Service(name, app, http)
    await client.drop_database(database)
    await client.close()


async def seed_webhook_token(client: AsyncMongoClient[Document], database: str) -> None:
    cipher = Fernet(ENCRYPTION_KEY.encode())
    credentials = StoredCredentials(
        client_id=CLIENT,
        api_key_encrypted=cipher.encrypt(SECRET.encode()).decode(),
        webhook_token_encrypted=cipher.encrypt(WEBHOOK_TOKEN.encode()).decode(),
        base_url="http://asaas.invalid/v3",
        webhook_id=None,
        webhook_url="http://payment/webhooks/asaas/" + CLIENT,
        updated_at=datetime.now(UTC),
    )
    await MongoCredentialsRepository(client[database]).put(credentials)


def assert_problem(response: httpx.Response, status: int | set[int]) -> dict[str, Any]:
    """`response` is a problem of `status` (one of them) that quotes nothing the test sent."""
    statuses = status if isinstance(status, set) else {status}
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code in statuses, (where, response.status_code, response.text)
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, where
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "about:blank", where
    assert problem["status"] == response.status_code, where
    assert problem["title"], where
    assert problem["detail"], where
    for sent in (SECRET, ADMIN_TOKEN, WEBHOOK_TOKEN):
        assert sent not in response.text, where
    return problem


def every(service: Service, wanted: str) -> Iterator[Operation]:
    """The service's operations that are `wanted`: bearer, webhook or body-reading ones."""
    found = [op for op in service.operations() if getattr(op, wanted)]
    assert found or wanted != "reads_body" or service.name in ("notifier", "scheduler")
    yield from found


async def test_an_unknown_path_is_a_404_problem(service: Service) -> None:
    response = await service.http.get(f"/no-such-{SECRET}", headers=bearer(ADMIN_TOKEN))

    assert_problem(response, 404)


async def test_a_method_a_route_does_not_take_is_a_405_problem(service: Service) -> None:
    by_path: dict[str, set[str]] = {}
    for operation in service.operations():
        by_path.setdefault(operation.url, set()).add(operation.method)

    for url, methods in by_path.items():
        for method in sorted(set(METHODS) - methods):
            response = await service.http.request(method, url, content=SECRET)

            assert_problem(response, 405)


async def test_a_route_without_its_token_is_a_401_problem(service: Service) -> None:
    for operation in [*every(service, "bearer"), *every(service, "webhook")]:
        for headers in ({}, {"Authorization": f"Bearer {SECRET}", "asaas-access-token": SECRET}):
            response = await service.http.request(
                operation.method, operation.url, json={"field": SECRET}, headers=headers
            )

            assert_problem(response, 401)


async def test_an_unreadable_body_is_a_400_problem(service: Service) -> None:
    for operation in every(service, "reads_body"):
        # Cut short, not UTF-8, nested deeper than Python reads.
        for body in (f'{{"field": "{SECRET}', b"\xff" + SECRET.encode(), "[" * 2_000):
            response = await service.http.request(
                operation.method, operation.url, content=body, headers=operation.headers()
            )

            assert_problem(response, 400)


def invalid_body(operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    """Every field the body's model declares, each holding an object that carries the secret."""
    name = operation.operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schemas[name.rsplit("/", 1)[-1]]["properties"]
    return {field: {"wrong": SECRET} for field in fields}


async def test_an_invalid_body_is_a_problem_naming_its_fields_never_their_values(
    service: Service,
) -> None:
    schemas = service.app.openapi()["components"]["schemas"]
    for operation in every(service, "reads_body"):
        for body in (invalid_body(operation, schemas), [SECRET], SECRET):
            response = await service.http.request(
                operation.method, operation.url, json=body, headers=operation.headers()
            )

            problem = assert_problem(response, {400, 422})
            if response.status_code == 422:
                assert problem["errors"], operation.path
                assert all(set(error) == {"field", "problem"} for error in problem["errors"])


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_body_too_large_is_a_413_problem(service: Service) -> None:
    large = json.dumps({"field": SECRET * 200_000})
    for operation in every(service, "reads_body"):
        declared = await service.http.request(
            operation.method, operation.url, content=large, headers=operation.headers()
        )
        streamed = await service.http.request(
            operation.method,
            operation.url,
            content=chunks(large.encode()),  # no Content-Length: counted as it streams
            headers=operation.headers(),
        )

        assert_problem(declared, 413)
        assert_problem(streamed, 413)


async def test_a_failing_bearer_check_is_a_500_problem_that_says_nothing_of_it(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fails(self: Access, token: str | None) -> None:
        raise RuntimeError(f"the check failed with {SECRET}")

    monkeypatch.setattr(Access, "caller", fails)
    for operation in every(service, "bearer"):
        response = await service.http.request(
            operation.method, operation.url, json={}, headers=operation.headers()
        )

        problem = assert_problem(response, 500)
        assert "failed" in problem["detail"]


async def test_failing_metrics_are_a_500_problem(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails() -> bytes:
        raise RuntimeError(SECRET)

    monkeypatch.setattr("shared.http.generate_latest", fails)

    assert_problem(await service.http.get("/metrics"), 500)


async def test_a_service_not_ready_answers_a_503_problem_with_its_checks(
    service: Service,
) -> None:
    response = await service.http.get("/readyz")  # its broker was never started

    problem = assert_problem(response, 503)
    assert problem["checks"]["mongodb"] is True
    assert problem["checks"]["kafka"] is False
