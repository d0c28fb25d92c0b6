"""MongoDB client factory and index bootstrap; repositories are the only users of the driver.

PyMongo's own asynchronous API (`AsyncMongoClient`), Motor's successor, is behind this module and
the repositories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from shared.errors import is_unavailable
from shared.metrics import MONGO_COMMAND_SECONDS
from shared.retry import retry_transient
from shared.settings import MongoSettings

Document = dict[str, Any]
Database = AsyncDatabase[Document]


class CommandTimer(monitoring.CommandListener):
    """Times every command by name and collection (`mongo_command_seconds`), so that where the
    database time goes is on `/metrics`: the collection scanned, the command that scans it."""

    def __init__(self) -> None:
        self._collections: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        if event.command_name == "getMore":
            target = event.command.get("collection")
        self._collections[event.request_id] = target if isinstance(target, str) else "-"

    def _observe(self, event: Any, outcome: str) -> None:
        collection = self._collections.pop(event.request_id, "-")
        MONGO_COMMAND_SECONDS.labels(event.command_name, collection, outcome).observe(
            event.duration_micros / 1e6
        )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._observe(event, "ok")

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._observe(event, "failed")


def connect(settings: MongoSettings, *, app_name: str) -> AsyncMongoClient[Document]:
    """A client with bounded timeouts, so an unreachable server fails fast instead of hanging,
    and its commands timed on `/metrics`."""
    return AsyncMongoClient(
        settings.uri.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        socketTimeoutMS=15_000,
        event_listeners=[CommandTimer()],
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
