"""Session servers (real Kafka and MongoDB-protocol server) and per-test clean state."""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from pymongo import AsyncMongoClient

from shared.broker import ensure_topics
from shared.mongo import Database, Document
from tests.infrastructure import Servers, session_servers
from tests.processes import services  # noqa: F401  (a fixture)


def pytest_configure(config: pytest.Config) -> None:
    # A plain SIGTERM would skip the session's clean-up and leave its servers running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with session_servers() as found:
        print(f"\ntest servers: {found.origin}")
        yield found


@pytest.fixture(scope="session")
def kafka_bootstrap(servers: Servers) -> str:
    return servers.kafka_bootstrap_servers


@pytest.fixture(scope="session")
def mongodb_uri(servers: Servers) -> str:
    return servers.mongodb_uri


@pytest.fixture(scope="session")
async def mongo_client(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def database_name() -> str:
    """The name of this test's own database (service processes started by the test use it)."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def database(
    mongo_client: AsyncMongoClient[Document], database_name: str
) -> AsyncIterator[Database]:
    """A database of its own for each test, dropped afterwards."""
    yield mongo_client[database_name]
    await mongo_client.drop_database(database_name)


NewTopics = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def new_topics(kafka_bootstrap: str) -> NewTopics:
    """Creates topics no other test uses: `await new_topics("orders.events", partitions=6)`."""

    async def create(*bases: str, partitions: int = 3) -> list[str]:
        suffix = uuid.uuid4().hex[:8]
        names = [f"{base}.{suffix}" for base in bases]
        await ensure_topics(kafka_bootstrap, names, partitions=partitions)
        return names

    return create
