"""`python -m deploy.local.infra up|down|status [--infra-only]`: the system of `make up`.

Kafka and FerretDB (and the PostgreSQL it stores its data in, when MONGO_BACKEND says so) first,
then each service as its own process. Data lives in `.local/state/`, logs in `.local/logs/`, pids
in `.local/run/`. `down` ends only the processes whose pid files `up` wrote, after checking that
each pid still runs the command we started.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import urlopen

from deploy.local.servers import (
    LOCAL,
    REPO_ROOT,
    KafkaServer,
    LocalServer,
    ServerError,
    local_mongo,
    port_is_open,
)

RUN_DIR = LOCAL / "run"
STATE_DIR = LOCAL / "state"
LOG_DIR = LOCAL / "logs"


def _no_env() -> dict[str, str]:
    return {}


def _access_env() -> dict[str, str]:
    """The local run is the local system (the documented ADMIN_TOKEN opens it), and signs its
    tokens with a key kept in `.local/state/` (made on first use); the environment may say
    otherwise."""
    env = {"LOCAL_RUN": os.environ.get("LOCAL_RUN", "true")}
    if os.environ.get("AUTH_SIGNING_KEY") or os.environ.get("AUTH_PUBLIC_KEYS"):
        return env
    from shared.tokens import generate_signing_key, load_signing_key, public_pem

    key_file = STATE_DIR / "auth-signing-key.pem"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(generate_signing_key())
        key_file.chmod(0o600)
    key = key_file.read_text()
    return env | {"AUTH_SIGNING_KEY": key, "AUTH_PUBLIC_KEYS": public_pem(load_signing_key(key))}


def _payment_env() -> dict[str, str]:
    """The local run's credential encryption key: from the environment, else one kept in
    `.local/state/` (made on first use), so stored credentials stay readable across runs; and
    the local Asaas emulator among the APIs a restaurant may name."""
    env = _access_env() | {
        "ASAAS_BASE_URLS": os.environ.get("ASAAS_BASE_URLS", "http://127.0.0.1:8701/v3")
    }
    if os.environ.get("PAYMENT_ENCRYPTION_KEY"):
        return env
    key_file = STATE_DIR / "payment-encryption.key"
    if not key_file.exists():
        from cryptography.fernet import Fernet

        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_bytes(Fernet.generate_key())
        key_file.chmod(0o600)
    return env | {"PAYMENT_ENCRYPTION_KEY": key_file.read_text().strip()}


@dataclass(frozen=True)
class Service:
    """A service of this repository, run as `python -m <module>` on its HTTP port."""

    name: str
    module: str
    port: int
    env: Callable[[], dict[str, str]] = _no_env
    """Extra environment of the process (defaults for the local run only)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


SERVICES = (
    Service("asaas-emulator", "deploy.emulators.asaas", 8701),
    Service("twilio-emulator", "deploy.emulators.twilio", 8702),
    Service("scheduler", "services.scheduler", 8084),
    Service("order", "services.order", 8081, env=_access_env),
    Service("payment", "services.payment", 8082, env=_payment_env),
    Service("notifier", "services.notifier", 8083),
    Service("panel", "services.panel", 8085, env=_access_env),
)


def _port_from(address: str, default: int) -> int:
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    return parsed.port or default


def configured_servers() -> dict[str, LocalServer]:
    """The servers at the addresses of the environment (DESIGN.md section 11 defaults), in the
    order they start; PostgreSQL, when it is FerretDB's backend, listens on the next port."""
    kafka_port = _port_from(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), 9092)
    mongo_port = _port_from(os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"), 27017)
    return {
        "kafka": KafkaServer(
            home=STATE_DIR / "kafka",
            log_file=LOG_DIR / "kafka.log",
            port=kafka_port,
            controller_port=kafka_port + 1,
        ),
    } | local_mongo(STATE_DIR, mongo_port, mongo_port + 1, LOG_DIR).servers()


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _running_pid(name: str, marker: str) -> int | None:
    """The pid recorded for `name`, if that process still runs our command from this checkout."""
    try:
        pid = int(_pid_file(name).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        cwd = Path(f"/proc/{pid}/cwd").resolve()
    except (FileNotFoundError, ValueError, PermissionError):
        return None
    ours = str(STATE_DIR) in cmdline or cwd == REPO_ROOT
    return pid if marker in cmdline and ours else None


SERVER_MARKERS = {"kafka": "kafka.Kafka", "postgresql": "postgres", "ferretdb": "ferretdb"}
"""What each server's command line holds, in the order they start."""


def _server_marker(name: str) -> str:
    return SERVER_MARKERS[name]


def _answers(service: Service) -> bool:
    try:
        with urlopen(f"{service.url}/readyz", timeout=2) as response:  # noqa: S310 - loopback
            return bool(response.status == 200)
    except OSError:
        return False


def _start_service(service: Service, timeout: float = 60.0) -> int:
    log = (LOG_DIR / f"{service.name}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", service.module],
        env=os.environ | service.env() | {"HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(service.port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{service.name} exited; see {LOG_DIR / service.name}.log")
        if _answers(service):
            return process.pid
        time.sleep(0.2)
    raise ServerError(f"{service.name} not ready within {timeout:.0f}s; see its log")


def up(infra_only: bool) -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for name, server in configured_servers().items():
        if _running_pid(name, _server_marker(name)) is not None:
            print(f"{name}: already running on 127.0.0.1:{server.port}")
            continue
        if port_is_open(server.port):
            raise ServerError(f"{name}: port {server.port} is taken by a process we did not start")
        started = time.monotonic()
        server.start()
        _pid_file(name).write_text(f"{server.pid}\n")
        elapsed = time.monotonic() - started
        print(f"{name}: up on 127.0.0.1:{server.port} in {elapsed:.1f}s (log {server.log_path})")
    if infra_only:
        return
    for service in SERVICES:
        if _running_pid(service.name, service.module) is not None:
            print(f"{service.name}: already running on {service.url}")
            continue
        if port_is_open(service.port):
            raise ServerError(f"{service.name}: port {service.port} is taken")
        _pid_file(service.name).write_text(f"{_start_service(service)}\n")
        print(f"{service.name}: up on {service.url} (log {LOG_DIR / service.name}.log)")


def _stop(name: str, pid: int | None) -> None:
    if pid is None:
        print(f"{name}: not running")
    else:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
        print(f"{name}: stopped (pid {pid})")
    _pid_file(name).unlink(missing_ok=True)


def down() -> None:
    for service in reversed(SERVICES):
        _stop(service.name, _running_pid(service.name, service.module))
    for name in reversed(SERVER_MARKERS):
        _stop(name, _running_pid(name, _server_marker(name)))


def status() -> int:
    healthy = True
    for name, server in configured_servers().items():
        pid = _running_pid(name, _server_marker(name))
        try:
            answers = pid is not None and server.answers()
        except Exception:
            answers = False
        healthy &= answers
        _print_state(name, pid, answers)
    for service in SERVICES:
        pid = _running_pid(service.name, service.module)
        answers = pid is not None and _answers(service)
        healthy &= answers
        _print_state(service.name, pid, answers)
    return 0 if healthy else 1


def _print_state(name: str, pid: int | None, answers: bool) -> None:
    state = "answering" if answers else ("not answering" if pid else "not running")
    print(f"{name}: {state}" + (f" (pid {pid})" if pid else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--infra-only", action="store_true", help="only Kafka and FerretDB")
    arguments = parser.parse_args()
    try:
        if arguments.command == "up":
            up(arguments.infra_only)
        elif arguments.command == "down":
            down()
        else:
            return status()
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
