"""The test session takes its servers from the environment before anything else; the local
MongoDB-protocol server runs on the backend MONGO_BACKEND names."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from deploy.local.servers import (
    EPHEMERAL_PORTS,
    SERVER_PORTS,
    ServerError,
    free_port,
    local_mongo,
)
from tests.infrastructure import session_servers


def test_servers_named_in_the_environment_are_used_as_they_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("MONGODB_URI", "mongodb://mongo.example:27017")

    def docker_must_not_be_asked() -> bool:
        raise AssertionError("no container is needed when both servers are given")

    with session_servers(docker_must_not_be_asked) as servers:
        assert servers.kafka_bootstrap_servers == "kafka.example:9092"
        assert servers.mongodb_uri == "mongodb://mongo.example:27017"
        assert servers.origin == "kafka: environment, mongodb: environment"


def test_an_unknown_mongo_backend_is_refused_naming_the_choices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MONGO_BACKEND", "mysql")

    with pytest.raises(ServerError, match="MONGO_BACKEND must be one of sqlite, postgresql"):
        local_mongo(tmp_path, free_port(), free_port())


def test_postgresql_backend_puts_its_server_before_ferretdb_and_points_ferretdb_at_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MONGO_BACKEND", "postgresql")

    mongo = local_mongo(tmp_path, 27017, 27018)

    assert list(mongo.servers()) == ["postgresql", "ferretdb"]
    assert mongo.postgresql is not None
    assert mongo.postgresql.home == tmp_path / "postgresql"
    assert mongo.postgresql.url == "postgres://postgres@127.0.0.1:27018/postgres"


def test_a_free_port_is_outside_the_range_of_outgoing_connections_and_can_be_bound() -> None:
    # A port from the kernel's ephemeral range could be taken by an outgoing connection (a
    # Kafka client's) between its choice and the server's bind: it once failed a run.
    lowest_ephemeral = int(EPHEMERAL_PORTS.read_text().split()[0])

    ports = {free_port() for _ in range(20)}

    assert all(port in SERVER_PORTS and port < lowest_ephemeral for port in ports)
    for port in ports:
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
