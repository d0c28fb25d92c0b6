"""The chatbot's look-ups against answers the order service may give, on an in-memory transport."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from shared.clients.chatbot_queries import ChatbotQueries, OrderNotFound
from shared.clients.order_answers import QueryError

Answer = Callable[[httpx.Request], httpx.Response]


def queries(answer: Answer) -> ChatbotQueries:
    return ChatbotQueries("http://orders.test/", "tok", transport=httpx.MockTransport(answer))


async def test_the_callers_token_is_sent_and_the_order_id_is_one_path_segment() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, json={"detail": "order not found"})

    async with queries(answer) as lookups:
        with pytest.raises(OrderNotFound, match="order a/b not found"):
            await lookups.status("a/b")
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert seen[0].url.raw_path == b"/orders/a%2Fb"


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (httpx.Response(401), "refused the token (401)"),
        (httpx.Response(403), "may not read these orders (403)"),
        (httpx.Response(500, json={"detail": "database away"}), "answered 500: database away"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "answered 502"),
        (httpx.Response(200, text="not json"), "is not a JSON object"),
        (httpx.Response(200, json={"orders": "none"}), "without a list of orders"),
        (httpx.Response(200, json={"orders": [{"orderId": "o"}]}), "cannot read"),
    ],
)
async def test_every_unusable_answer_is_a_query_error_a_person_can_act_on(
    response: httpx.Response, said: str
) -> None:
    async with queries(lambda request: response) as lookups:
        with pytest.raises(QueryError, match=re.escape(said)) as refused:
            await lookups.recent("+5511987654321")
    assert refused.value.status == (None if response.status_code == 200 else response.status_code)


async def test_a_look_up_that_cannot_be_asked_is_refused_before_any_request() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    async with queries(answer) as lookups:
        with pytest.raises(QueryError, match=r"E\.164"):
            await lookups.recent("11 98765-4321")
        with pytest.raises(QueryError, match="1 to 200"):
            await lookups.recent("+5511987654321", limit=201)
        with pytest.raises(QueryError, match="give the order id"):
            await lookups.status(" ")
