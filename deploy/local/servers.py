"""Native Kafka (KRaft), FerretDB and PostgreSQL processes on loopback, for the local run and
the tests.

Each server is started from the installs that `make install` caches under `.local/` (PostgreSQL
from Debian's package), is waited on until it really answers (a produce/consume round trip, a
MongoDB ping, a connection), and is stopped by the pid this module started, never by name.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from pydantic import SecretStr

from shared.settings import KafkaSettings, KafkaTarget, kafka_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL = REPO_ROOT / ".local"
KAFKA_LIBS = LOCAL / "kafka" / "libs"
FERRETDB_BIN = LOCAL / "bin" / "ferretdb"
FERRETDB_GOGC = "400"
"""The Go collector's GOGC for FerretDB: its live heap is a few megabytes, so at Go's default
(100) it collected every few commands, 14% of its CPU under the benchmark's paid orders; at 400
it runs about a quarter as often, for tens of megabytes more."""
POSTGRESQL_BIN = Path("/usr/lib/postgresql/15/bin")
"""Debian's PostgreSQL 15 (package postgresql-15)."""
MONGO_BACKENDS = ("sqlite", "postgresql")
DEFAULT_MONGO_BACKEND = "postgresql"
KAFKA_CONFIG_TEMPLATE = Path(__file__).parent / "kafka" / "server.properties"
KAFKA_SCRAM_TEMPLATE = Path(__file__).parent / "kafka" / "server-scram.properties"
SCRAM_MECHANISM = "SCRAM-SHA-512"


class ServerError(RuntimeError):
    """A local server could not be installed, started or reached."""


SERVER_PORTS = range(28_000, 32_768)
"""Where `free_port` looks: above the fixed ports of the local run, below Linux's default range
for outgoing connections' local ports (32768-60999)."""
EPHEMERAL_PORTS = Path("/proc/sys/net/ipv4/ip_local_port_range")
PORT_TRIES = 50
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on loopback that nothing uses right now, outside the range the kernel takes
    outgoing connections' local ports from: a port the kernel chose (bind to port 0) could be
    taken by one of the many connections Kafka clients open before the server binds it."""
    lowest_ephemeral = _lowest_ephemeral_port()
    candidates = [
        port for port in SERVER_PORTS if port < lowest_ephemeral and port not in _handed_out
    ]
    for port in random.sample(candidates, min(PORT_TRIES, len(candidates))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)  # not again to this process's next server, bound or not yet
            return port
    with socket.socket() as probe:  # the range is full, or not where this kernel has it
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lowest_ephemeral_port() -> int:
    try:
        return int(EPHEMERAL_PORTS.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return SERVER_PORTS.stop


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_until(
    check: Callable[[], bool],
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes],
    log: Path,
) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{what} exited with code {process.returncode}; see {log}")
        try:
            if check():
                return
        except Exception as error:  # the server is still starting: keep polling
            last_error = error
        time.sleep(0.2)
    raise ServerError(f"{what} did not answer within {timeout:.0f}s ({last_error!r}); see {log}")


@dataclass
class LocalServer:
    """A server process started here, with its data and log under `home`."""

    home: Path
    port: int = 0
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    stop_signal = signal.SIGTERM

    @property
    def log_path(self) -> Path:
        return self.log_file or self.home / "server.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def _spawn(self, command: list[str], **options: Any) -> subprocess.Popen[bytes]:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        # A session of its own: Ctrl-C on `make run` reaches make, which stops us in order.
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            start_new_session=True,
            **options,
        )

    def start(self, timeout: float = 60.0) -> None:
        """Starts the process and returns once the server answers."""
        raise NotImplementedError

    def answers(self) -> bool:
        """True when the server serves requests."""
        raise NotImplementedError

    def stop(self, timeout: float = 30.0) -> None:
        """Ends the process this object started: its stop signal, then SIGKILL after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def kill(self) -> None:
        """Ends the process at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class KafkaServer(LocalServer):
    """A single combined broker+controller in KRaft mode; with `scram_users` (name: password)
    its only client listener takes SASL/SCRAM-SHA-512 and ACLs decide (the `admin_user` is the
    super user), as a production cluster does."""

    port: int = 9092
    controller_port: int = 9093
    heap: str = "768m"
    scram_users: dict[str, str] = field(default_factory=dict)
    admin_user: str = "admin"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client_settings(self, user: str | None = None) -> KafkaSettings:
        """How a client connects: plainly, or as `user` (the admin by default) over SCRAM."""
        if not self.scram_users:
            return KafkaSettings(bootstrap_servers=self.bootstrap_servers)
        name = user or self.admin_user
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=SCRAM_MECHANISM,
            sasl_username=name,
            sasl_password=SecretStr(self.scram_users[name]),
        )

    def _config_text(self, data_dir: Path) -> str:
        template = KAFKA_CONFIG_TEMPLATE.read_text()
        if self.scram_users:
            template += "\n" + KAFKA_SCRAM_TEMPLATE.read_text()
        return Template(template).substitute(
            port=self.port,
            controller_port=self.controller_port,
            data_dir=data_dir,
            admin_user=self.admin_user,
            admin_password=self.scram_users.get(self.admin_user, ""),
        )

    def _scram_arguments(self) -> list[str]:
        # SCRAM credentials go into the metadata log when the storage is formatted.
        return [
            f"--add-scram={SCRAM_MECHANISM}=[name={name},password={password}]"
            for name, password in self.scram_users.items()
        ]

    def start(self, timeout: float = 90.0) -> None:
        java = shutil.which("java")
        if java is None:
            raise ServerError("java is not on PATH (Java 17 or newer is needed for Kafka)")
        if not any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
            raise ServerError(f"Kafka jars missing in {KAFKA_LIBS}: run `make install`")
        data_dir = self.home / "data"
        config = self.home / "server.properties"
        config.parent.mkdir(parents=True, exist_ok=True)
        if self.scram_users and self.admin_user not in self.scram_users:
            raise ServerError(f"scram_users must hold the admin user {self.admin_user!r}")
        config.write_text(self._config_text(data_dir))
        classpath = f"{KAFKA_LIBS}/*"
        # The whole heap from the start, as Kafka's own kafka-server-start.sh sets it: grown
        # from 256 MB, G1 kept its young generation small and paused every 3 s under load.
        heap = [f"-Xms{self.heap}", f"-Xmx{self.heap}"]
        jvm = [java, *heap, "-XX:+UseG1GC", "-cp", classpath]
        if not (data_dir / "meta.properties").exists():
            # A base64url id may start with "-": passed as `--cluster-id=...`, it is not an option.
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            formatted = subprocess.run(
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={cluster_id}",
                    "-c",
                    str(config),
                    *self._scram_arguments(),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
            if formatted.returncode != 0:
                raise ServerError(f"formatting Kafka storage failed: {formatted.stdout[-3000:]}")
        self.process = self._spawn(
            [*jvm, "-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "kafka.Kafka", str(config)]
        )
        _wait_until(
            self.answers, f"Kafka on {self.bootstrap_servers}", timeout, self.process, self.log_path
        )

    def answers(self) -> bool:
        """True when a message produced to a probe topic comes back to a consumer."""
        if not port_is_open(self.port):
            return False
        # A thread of its own, so that this works from inside a running event loop as well.
        with ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(asyncio.run, kafka_round_trip(self.client_settings())).result()


@dataclass
class PostgreSQLServer(LocalServer):
    """PostgreSQL 15 on loopback (TCP only), its cluster made once in `home/data`. The server
    refuses to run as root, so a root caller runs it as the `postgres` user, as CI does."""

    port: int = 27018
    stop_signal = signal.SIGINT  # fast shutdown: SIGTERM would wait for every client to leave

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self) -> dict[str, Any]:
        """The Popen options that run a command as the cluster's owner."""
        if os.geteuid() != 0:
            return {}
        return {"user": "postgres", "group": "postgres", "extra_groups": []}

    @property
    def data_dir(self) -> Path:
        """`home/data`; under root, when the `postgres` user cannot reach `home` (a checkout in
        /root, say), a folder of that user's own home named after `home` instead."""
        data_dir = self.home / "data"
        above = [folder for folder in self.home.resolve().parents if folder.exists()]
        if os.geteuid() != 0 or all(folder.stat().st_mode & 0o001 for folder in above):
            return data_dir
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]
        return Path(pwd.getpwnam("postgres").pw_dir) / "local-clusters" / digest

    def _make_cluster(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(data_dir, owner.pw_uid, owner.pw_gid)
        data_dir.chmod(0o700)
        made = subprocess.run(
            [
                str(POSTGRESQL_BIN / "initdb"),
                f"--pgdata={data_dir}",
                "--username=postgres",
                "--auth=trust",  # loopback only, and the local run's data only
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            cwd=data_dir,
            **self._as_owner(),
        )
        if made.returncode != 0:
            raise ServerError(f"initdb failed: {made.stdout[-3000:]}")

    def start(self, timeout: float = 60.0) -> None:
        if not (POSTGRESQL_BIN / "postgres").exists():
            raise ServerError(f"PostgreSQL 15 missing at {POSTGRESQL_BIN}: install postgresql-15")
        data_dir = self.data_dir
        if not (data_dir / "PG_VERSION").exists():
            self._make_cluster(data_dir)
        self.process = self._spawn(
            [
                str(POSTGRESQL_BIN / "postgres"),
                "-D",
                str(data_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                # A crash loses the last moments of commits, never consistency.
                "-c",
                "synchronous_commit=off",
                # Compiling a plan cost more than it saved on these short queries (~100 ms).
                "-c",
                "jit=off",
            ],
            **self._as_owner(),
        )
        _wait_until(
            self.answers,
            f"PostgreSQL on 127.0.0.1:{self.port}",
            timeout,
            self.process,
            self.log_path,
        )

    def answers(self) -> bool:
        ready = subprocess.run(
            [
                str(POSTGRESQL_BIN / "pg_isready"),
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--username=postgres",
            ],
            capture_output=True,
            check=False,
        )
        return ready.returncode == 0


@dataclass
class FerretDBServer(LocalServer):
    """FerretDB speaking the MongoDB wire protocol, stored in SQLite files, or in `postgresql`
    when given (a server started before it)."""

    port: int = 27017
    postgresql: PostgreSQLServer | None = None
    flags: tuple[str, ...] = ()
    """Further FerretDB flags."""

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def _backend_flags(self) -> list[str]:
        if self.postgresql is not None:
            return ["--handler=postgresql", f"--postgresql-url={self.postgresql.url}"]
        data_dir = self.home / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        return ["--handler=sqlite", f"--sqlite-url=file:{data_dir}/"]

    def start(self, timeout: float = 30.0) -> None:
        if not FERRETDB_BIN.exists():
            raise ServerError(f"FerretDB binary missing at {FERRETDB_BIN}: run `make install`")
        self.process = self._spawn(
            [
                str(FERRETDB_BIN),
                *self._backend_flags(),
                f"--listen-addr=127.0.0.1:{self.port}",
                f"--state-dir={self.home}",
                "--debug-addr=-",
                "--telemetry=disable",
                "--log-level=warn",
                *self.flags,
            ],
            env=os.environ | {"GOGC": FERRETDB_GOGC},
        )
        _wait_until(self.answers, f"FerretDB on {self.uri}", timeout, self.process, self.log_path)

    def servers(self) -> dict[str, LocalServer]:
        """The processes this server is, by name, in the order they start."""
        below = {} if self.postgresql is None else {"postgresql": self.postgresql}
        return below | {"ferretdb": self}

    def answers(self) -> bool:
        return mongo_ping(self.uri)


def mongo_backend() -> str:
    """Where the local FerretDB stores its data: MONGO_BACKEND, `sqlite` or `postgresql`."""
    backend = os.environ.get("MONGO_BACKEND", DEFAULT_MONGO_BACKEND)
    if backend not in MONGO_BACKENDS:
        raise ServerError(f"MONGO_BACKEND must be one of {', '.join(MONGO_BACKENDS)}")
    return backend


def local_mongo(
    home: Path, port: int, postgresql_port: int, log_dir: Path | None = None
) -> FerretDBServer:
    """The local MongoDB-protocol server, on the backend MONGO_BACKEND names, its data under
    `home` (PostgreSQL's on `postgresql_port`)."""

    def log(name: str) -> Path | None:
        return None if log_dir is None else log_dir / f"{name}.log"

    postgresql = None
    if mongo_backend() == "postgresql":
        postgresql = PostgreSQLServer(
            home=home / "postgresql", port=postgresql_port, log_file=log("postgresql")
        )
    return FerretDBServer(
        home=home / "ferretdb", port=port, log_file=log("ferretdb"), postgresql=postgresql
    )


async def kafka_round_trip(kafka: KafkaTarget, timeout: float = 10.0) -> bool:
    """Produces one message to a probe topic and reads it back."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = "_local.readiness"
    marker = uuid.uuid4().hex.encode()
    options = kafka_settings(kafka).client_options()
    producer = AIOKafkaProducer(**options, request_timeout_ms=5000)
    try:
        await producer.start()
        sent = await asyncio.wait_for(producer.send_and_wait(topic, marker), timeout)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**options, enable_auto_commit=False)
    try:
        await consumer.start()
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout)
        return bool(record.value == marker)
    finally:
        await consumer.stop()


def mongo_ping(uri: str) -> bool:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=2000)
    try:
        return bool(client.admin.command("ping").get("ok"))
    finally:
        client.close()
