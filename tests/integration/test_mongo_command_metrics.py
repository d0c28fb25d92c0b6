"""The database time on `/metrics`: every command a service's client sends, by collection."""

from __future__ import annotations

import uuid

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure

from shared.metrics import MONGO_COMMAND_SECONDS
from shared.mongo import connect
from shared.settings import MongoSettings

pytestmark = pytest.mark.integration


def calls(command: str, collection: str, outcome: str) -> float:
    """How many such commands the histogram has counted so far."""
    for metric in MONGO_COMMAND_SECONDS.collect():
        for sample in metric.samples:
            labels = {"command": command, "collection": collection, "outcome": outcome}
            if sample.name.endswith("_count") and sample.labels == labels:
                return sample.value
    return 0.0


async def test_commands_are_timed_by_name_and_collection_and_failures_apart(
    mongodb_uri: str,
) -> None:
    collection_name = f"timed_{uuid.uuid4().hex[:8]}"
    client = connect(MongoSettings(uri=mongodb_uri), app_name="metrics-test")
    collection = client[f"test_{uuid.uuid4().hex[:8]}"][collection_name]
    try:
        await collection.insert_one({"_id": "a"})
        await collection.insert_one({"_id": "b"})
        with pytest.raises(DuplicateKeyError):
            await collection.insert_one({"_id": "a"})
        await collection.update_one({"_id": "a"}, {"$set": {"seen": True}})
        assert await collection.find_one({"_id": "b"}) == {"_id": "b"}
        with pytest.raises(OperationFailure):
            await collection.database.command("noSuchCommand")
    finally:
        await client.drop_database(collection.database.name)
        await client.close()

    assert calls("update", collection_name, "ok") == 1
    assert calls("find", collection_name, "ok") == 1
    # A duplicate key is a write error inside a successful reply: the command itself succeeded.
    assert calls("insert", collection_name, "ok") == 3
    assert calls("insert", collection_name, "failed") == 0
    assert calls("noSuchCommand", "-", "failed") >= 1
