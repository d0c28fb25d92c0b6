"""The order service's query routes over HTTP, on the in-memory twins: page sizes as
docs/order-service.md promises them (20 by default, at most 200) and the bearer they sit behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from services.order.config import QuerySettings
from services.order.routes import order_routes
from shared.http import answer_with_problems
from tests.access import in_memory_access
from tests.builders import CLIENT, STORE, place_order
from tests.order.twins import OrderTwins

TOKEN = "route-test-token"
ORDERS = f"/stores/{CLIENT}/{STORE}/orders"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    service = OrderTwins().service
    for _ in range(205):
        await service.place(place_order("CASH"))
    app = FastAPI()
    answer_with_problems(app)
    app.include_router(order_routes(service, in_memory_access(TOKEN)[0], QuerySettings()))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://order", headers=headers
    ) as client:
        yield client


async def test_a_page_holds_20_orders_unless_asked_and_points_at_the_next(
    http: httpx.AsyncClient,
) -> None:
    page = (await http.get(ORDERS)).json()

    assert len(page["orders"]) == 20
    assert page["nextCursor"] is not None


async def test_a_page_may_hold_200_orders_and_no_more(http: httpx.AsyncClient) -> None:
    largest = await http.get(ORDERS, params={"limit": 200})
    too_large = await http.get(ORDERS, params={"limit": 201})
    empty = await http.get(ORDERS, params={"limit": 0})

    assert len(largest.json()["orders"]) == 200
    assert (too_large.status_code, empty.status_code) == (422, 422)


async def test_the_queries_need_the_bearer(http: httpx.AsyncClient) -> None:
    anonymous = await http.get(ORDERS, headers={"Authorization": ""})
    wrong = await http.get(ORDERS, headers={"Authorization": "Bearer not-it"})

    assert (anonymous.status_code, wrong.status_code) == (401, 401)
