"""A real PaymentSucceeded dead-lettered by the order service: the order's stored document is
unreadable while the payment comes, and is put back once the event is in the DLQ, so the order
service still believes the payment pending and cancels the order at its deadline."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pymongo import AsyncMongoClient

from services.order.adapters.mongo_order_repository import COLLECTION as ORDERS
from shared.records import HEADER_CONSUMER, HEADER_EVENT_TYPE
from shared.topics import PAYMENTS_EVENTS, dlq_topic
from tests.integration.kafka_helpers import headers_of, read_all
from tests.system.conftest import Restaurant
from tests.waiting import eventually

ORDER_CONSUMER = "order-payments"
"""The order service's consumer of payment events (its dead letters carry this name)."""
CORRUPTED = "not an order policy"
"""What the order's `policy` holds meanwhile: no order can be read from it."""


class LostPayment:
    """Makes the order service dead-letter one order's PaymentSucceeded; when and which."""

    def __init__(self, bootstrap: str, mongodb_uri: str, database: str) -> None:
        self.bootstrap = bootstrap
        self.mongodb_uri = mongodb_uri
        self.database = database
        self.order_id: str | None = None
        self.started: float | None = None
        self.ended: float | None = None
        """When the document was made unreadable and put back (epoch seconds)."""

    @contextlib.asynccontextmanager
    async def losing(self, restaurant: Restaurant, order_id: str) -> AsyncIterator[None]:
        """The order's document is unreadable during the block (the customer pays in it) and
        until its PaymentSucceeded is dead-lettered, then as it was."""

        async def instructed() -> bool:
            with contextlib.suppress(Exception):  # the order service may be restarting
                return bool((await restaurant.order_document(order_id)).get("paymentDetails"))
            return False

        # Paid while the order service may still be telling the instructions, those would be
        # dead-lettered too.
        await eventually(instructed, timeout=60, what=f"{order_id}'s instructions", every=0.5)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.mongodb_uri)
        orders = client[self.database][ORDERS]
        try:
            document = await orders.find_one({"_id": order_id}, {"policy": 1})
            assert document is not None, f"order {order_id} is not stored"
            self.order_id, self.started = order_id, time.time()
            await orders.update_one({"_id": order_id}, {"$set": {"policy": CORRUPTED}})
            yield
            await eventually(
                lambda: self._dead_lettered(order_id),
                timeout=120,
                what=f"the PaymentSucceeded of {order_id} in the DLQ",
            )
            await orders.update_one({"_id": order_id}, {"$set": {"policy": document["policy"]}})
            self.ended = time.time()
        finally:
            await client.close()

    async def _dead_lettered(self, order_id: str) -> bool:
        try:
            records = await read_all(self.bootstrap, dlq_topic(PAYMENTS_EVENTS))
        except Exception:  # the broker restarting: look again
            return False
        for record in records:
            headers = headers_of(record)
            if (
                headers.get(HEADER_CONSUMER) == ORDER_CONSUMER
                and headers.get(HEADER_EVENT_TYPE) == "PaymentSucceeded"
                and json.loads(record.value).get("orderId") == order_id
            ):
                return True
        return False
