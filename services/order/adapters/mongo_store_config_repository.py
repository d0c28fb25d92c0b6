"""Store order configurations in MongoDB, `_id` = `<clientId>:<storeId>`, outbox embedded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.contracts.stores import StoreOrderConfig
from shared.mongo import Database
from shared.outbox import OutboxRelay
from shared.outbox_documents import (
    OUTBOX,
    OUTBOX_INDEX,
    PENDING_SINCE,
    merge_updates,
    outbox_update,
)
from shared.records import OutgoingRecord

COLLECTION = "store_configs"

INDEXES = {COLLECTION: [OUTBOX_INDEX]}


def config_id(client_id: str, store_id: str) -> str:
    return f"{client_id}:{store_id}"


class MongoStoreConfigRepository:
    """The configurations of the stores that set one."""

    def __init__(self, database: Database, relay: OutboxRelay) -> None:
        self.collection = database[COLLECTION]
        self._outbox = relay.attach(self.collection)

    async def get(self, client_id: str, store_id: str) -> StoreOrderConfig | None:
        found = await self.collection.find_one(
            {"_id": config_id(client_id, store_id)}, {OUTBOX: 0, PENDING_SINCE: 0, "_id": 0}
        )
        return None if found is None else StoreOrderConfig.model_validate(found)

    async def put(
        self, config: StoreOrderConfig, records: Sequence[OutgoingRecord], now: datetime
    ) -> None:
        # JSON mode keeps `minimumOrderValue` an exact decimal string.
        update = merge_updates(
            {"$set": config.model_dump(mode="json", by_alias=True)}, outbox_update(records, now)
        )
        document_id = config_id(config.client_id, config.store_id)
        await self._outbox.update({"_id": document_id}, update, upsert=True)

    async def publish(self, client_id: str, store_id: str) -> None:
        await self._outbox.publish(config_id(client_id, store_id))
