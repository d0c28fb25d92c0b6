"""The local build's patch of FerretDB's PostgreSQL backend (deploy/local/ferretdb/
postgresql-indexes.patch) changes how a find reads, never what it finds: each filter below finds
on the patched server what MongoDB's semantics say, arrays included, and what the same server
finds with pushdown disabled (every document read and matched by FerretDB itself); the filters
that pushdown narrows are served by the indexes that createIndex made."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient, UpdateOne

from deploy.local.servers import FerretDBServer, PostgreSQLServer, free_port

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
FILLER = 3000
POOL_AND_MORE = 120
"""Statements of one write: more than the 50 pooled PostgreSQL connections of FerretDB."""
"""Documents beside the cases, so that an index is cheaper than a scan for the planner."""


def day(n: int) -> datetime:
    return EPOCH + timedelta(days=n)


CASES = [
    {"_id": "o1", "phone": "+1", "at": day(1), "status": "PAID", "tag": "a"},
    {
        "_id": "o2",
        "phone": ["+1", "+2"],
        "at": [day(0), day(9)],
        "status": "PAID",
        "tag": ["a", "b"],
    },
    {"_id": "o3", "phone": "+2", "at": day(5), "status": "NEW", "tag": "b"},
    {"_id": "o4", "phone": {"n": "+1"}, "at": "2026-01-01", "status": "NEW"},
    {"_id": "o5", "at": None, "status": ["PAID", "NEW"]},
    {"_id": "o6", "phone": [], "at": [], "status": "GONE", "tag": []},
    {"_id": "o7", "phone": "+1", "at": day(3), "status": {"state": "PAID"}},
    {"_id": 8, "phone": 1, "at": 3, "status": "PAID"},
]
INDEXES = [
    IndexModel([("phone", ASCENDING), ("at", DESCENDING)], name="phone_at"),
    IndexModel([("status", ASCENDING), ("at", DESCENDING)], name="status_at"),
    IndexModel([("at", ASCENDING)], name="at"),
    IndexModel([("tag", ASCENDING)], name="tag"),
]
FINDS: list[tuple[dict[str, Any], set[Any]]] = [
    ({"phone": "+1"}, {"o1", "o2", "o7"}),
    ({"phone": {"$in": ["+2", "+9"]}}, {"o2", "o3"}),
    ({"phone": "+1", "status": "PAID"}, {"o1", "o2"}),
    ({"status": "NEW"}, {"o3", "o4", "o5"}),
    ({"status": {"$in": ["NEW", "LOST"]}}, {"o3", "o4", "o5"}),
    ({"tag": "a"}, {"o1", "o2"}),
    ({"tag": {"$in": ["b", "z"]}}, {"o2", "o3"}),
    ({"_id": "o3"}, {"o3"}),
    ({"_id": 8}, {8}),
    ({"_id": {"$in": ["o1", "o7", "none"]}}, {"o1", "o7"}),
    ({"at": {"$lte": day(1)}}, {"o1", "o2"}),
    ({"at": {"$lt": day(1)}}, {"o2"}),
    ({"at": {"$gt": day(5)}}, {"o2"}),
    ({"at": {"$gte": day(5)}}, {"o2", "o3"}),
    ({"at": {"$gt": day(0), "$lt": day(4)}}, {"o1", "o2", "o7"}),
    ({"status": "PAID", "at": {"$lte": day(3)}}, {"o1", "o2"}),
]
SERVED_BY_INDEXES = [
    {"phone": "+1"},
    {"tag": {"$in": ["b", "z"]}},
    {"_id": "o3"},
    {"_id": {"$in": ["o1", "o7"]}},
    {"at": {"$lte": day(1)}},
    {"status": "PAID", "at": {"$lte": day(3)}},
]


@pytest.fixture(scope="module")
def clients() -> Iterator[tuple[MongoClient[Any], ...]]:
    """A client of the patched server, holding the cases and their indexes, and one of a server
    on the same data with pushdown disabled."""
    home = Path(tempfile.mkdtemp(prefix="ferretdb-postgresql-"))
    home.chmod(0o711)  # PostgreSQL, run as its own user under root, reaches its data here
    postgresql = PostgreSQLServer(home=home / "postgresql", port=free_port())
    patched = FerretDBServer(home=home / "patched", port=free_port(), postgresql=postgresql)
    unpushed = FerretDBServer(
        home=home / "unpushed",
        port=free_port(),
        postgresql=postgresql,
        flags=("--test-disable-pushdown",),
    )
    started = [postgresql, patched]
    try:
        for server in started:
            server.start()
        client: MongoClient[Any] = MongoClient(patched.uri, tz_aware=True)
        things = client.db.things
        things.create_indexes(INDEXES)
        filler = [
            {"_id": f"f{n}", "phone": f"+9{n}", "status": "OLD", "tag": f"t{n}"}
            for n in range(FILLER)
        ]
        things.insert_many(CASES + filler)
        started.append(unpushed)
        unpushed.start()
        reference: MongoClient[Any] = MongoClient(unpushed.uri, tz_aware=True)
        yield client, reference
        client.close()
        reference.close()
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(home, ignore_errors=True)


def found(client: MongoClient[Any], query: dict[str, Any]) -> set[Any]:
    return {document["_id"] for document in client.db.things.find(query, {"_id": 1})}


@pytest.mark.parametrize(("query", "expected"), FINDS, ids=[repr(q) for q, _ in FINDS])
def test_a_find_finds_what_mongodb_semantics_say_and_what_a_scan_without_pushdown_finds(
    clients: tuple[MongoClient[Any], MongoClient[Any]], query: dict[str, Any], expected: set[Any]
) -> None:
    patched, reference = clients

    assert found(patched, query) == expected
    assert found(reference, query) == expected


@pytest.mark.parametrize("query", SERVED_BY_INDEXES, ids=repr)
def test_a_pushed_down_filter_is_served_by_an_index(
    clients: tuple[MongoClient[Any], MongoClient[Any]], query: dict[str, Any]
) -> None:
    patched, _ = clients

    plan = patched.db.command("explain", {"find": "things", "filter": query})["queryPlanner"]

    assert "Index Scan" in json.dumps(plan, default=str)
    assert "Seq Scan" not in json.dumps(plan, default=str)


def test_an_update_of_more_statements_than_the_pool_has_connections_completes(
    clients: tuple[MongoClient[Any], MongoClient[Any]],
) -> None:
    # Stock FerretDB 1.24 kept each statement's query (a pooled connection, 50 in all) open
    # until the command ended: this write never finished (update-statements.patch).
    patched, _ = clients
    things = patched.db.bulk_things
    things.insert_many([{"_id": f"b{n}", "n": 0} for n in range(POOL_AND_MORE)])

    result = things.bulk_write(
        [UpdateOne({"_id": f"b{n}"}, {"$set": {"n": n + 1}}) for n in range(POOL_AND_MORE)],
        ordered=False,
    )

    assert result.modified_count == POOL_AND_MORE
    assert sum(document["n"] for document in things.find()) == sum(range(1, POOL_AND_MORE + 1))


def test_a_collection_that_exists_is_written_while_another_is_created(
    clients: tuple[MongoClient[Any], MongoClient[Any]],
) -> None:
    # Creating a collection takes the registry's write lock with a connection taken first
    # (registry-lock.patch); an existing collection's writes skip the lock.
    patched, _ = clients
    counters = patched.db.counters
    counters.insert_one({"_id": "c", "n": 0})
    for n in range(20):
        patched.db[f"new_{n}"].create_index("field")
        counters.update_one({"_id": "c"}, {"$inc": {"n": 1}})

    assert counters.find_one({"_id": "c"}) == {"_id": "c", "n": 20}
    assert {f"new_{n}" for n in range(20)} <= set(patched.db.list_collection_names())


WRITERS = 8
ROUNDS = 25


def test_concurrent_conditional_updates_of_one_version_let_exactly_one_win(
    clients: tuple[MongoClient[Any], MongoClient[Any]],
) -> None:
    # The compare-and-set of every versioned save: stock FerretDB 1.24 read the document, then
    # wrote it back by `_id` alone, so two writers of the same version could both succeed.
    patched, _ = clients
    things = patched.db.versioned
    things.insert_one({"_id": "v", "version": 0, "writers": []})

    def write(writer: int) -> int:
        won = 0
        for version in range(ROUNDS * WRITERS):
            if things.find_one_and_update(
                {"_id": "v", "version": version},
                {"$inc": {"version": 1}, "$push": {"writers": writer}},
            ):
                won += 1
        return won

    with ThreadPoolExecutor(WRITERS) as pool:
        wins = sum(pool.map(write, range(WRITERS)))

    document = things.find_one({"_id": "v"})
    assert document is not None
    assert wins == document["version"] == len(document["writers"])


def test_concurrent_increments_of_one_document_are_all_kept(
    clients: tuple[MongoClient[Any], MongoClient[Any]],
) -> None:
    patched, _ = clients
    things = patched.db.incremented
    things.insert_one({"_id": "c", "n": 0})

    def increment(_: int) -> None:
        for _round in range(ROUNDS):
            things.update_one({"_id": "c"}, {"$inc": {"n": 1}})

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(increment, range(WRITERS)))

    assert things.find_one({"_id": "c"}) == {"_id": "c", "n": WRITERS * ROUNDS}
