"""`make run` returns after Ctrl-C and leaves nothing it started running. Its exact recipe is
run by make on a terminal, with `up` taken as done and a stand-in for the Python it calls
(which records its arguments, plays a demo and is the `down`), so no server and no fixed
port is involved."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.terminal import Terminal

STAND_IN = """#!/bin/bash
echo "$*" >> "$CALLS"
if [ "$2" = deploy.local.demo ]; then
    echo "demo started"
    sleep "$DEMO_SECONDS"
    echo "demo played"
fi
"""


@pytest.fixture
def python(tmp_path: Path) -> Path:
    stand_in = tmp_path / "python"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    return stand_in


def make_run(python: Path, demo_seconds: int) -> Terminal:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MAKE")}
    env.pop("MFLAGS", None)
    env |= {"CALLS": str(python.parent / "calls"), "DEMO_SECONDS": str(demo_seconds)}
    return Terminal(["make", "--no-print-directory", "-o", "up", "run", f"PY={python}"], env=env)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for terminal in started:
        terminal.close()


def calls(python: Path) -> list[str]:
    return (python.parent / "calls").read_text().splitlines()


@pytest.mark.parametrize(
    ("demo_seconds", "interrupted_at", "never_shown"),
    [(0, "Ctrl-C stops it.", "The demo failed"), (600, "demo started", "System up")],
    ids=["while-the-system-stays-up", "during-the-demo"],
)
async def test_ctrl_c_stops_what_make_run_started_and_returns(
    python: Path,
    terminals: list[Terminal],
    demo_seconds: int,
    interrupted_at: str,
    never_shown: str,
) -> None:
    terminal = make_run(python, demo_seconds)
    terminals.append(terminal)
    await terminal.shows(interrupted_at)

    terminal.type(b"\x03")

    assert await terminal.exits() != 0
    assert calls(python) == ["-m deploy.local.demo", "-m deploy.local.infra down"]
    assert terminal.session() == []
    assert never_shown not in terminal.output
