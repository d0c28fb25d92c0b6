"""Every HTTP route that takes a body answers a hostile one with a clear 4xx, never a 500, and
never says back what it was sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from services.order.config import QuerySettings
from services.order.routes import CONFIG_BODY_LIMIT, order_routes
from services.payment.asaas_updates import AsaasUpdateService
from services.payment.restaurants import Restaurants
from services.payment.routes import CREDENTIALS_BODY_LIMIT, admin_router, webhook_router
from shared.contracts.limits import MAX_NAME_LENGTH, MAX_TEMPLATE_LENGTH, nested_deeper_than
from shared.contracts.values import OrderStatus
from shared.http import answer_with_problems
from tests.access import in_memory_access
from tests.order.twins import OrderTwins

TOKEN = "http-test-token"
WEBHOOK_LIMIT = 256 * 1024
CONFIG = "/stores/rest-1/store-1/config"
CREDENTIALS = "/restaurants/rest-1/asaas"
WEBHOOK = "/webhooks/asaas/rest-1"
TWO_MEGABYTES = b'{"storeName": "' + b"x" * (2 * 1024 * 1024) + b'"}'
DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000
HUGE_INTEGER = b'{"paymentTimeout": ' + b"9" * 5000 + b"}"


class AnyWebhookToken:
    """The restaurants the webhook route asks: every token matches, so bodies are read."""

    async def webhook_token_matches(self, client_id: str, given: str | None) -> bool:
        return True


class ReceivedWebhooks:
    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    async def receive_webhook(self, client_id: str, payload: dict[str, Any], raw: str) -> str:
        self.payloads.append(payload)
        return "new"


@pytest.fixture
def webhooks() -> ReceivedWebhooks:
    return ReceivedWebhooks()


@pytest.fixture
async def http(webhooks: ReceivedWebhooks) -> AsyncIterator[httpx.AsyncClient]:
    service = OrderTwins().service
    restaurants = cast(Restaurants, AnyWebhookToken())
    access, _ = in_memory_access(TOKEN)
    app = FastAPI()
    answer_with_problems(app)
    app.include_router(order_routes(service, access, QuerySettings()))
    app.include_router(admin_router(restaurants, access, ["http://test/v3"]))
    app.include_router(
        webhook_router(cast(AsaasUpdateService, webhooks), restaurants, WEBHOOK_LIMIT)
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://test",
        headers={"Authorization": f"Bearer {TOKEN}", "asaas-access-token": "t"},
    ) as client:
        yield client


async def send(http: httpx.AsyncClient, path: str, body: bytes, *, chunked: bool = False) -> Any:
    method = "POST" if path == WEBHOOK else "PUT"
    headers = {"Content-Type": "application/json"}
    if not chunked:
        return await http.request(method, path, content=body, headers=headers)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    return await http.request(method, path, content=chunks(), headers=headers)


BODY_ROUTES = [CONFIG, CREDENTIALS, WEBHOOK]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_two_megabyte_body_is_refused_as_too_large(
    http: httpx.AsyncClient, path: str, chunked: bool
) -> None:
    response = await send(http, path, TWO_MEGABYTES, chunked=chunked)

    assert response.status_code == 413
    assert b"xxxx" not in response.content


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize(
    "body",
    [DEEP, DEEP_OBJECT, HUGE_INTEGER, b'{"storeName": ', b"\xff\xfe not json"],
    ids=["1000-deep-array", "1000-deep-object", "5000-digit-integer", "cut-short", "not-utf8"],
)
async def test_an_unreadable_body_is_a_bad_request(
    http: httpx.AsyncClient, path: str, body: bytes
) -> None:
    response = await send(http, path, body)

    assert response.status_code == 400
    assert b"99999" not in response.content


@pytest.mark.parametrize("body", [b"[1, 2]", b'"config"', b"null", b"12"])
async def test_a_config_that_is_not_an_object_is_unprocessable(
    http: httpx.AsyncClient, body: bytes
) -> None:
    response = await send(http, CONFIG, body)

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "", "problem": "body must be a JSON object"}]


def problems_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 422
    return cast(list[dict[str, str]], response.json()["errors"])


async def test_a_config_beyond_its_limits_is_unprocessable_naming_fields_not_values(
    http: httpx.AsyncClient,
) -> None:
    name = "Cantina " + "n" * MAX_NAME_LENGTH
    template = "T" * (MAX_TEMPLATE_LENGTH + 1)
    body = {"storeName": name, "notificationTemplates": {"READY": template}, "paymentTimeout": 1e9}

    response = await http.put(CONFIG, json=body)

    assert {problem["field"] for problem in problems_of(response)} == {
        "storeName",
        "notificationTemplates.READY",
        "paymentTimeout",
    }
    assert "nnnn" not in response.text
    assert "TTTT" not in response.text
    assert "1000000000" not in response.text


async def test_a_config_of_the_wrong_types_is_unprocessable_naming_fields_not_values(
    http: httpx.AsyncClient,
) -> None:
    body = {"paymentTimeout": "soon-ish", "operatingHours": {"day": "funday-" * 1000}}

    response = await http.put(CONFIG, json=body)

    assert {problem["field"] for problem in problems_of(response)} == {
        "paymentTimeout",
        "operatingHours",
    }
    assert "soon-ish" not in response.text
    assert "funday-funday" not in response.text


async def test_a_day_name_of_a_hundred_kilobytes_is_not_said_back(http: httpx.AsyncClient) -> None:
    hours = [{"day": "x" * 100_000, "opens": "10:00", "closes": "12:00"}]

    response = await http.put(CONFIG, json={"operatingHours": hours})

    assert [problem["field"] for problem in problems_of(response)] == ["operatingHours.0.day"]
    assert len(response.content) < 500


async def test_the_largest_real_config_fits_the_body_limit_and_is_stored(
    http: httpx.AsyncClient,
) -> None:
    templates = {
        status.value: "ç" * (MAX_TEMPLATE_LENGTH - 20) + "{order_id}" for status in OrderStatus
    }
    hours = [{"day": day, "opens": "11:00", "closes": "15:00"} for day in range(7)] * 7
    body = json.dumps({"storeName": "ã" * MAX_NAME_LENGTH, "notificationTemplates": templates,
                       "operatingHours": hours}, ensure_ascii=False).encode()  # fmt: skip
    assert len(body) < CONFIG_BODY_LIMIT

    response = await send(http, CONFIG, body)

    assert response.status_code == 200
    assert response.json()["storeName"] == "ã" * MAX_NAME_LENGTH


async def test_credentials_of_the_wrong_types_are_unprocessable_and_never_said_back(
    http: httpx.AsyncClient,
) -> None:
    secret = "$aact_" + "k" * 2000
    body = {"apiKey": secret, "webhookToken": 12345, "baseUrl": "ftp://x"}

    response = await http.put(CREDENTIALS, json=body)

    assert response.status_code == 422
    assert {problem["field"] for problem in response.json()["errors"]} == {
        "apiKey",
        "webhookToken",
        "baseUrl",
    }
    assert "kkkk" not in response.text
    assert "12345" not in response.text
    assert len(json.dumps(body)) < CREDENTIALS_BODY_LIMIT


async def test_a_webhook_at_its_limit_is_received(
    http: httpx.AsyncClient, webhooks: ReceivedWebhooks
) -> None:
    event = {"id": "evt_1", "event": "PAYMENT_RECEIVED", "padding": ""}
    event["padding"] = "x" * (WEBHOOK_LIMIT - len(json.dumps(event)))
    body = json.dumps(event).encode()
    assert len(body) == WEBHOOK_LIMIT

    response = await send(http, WEBHOOK, body, chunked=True)

    assert response.status_code == 200
    assert [payload["id"] for payload in webhooks.payloads] == ["evt_1"]


def test_the_test_bodies_are_what_no_service_reads() -> None:
    assert nested_deeper_than(json.loads(b"[" * 500 + b"]" * 500))  # 3.11 reads 500 levels
    with pytest.raises(ValueError, match="integer string"):
        json.loads(HUGE_INTEGER)
