"""Where the test session's Kafka and MongoDB-protocol server come from.

In order: the addresses in KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI; containers where a Docker
daemon answers (testcontainers, Kafka in KRaft mode and MongoDB); else the native servers of
deploy/local started on free ports (FerretDB on the backend MONGO_BACKEND names). There is no
fallback to nothing: a server that cannot be had fails the session loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.local.servers import KafkaServer, free_port, local_mongo, mongo_backend


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap_servers: str
    mongodb_uri: str
    origin: str


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@contextmanager
def _kafka(stack: ExitStack, use_docker: bool, scratch: Path) -> Iterator[tuple[str, str]]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield bootstrap, "environment"
    elif use_docker:
        from testcontainers.community.kafka import KafkaContainer

        container = stack.enter_context(KafkaContainer().with_kraft())
        yield container.get_bootstrap_server(), "testcontainers"
    else:
        server = KafkaServer(home=scratch / "kafka", port=free_port(), controller_port=free_port())
        stack.callback(server.stop)
        server.start()
        yield server.bootstrap_servers, "native"


@contextmanager
def _mongo(stack: ExitStack, use_docker: bool, scratch: Path) -> Iterator[tuple[str, str]]:
    if uri := os.environ.get("MONGODB_URI"):
        yield uri, "environment"
    elif use_docker:
        from testcontainers.community.mongodb import MongoDbContainer

        container = stack.enter_context(MongoDbContainer("mongo:7"))
        yield container.get_connection_url(), "testcontainers"
    else:
        mongo = local_mongo(scratch, free_port(), free_port())
        for server in mongo.servers().values():
            stack.callback(server.stop)
            server.start()
        yield mongo.uri, f"native on {mongo_backend()}"


@contextmanager
def session_servers(docker_check: Callable[[], bool] = docker_answers) -> Iterator[Servers]:
    """Kafka and a MongoDB-protocol server for one test session, torn down after it."""
    needs_docker_check = not (
        os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and os.environ.get("MONGODB_URI")
    )
    use_docker = needs_docker_check and docker_check()
    scratch = Path(tempfile.mkdtemp(prefix="restaurant-orders-tests-"))
    scratch.chmod(0o711)  # PostgreSQL, run as its own user under root, reaches its data here
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, scratch, True)
        kafka_bootstrap, kafka_origin = stack.enter_context(_kafka(stack, use_docker, scratch))
        mongodb_uri, mongo_origin = stack.enter_context(_mongo(stack, use_docker, scratch))
        yield Servers(
            kafka_bootstrap, mongodb_uri, f"kafka: {kafka_origin}, mongodb: {mongo_origin}"
        )
