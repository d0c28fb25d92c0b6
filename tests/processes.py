"""Services as real processes (`python -m services.<name>`), for tests that kill and restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.servers import REPO_ROOT, free_port
from shared.mongo import Database
from tests.access import TOKEN_ENV


@dataclass
class ServiceProcess:
    module: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=os.environ | self.env | {"HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(self.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        return self

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> ServiceProcess:
        """Returns once `/readyz` answers 200; fails with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.module} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.module} not ready within {timeout}s:\n{self.log_tail()}")

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples on `/metrics` that carry these labels (all if none)."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def terminate(self, timeout: float = 30.0) -> None:
        """SIGTERM, as Kubernetes stops a pod; fails unless the service shut down cleanly."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        # uvicorn re-raises the signal once its shutdown is complete, hence -SIGTERM.
        assert code in (0, -signal.SIGTERM), f"exit code {code}:\n{self.log_tail()}"
        assert "Application shutdown complete" in self.log_tail(), self.log_tail()

    def kill(self) -> None:
        """SIGKILL: the process dies wherever it is."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop_if_running(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Services:
    """Starts service processes for one test and ends every one of them afterwards."""

    def __init__(self, base_env: dict[str, str], log_dir: Path) -> None:
        self._base_env = base_env
        self._log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def start(self, module: str, **env: str) -> ServiceProcess:
        name = f"{module.rsplit('.', 1)[-1]}-{len(self.started)}"
        process = ServiceProcess(module, self._base_env | env, self._log_dir / f"{name}.log")
        self.started.append(process.start())
        return process


@pytest.fixture
def services(
    kafka_bootstrap: str, mongodb_uri: str, tmp_path: Path, database: Database
) -> Iterator[Services]:
    """Service processes on the test's own database; stopped before it is dropped (FerretDB
    1.x can stall every command when a database is dropped under load)."""
    running = Services(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "MONGODB_URI": mongodb_uri,
            "MONGODB_DATABASE": database.name,
            "LOG_LEVEL": "INFO",
            # The tests are the local system: the documented admin token may open it.
            "LOCAL_RUN": "true",
        }
        | TOKEN_ENV,
        tmp_path,
    )
    yield running
    for process in running.started:
        process.stop_if_running()
