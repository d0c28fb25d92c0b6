"""The test session takes its servers from the environment before anything else."""

from __future__ import annotations

import pytest

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
