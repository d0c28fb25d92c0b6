"""Where the time goes at saturation: the CPU each process used, and the database time of each
service by command and collection.

`CpuByProcess` reads the CPU time of this benchmark and every process it started (servers,
services, emulators) before and after a window. `DatabaseTime` reads the services'
`mongo_command_seconds` (shared/mongo.py) from their `/metrics` before and after it.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.servers import POSTGRESQL_BIN


def label(process: psutil.Process) -> str:
    """A short name for a process of the run, from its command line."""
    try:
        command: list[str] = process.cmdline()
    except psutil.Error:
        return "gone"
    if "-m" in command and command.index("-m") + 1 < len(command):
        module = command[command.index("-m") + 1]
        return module.removeprefix("services.").removeprefix("deploy.emulators.")
    joined = " ".join(command)
    if "kafka.Kafka" in joined:
        return "kafka"
    if "ferretdb" in joined:
        return "ferretdb"
    if joined.startswith(("postgres:", str(POSTGRESQL_BIN))):
        return "postgresql"  # the server and each of its backends, titled `postgres: <what>`
    return Path(command[0]).name if command else "unknown"


def _cpu_seconds() -> dict[int, tuple[str, float]]:
    me = psutil.Process()
    found: dict[int, tuple[str, float]] = {}
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        name = "bench (load and watch)" if process.pid == me.pid else label(process)
        found[process.pid] = (name, times.user + times.system)
    return found


class CpuByProcess:
    """CPU seconds (user + system) each process used over a window, costliest first."""

    def __init__(self) -> None:
        self._before: dict[int, tuple[str, float]] = {}

    def start(self) -> None:
        self._before = _cpu_seconds()

    def stop(self) -> dict[str, float]:
        used: dict[str, float] = collections.defaultdict(float)
        for pid, (name, seconds) in _cpu_seconds().items():
            used[name] += seconds - self._before.get(pid, (name, 0.0))[1]
        return dict(sorted(used.items(), key=lambda item: -item[1]))


Calls = dict[tuple[str, str, str], tuple[float, float]]
"""(service, command, collection) -> (calls, seconds)."""


def _database_calls(metrics_urls: dict[str, str]) -> Calls:
    found: Calls = collections.defaultdict(lambda: (0.0, 0.0))
    for service, url in metrics_urls.items():
        text = httpx.get(url, timeout=10).text
        for family in text_string_to_metric_families(text):
            if family.name != "mongo_command_seconds":
                continue
            for sample in family.samples:
                key = (
                    service,
                    sample.labels.get("command", ""),
                    sample.labels.get("collection", ""),
                )
                calls, seconds = found[key]
                if sample.name.endswith("_count"):
                    found[key] = (calls + sample.value, seconds)
                elif sample.name.endswith("_sum"):
                    found[key] = (calls, seconds + sample.value)
    return found


class DatabaseTime:
    """Each service's database calls over a window, by command and collection, costliest first."""

    def __init__(self, metrics_urls: dict[str, str]) -> None:
        self._urls = metrics_urls
        self._before: Calls = {}

    def start(self) -> None:
        self._before = _database_calls(self._urls)

    def stop(self) -> list[dict[str, Any]]:
        rows = []
        for key, (calls, seconds) in _database_calls(self._urls).items():
            calls_before, seconds_before = self._before.get(key, (0.0, 0.0))
            if calls > calls_before:
                service, command, collection = key
                rows.append(
                    {
                        "service": service,
                        "command": command,
                        "collection": collection,
                        "calls": int(calls - calls_before),
                        "seconds": seconds - seconds_before,
                    }
                )
        return sorted(rows, key=lambda row: -row["seconds"])
