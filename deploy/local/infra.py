"""`python -m deploy.local.infra up|down|status`: the local Kafka and FerretDB of `make up`.

Data lives in `.local/state/`, logs in `.local/logs/`, pids in `.local/run/`. `down` ends only
the processes whose pid files `up` wrote, after checking that each pid still runs our command.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from deploy.local.servers import (
    LOCAL,
    FerretDBServer,
    KafkaServer,
    LocalServer,
    ServerError,
    port_is_open,
)

RUN_DIR = LOCAL / "run"
STATE_DIR = LOCAL / "state"
LOG_DIR = LOCAL / "logs"


def _port_from(address: str, default: int) -> int:
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    return parsed.port or default


def configured_servers() -> dict[str, LocalServer]:
    """The two servers at the addresses of the environment (DESIGN.md section 11 defaults)."""
    kafka_port = _port_from(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"), 9092)
    mongo_port = _port_from(os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017"), 27017)
    return {
        "kafka": KafkaServer(
            home=STATE_DIR / "kafka",
            log_file=LOG_DIR / "kafka.log",
            port=kafka_port,
            controller_port=kafka_port + 1,
        ),
        "ferretdb": FerretDBServer(
            home=STATE_DIR / "ferretdb", log_file=LOG_DIR / "ferretdb.log", port=mongo_port
        ),
    }


def _pid_file(name: str) -> Path:
    return RUN_DIR / f"{name}.pid"


def _running_pid(name: str) -> int | None:
    """The pid recorded for `name`, if that process still runs the command we started."""
    try:
        pid = int(_pid_file(name).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ValueError):
        return None
    marker = "kafka.Kafka" if name == "kafka" else "ferretdb"
    return pid if marker in cmdline and str(STATE_DIR) in cmdline else None


def up() -> None:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for name, server in configured_servers().items():
        if _running_pid(name) is not None:
            print(f"{name}: already running on 127.0.0.1:{server.port}")
            continue
        if port_is_open(server.port):
            raise ServerError(
                f"{name}: port {server.port} is taken by a process this repository did not start"
            )
        started = time.monotonic()
        server.start()
        _pid_file(name).write_text(f"{server.pid}\n")
        elapsed = time.monotonic() - started
        print(f"{name}: up on 127.0.0.1:{server.port} in {elapsed:.1f}s (log {server.log_path})")


def down() -> None:
    for name in ("kafka", "ferretdb"):
        pid = _running_pid(name)
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


def status() -> int:
    healthy = True
    for name, server in configured_servers().items():
        pid = _running_pid(name)
        try:
            answers = pid is not None and server.answers()
        except Exception:
            answers = False
        healthy &= answers
        state = "answering" if answers else ("not answering" if pid else "not running")
        print(f"{name}: {state}" + (f" (pid {pid})" if pid else ""))
    return 0 if healthy else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    try:
        if command == "up":
            up()
        elif command == "down":
            down()
        else:
            return status()
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
