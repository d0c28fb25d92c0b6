"""The chatbot's look-ups on the order service's HTTP API: an order's status, a customer's latest.

    async with ChatbotQueries("http://127.0.0.1:8081", token) as queries:
        order = await queries.status(order_id)            # an OrderSnapshot
        latest = await queries.recent("+5511987654321")   # newest first, 3 by default

`token` is the caller's bearer token (the operator's `ADMIN_TOKEN` today, a chatbot token
later). Every failure is a `QueryError` whose message a person can act on.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from shared.clients.order_answers import (
    QueryError,
    answer_body,
    orders_of,
    snapshot_of,
    unreachable,
)
from shared.contracts.base import PhoneNumber
from shared.contracts.order_data import OrderSnapshot

_PHONE = TypeAdapter(PhoneNumber)
MAX_RECENT = 200
"""The most orders one look-up returns (the order service's page size limit)."""


class OrderNotFound(QueryError):
    """No order has this id (or the token may not see it)."""


class ChatbotQueries:
    """Reads orders from the order service with the caller's bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> ChatbotQueries:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    async def status(self, order_id: str) -> OrderSnapshot:
        """The order as it is now; OrderNotFound when there is none."""
        if not order_id.strip():
            raise QueryError("give the order id")
        answer = await self._get(f"/orders/{quote(order_id, safe='')}", {})
        if answer.status_code == 404:
            raise OrderNotFound(f"order {order_id} not found", 404)
        return snapshot_of(answer_body(answer))

    async def recent(self, phone_number: str, limit: int = 3) -> list[OrderSnapshot]:
        """The customer's latest `limit` orders, newest first (none: an empty list)."""
        try:
            phone = _PHONE.validate_python(phone_number)
        except ValidationError:
            raise QueryError(
                f"{phone_number!r} is not a phone number in E.164 form, e.g. +5511987654321"
            ) from None
        if not 1 <= limit <= MAX_RECENT:
            raise QueryError(f"the limit must be 1 to {MAX_RECENT}, not {limit}")
        answer = await self._get("/orders", {"phoneNumber": phone, "limit": limit})
        return orders_of(answer_body(answer))

    async def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.get(path, params=params)
        except httpx.TransportError as error:
            raise unreachable(self.base_url, error) from None
