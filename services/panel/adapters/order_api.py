"""The order service's HTTP API as the panel uses it, with the signed-in restaurant's token."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from shared.clients.order_answers import (
    QueryError,
    answer_body,
    orders_of,
    snapshot_of,
    unreachable,
)
from shared.contracts.order_data import OrderSnapshot
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus

PAGE = 50
LONGEST_PAGE = 200
"""The order service's largest page (ORDER_QUERY_MAX_LIMIT's default)."""
MOST_PAGES = 25
"""Pages one look-back reads at most: 5,000 orders, more than a store's busiest day."""


class ConfigRefused(Exception):
    """The order service refused a configuration (422): its field errors, as it gave them."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class OrderApi:
    """Reads a store's orders and configuration and writes its configuration."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def store_orders(
        self,
        token: str,
        client_id: str,
        store_id: str,
        statuses: Sequence[OrderStatus],
        limit: int = PAGE,
    ) -> list[OrderSnapshot]:
        """The store's newest `limit` orders of each status, one query each."""
        path = f"{_store_path(client_id, store_id)}/orders"
        pages = await asyncio.gather(
            *(self._get(token, path, {"limit": limit, "status": status}) for status in statuses)
        )
        return [order for page in pages for order in orders_of(page)]

    async def store_orders_back_to(
        self, token: str, client_id: str, store_id: str, until: Callable[[OrderSnapshot], bool]
    ) -> list[OrderSnapshot]:
        """The store's orders, newest first, up to the first one `until` accepts (included)."""
        path = f"{_store_path(client_id, store_id)}/orders"
        found: list[OrderSnapshot] = []
        params: dict[str, Any] = {"limit": LONGEST_PAGE}
        for _ in range(MOST_PAGES):
            page = await self._get(token, path, params)
            for order in orders_of(page):
                found.append(order)
                if until(order):
                    return found
            cursor = page.get("nextCursor")
            if not isinstance(cursor, str):
                break
            params = {"limit": LONGEST_PAGE, "cursor": cursor}
        return found

    async def by_phone(self, token: str, phone_number: str) -> list[OrderSnapshot]:
        """The restaurant's newest orders of one customer's phone (E.164)."""
        page = await self._get(token, "/orders", {"phoneNumber": phone_number, "limit": PAGE})
        return orders_of(page)

    async def order(self, token: str, order_id: str) -> OrderSnapshot | None:
        """One order, or None when there is none the token may see."""
        try:
            return snapshot_of(await self._get(token, f"/orders/{quote(order_id, safe='')}", {}))
        except QueryError as error:
            if error.status == 404:
                return None
            raise

    async def config(self, token: str, client_id: str, store_id: str) -> StoreOrderConfig:
        body = await self._get(token, f"{_store_path(client_id, store_id)}/config", {})
        return _config(body)

    async def put_config(
        self, token: str, client_id: str, store_id: str, document: dict[str, Any]
    ) -> StoreOrderConfig:
        """Replaces the store's configuration; ConfigRefused with the field errors on a 422."""
        answer = await self._send(
            "PUT", token, f"{_store_path(client_id, store_id)}/config", json=document
        )
        if answer.status_code == 422:
            errors = _json(answer).get("errors")
            raise ConfigRefused(errors if isinstance(errors, list) else [])
        return _config(answer_body(answer))

    async def _get(self, token: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return answer_body(await self._send("GET", token, path, params=params))

    async def _send(self, method: str, token: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self._http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **options
            )
        except httpx.TransportError as error:
            raise unreachable(self.base_url, error) from None


def _store_path(client_id: str, store_id: str) -> str:
    return f"/stores/{quote(client_id, safe='')}/{quote(store_id, safe='')}"


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _config(document: Any) -> StoreOrderConfig:
    try:
        return StoreOrderConfig.model_validate(document)
    except ValidationError:
        raise QueryError("the order service answered a configuration it cannot read") from None
