"""What every benchmark shares: progress lines, percentiles, the servers, and the results file."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.infrastructure import Servers, session_servers

RESULTS = Path(__file__).resolve().parents[1] / "bench-results"
"""Git-ignored; one JSON file per benchmark run."""

Results = dict[str, Any]


def say(text: str) -> None:
    print(text, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_benchmark(
    name: str,
    run: Callable[[Servers], Coroutine[Any, Any, Results]],
    report: Callable[[Results], None],
) -> int:
    """Runs `run` on fresh servers (the tests' selection), saves its results, prints the table."""
    # A plain SIGTERM would skip the clean-up and leave the servers running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with session_servers() as servers:
        say(f"servers: {servers.origin}")
        results = asyncio.run(run(servers))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2))
    report(results)
    say(f"\nresults: {out}")
    return 0
