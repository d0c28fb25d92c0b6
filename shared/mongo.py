"""MongoDB client factory and index bootstrap; repositories are the only users of the driver.

Motor is behind this module and the repositories, so moving to PyMongo's AsyncMongoClient is
one adapter (DESIGN.md section 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import IndexModel

from shared.errors import is_unavailable
from shared.retry import retry_transient
from shared.settings import MongoSettings

Document = dict[str, Any]
Database = AsyncIOMotorDatabase[Document]


def connect(settings: MongoSettings, *, app_name: str) -> AsyncIOMotorClient[Document]:
    """A client with bounded timeouts, so an unreachable server fails fast instead of hanging."""
    return AsyncIOMotorClient(
        settings.uri.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        socketTimeoutMS=15_000,
    )


async def ensure_indexes(database: Database, indexes: Mapping[str, Sequence[IndexModel]]) -> None:
    """Creates the indexes each collection lacks; existing ones are left as they are.

    Only missing indexes are asked for, and a dropped connection is retried: FerretDB 1.x
    panics on a connection that creates an index another process creates at the same moment
    (two replicas starting together), and on any later request to create that index again.
    """
    for collection, models in indexes.items():

        async def create_missing(
            name: str = collection, wanted: Sequence[IndexModel] = models
        ) -> None:
            existing = await database[name].index_information()
            missing = [model for model in wanted if model.document["name"] not in existing]
            if missing:
                await database[name].create_indexes(missing)

        await retry_transient(create_missing, is_transient=is_unavailable)
