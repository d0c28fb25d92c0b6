"""Orders in MongoDB: one document per order, `_id` = orderId, outbox embedded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.order.domain.errors import ConcurrencyConflict
from services.order.domain.order import Order
from services.order.ports import OrderQuery
from shared.mongo import Database, Document
from shared.outbox import OutboxRelay
from shared.outbox_documents import OUTBOX, OUTBOX_INDEX, PENDING_SINCE, outbox_update, with_outbox
from shared.records import OutgoingRecord
from shared.runtime import Clock, utc_now

COLLECTION = "orders"

INDEXES = {
    COLLECTION: [
        IndexModel([("clientId", ASCENDING), ("status", ASCENDING)], name="client_status"),
        IndexModel(
            [
                ("clientId", ASCENDING),
                ("storeId", ASCENDING),
                ("status", ASCENDING),
                ("createdAt", DESCENDING),
            ],
            name="store_status_created",
        ),
        IndexModel(
            [("clientId", ASCENDING), ("storeId", ASCENDING), ("createdAt", DESCENDING)],
            name="store_created",
        ),
        IndexModel([("phoneNumber", ASCENDING), ("createdAt", DESCENDING)], name="phone_created"),
        IndexModel([("customerId", ASCENDING), ("createdAt", DESCENDING)], name="customer_created"),
        IndexModel(
            [("paymentStatus", ASCENDING), ("createdAt", DESCENDING)], name="payment_created"
        ),
        # The money audit's looks (PAID and CANCELLED, PAID and PENDING): few orders, however
        # many were ever paid.
        IndexModel(
            [("paymentStatus", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING)],
            name="payment_status_created",
        ),
        # Serves the look-ups' windows on FerretDB (a range on one field is served by the btree
        # its PostgreSQL backend builds beside a single-field index); MongoDB uses the ones above.
        IndexModel([("createdAt", DESCENDING)], name="created"),
        OUTBOX_INDEX,
    ]
}

FIRST_WINDOW = timedelta(hours=1)
"""How far back from where its page starts a look-up reads first."""
EMPTY_WIDENING = 32
"""How many times further back the next window reaches while nothing matched yet."""
LAST_BOUNDED = timedelta(days=366)
"""No window but the last, open-ended one reaches further back from where the page starts."""

_BOOKKEEPING = {OUTBOX, PENDING_SINCE, "_id"}


def to_document(order: Order) -> Document:
    return {"_id": order.order_id} | order.model_dump(by_alias=True, mode="python")


def from_document(document: Document) -> Order:
    return Order.model_validate({k: v for k, v in document.items() if k not in _BOOKKEEPING})


def filter_of(query: OrderQuery) -> dict[str, Any]:
    """The MongoDB filter of an order query (its page cursor included)."""
    fields = {
        "phoneNumber": query.phone_number,
        "customerId": query.customer_id,
        "paymentStatus": query.payment_status,
        "clientId": query.client_id,
        "storeId": query.store_id,
        "status": query.status,
    }
    found: dict[str, Any] = {name: value for name, value in fields.items() if value is not None}
    if query.before is not None:
        created_at, order_id = query.before
        found["$or"] = [
            {"createdAt": {"$lt": created_at}},
            {"createdAt": created_at, "_id": {"$lt": order_id}},
        ]
    return found


def reach_after(reach: timedelta, found: int, limit: int) -> timedelta | None:
    """How far back from the page's start the next window reaches: as far as the matches so far
    say fills the page twice over, at most EMPTY_WIDENING times; None (open-ended) past a year."""
    further = reach * (min(EMPTY_WIDENING, 2 * limit / found) if found else EMPTY_WIDENING)
    return further if further <= LAST_BOUNDED else None


class MongoOrderRepository:
    """The order repository on MongoDB (or FerretDB); each write holds the order's lock."""

    def __init__(self, database: Database, relay: OutboxRelay, clock: Clock = utc_now) -> None:
        self.collection = database[COLLECTION]
        self._outbox = relay.attach(self.collection)
        self._clock = clock

    async def get(self, order_id: str) -> Order | None:
        found = await self.collection.find_one({"_id": order_id}, {OUTBOX: 0})
        return None if found is None else from_document(found)

    async def add(self, order: Order, records: Sequence[OutgoingRecord], now: datetime) -> bool:
        try:
            await self._outbox.insert(with_outbox(to_document(order), records, now))
        except DuplicateKeyError:
            return False
        return True

    async def save(
        self, order: Order, expected_version: int, records: Sequence[OutgoingRecord], now: datetime
    ) -> None:
        fields = to_document(order.model_copy(update={"version": expected_version + 1}))
        del fields["_id"]
        update = {"$set": fields} | outbox_update(records, now)
        if not await self._outbox.update(
            {"_id": order.order_id, "version": expected_version}, update
        ):
            raise ConcurrencyConflict(order.order_id, expected_version)

    async def publish(self, order_id: str) -> None:
        await self._outbox.publish(order_id)

    async def find(self, query: OrderQuery) -> list[Order]:
        # FerretDB reads and sorts in its own process every document a find matches: reading
        # newest-first windows on createdAt until the page is full costs about the page, not the
        # store's whole history (MongoDB would stop at the page on its own). A person's orders
        # are few however long the history: their look-ups read in one find.
        person = query.phone_number is not None or query.customer_id is not None
        start = self._clock() if query.before is None else query.before[0]
        within: dict[str, Any] = {} if query.before is None else {"$lte": start}
        reach: timedelta | None = None if person else FIRST_WINDOW
        found: list[Order] = []
        while True:
            if reach is not None:
                within["$gte"] = start - reach
            window = {"createdAt": within} if within else {}
            cursor = (
                self.collection.find(filter_of(query) | window, {OUTBOX: 0})
                .sort([("createdAt", DESCENDING), ("_id", DESCENDING)])
                .limit(query.limit - len(found))
            )
            found += [from_document(document) async for document in cursor]
            if reach is None or len(found) >= query.limit:
                return found
            within = {"$lt": start - reach}
            reach = reach_after(reach, len(found), query.limit)
