"""The order service's HTTP routes: store configuration and order queries, each scoped to the
caller's restaurant (the operator sees every one).

No `from __future__ import annotations` here: FastAPI reads the route signatures at definition,
and the page-size limit is built from settings in the enclosing function.
"""

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from services.order.config import QuerySettings
from services.order.domain.order import Order
from services.order.ports import OrderQuery
from services.order.service import OrderService
from shared.auth import Access, Caller
from shared.contracts.order_data import OrderSnapshot
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus, PaymentStatus
from shared.http import json_body, request_body, validated
from shared.tokens import Role
from shared.topics import TopicNameError, pos_orders_topic

CONFIG_BODY_LIMIT = 128 * 1024
"""Bytes of a store configuration: nine templates of 1000 four-byte characters are 36 KiB, the
rest a few KiB."""


class StoreConfigBody(StoreOrderConfig):
    """Body of `PUT /stores/{clientId}/{storeId}/config`: the store's configuration, whose ids
    the path gives (any in the body are replaced)."""

    client_id: str | None = None  # type: ignore[assignment]
    store_id: str | None = None  # type: ignore[assignment]


class OrderPage(BaseModel):
    """One page of an order query, newest first."""

    orders: list[OrderSnapshot] = Field(description="The orders of this page.")
    next_cursor: str | None = Field(
        alias="nextCursor", description="`cursor` of the next page; null when there is none."
    )


def _page(orders: list[Order], limit: int) -> OrderPage:
    next_cursor = None
    if len(orders) == limit:
        last = orders[-1]
        raw = f"{last.created_at.isoformat()}|{last.order_id}".encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode()
    return OrderPage(orders=[order.snapshot() for order in orders], nextCursor=next_cursor)


def _cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        created_at, order_id = base64.urlsafe_b64decode(cursor).decode().split("|", 1)
        return datetime.fromisoformat(created_at), order_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HTTPException(400, "cursor is not one this service gave") from None


def _store(caller: Caller, client_id: str, store_id: str) -> None:
    caller.require(client_id)
    try:
        pos_orders_topic(client_id, store_id)
    except TopicNameError as error:
        raise HTTPException(400, str(error)) from None


def order_routes(service: OrderService, access: Access, limits: QuerySettings) -> APIRouter:
    router = APIRouter()
    Limit = Annotated[int, Query(ge=1, le=limits.max_limit)]
    Restaurant = Annotated[Caller, access.allow(Role.RESTAURANT)]
    Reader = Annotated[Caller, access.allow(Role.RESTAURANT, Role.CHATBOT)]

    @router.put(
        "/stores/{client_id}/{store_id}/config", openapi_extra=request_body(StoreConfigBody)
    )
    async def put_config(
        client_id: str, store_id: str, request: Request, caller: Restaurant
    ) -> StoreOrderConfig:
        """Sets the store's whole order configuration (the path names the store)."""
        _store(caller, client_id, store_id)
        body = await json_body(request, CONFIG_BODY_LIMIT)
        if isinstance(body, dict):
            body |= {"clientId": client_id, "storeId": store_id}
        config = validated(StoreOrderConfig, body)
        return await service.put_config(config)

    @router.get("/stores/{client_id}/{store_id}/config")
    async def get_config(client_id: str, store_id: str, caller: Restaurant) -> StoreOrderConfig:
        """The store's configuration, or the defaults for a store without one."""
        _store(caller, client_id, store_id)
        return await service.stored_config_of(client_id, store_id)

    @router.get("/orders/{order_id}")
    async def get_order(order_id: str, caller: Reader) -> OrderSnapshot:
        """One order (404 if none, or another restaurant's)."""
        order = await service.get_order(order_id)
        # Another restaurant's order is answered as one that does not exist.
        if order is None or not caller.acts_for(order.client_id):
            raise HTTPException(404, "no such order")
        return order.snapshot()

    @router.get("/orders")
    async def find_orders(
        caller: Reader,
        phone_number: Annotated[str | None, Query(alias="phoneNumber")] = None,
        customer_id: Annotated[str | None, Query(alias="customerId")] = None,
        payment_status: Annotated[PaymentStatus | None, Query(alias="paymentStatus")] = None,
        limit: Limit = limits.default_limit,
        cursor: str | None = None,
    ) -> OrderPage:
        """Orders by exactly one of phone number, customer or payment status; newest first."""
        given = [value for value in (phone_number, customer_id, payment_status) if value]
        if len(given) != 1:
            raise HTTPException(400, "give exactly one of phoneNumber, customerId, paymentStatus")
        query = OrderQuery(
            phone_number=phone_number,
            customer_id=customer_id,
            payment_status=payment_status,
            client_id=caller.scope,
            limit=limit,
            before=_cursor(cursor),
        )
        return _page(await service.find_orders(query), limit)

    @router.get("/stores/{client_id}/{store_id}/orders")
    async def store_orders(
        client_id: str,
        store_id: str,
        caller: Reader,
        status: OrderStatus | None = None,
        limit: Limit = limits.default_limit,
        cursor: str | None = None,
    ) -> OrderPage:
        """A store's orders, optionally by status; newest first."""
        _store(caller, client_id, store_id)
        query = OrderQuery(
            client_id=client_id,
            store_id=store_id,
            status=status,
            limit=limit,
            before=_cursor(cursor),
        )
        return _page(await service.find_orders(query), limit)

    return router
