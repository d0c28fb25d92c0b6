"""MongoDB client factory and index bootstrap; repositories are the only users of the driver.

Motor is behind this module and the repositories, so moving to PyMongo's AsyncMongoClient is
one adapter (DESIGN.md section 10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase
from pymongo import IndexModel

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
    """Creates the indexes each collection needs; existing ones are left as they are."""
    for collection, models in indexes.items():
        if models:
            await database[collection].create_indexes(list(models))
