"""Reading the order service's HTTP answers, one way for every client of its API (the chatbot's
look-ups, the restaurant panel): each unusable answer is a `QueryError` a person can act on."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from shared.contracts.order_data import OrderSnapshot


class QueryError(Exception):
    """A look-up that got no usable answer: why, in words, and the HTTP status if one came."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def unreachable(base_url: str, error: httpx.TransportError) -> QueryError:
    return QueryError(
        f"the order service at {base_url} cannot be reached ({type(error).__name__}); "
        "is it running?"
    )


def answer_body(answer: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 200 answer; a QueryError naming what came instead."""
    if answer.status_code == 401:
        raise QueryError("the order service refused the token (401): check it", 401)
    if answer.status_code == 403:
        raise QueryError("this token may not read these orders (403)", 403)
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code != 200:
        detail = body.get("detail") if isinstance(body, dict) else None
        said = f": {detail}" if isinstance(detail, str) else ""
        raise QueryError(
            f"the order service answered {answer.status_code}{said}", answer.status_code
        )
    if not isinstance(body, dict):
        raise QueryError("the order service's answer is not a JSON object")
    return body


def orders_of(page: dict[str, Any]) -> list[OrderSnapshot]:
    """The orders of a page of a list query."""
    orders = page.get("orders")
    if not isinstance(orders, list):
        raise QueryError("the order service answered without a list of orders")
    return [snapshot_of(order) for order in orders]


def snapshot_of(document: Any) -> OrderSnapshot:
    try:
        return OrderSnapshot.model_validate(document)
    except ValidationError:
        raise QueryError(
            "the order service answered with an order this client cannot read"
        ) from None
