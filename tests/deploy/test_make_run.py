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


async def test_ctrl_c_while_the_system_stays_up_stops_it_and_returns(
    python: Path, terminals: list[Terminal]
) -> None:
    terminal = make_run(python, demo_seconds=0)
    terminals.append(terminal)
    await terminal.shows("Ctrl-C stops it.")

    terminal.type(b"\x03")

    assert await terminal.exits() != 0
    assert calls(python) == ["-m deploy.local.demo", "-m deploy.local.infra down"]
    assert terminal.session() == []


async def test_ctrl_c_during_the_demo_stops_the_demo_and_the_system_and_returns(
    python: Path, terminals: list[Terminal]
) -> None:
    terminal = make_run(python, demo_seconds=600)
    terminals.append(terminal)
    await terminal.shows("demo started")

    terminal.type(b"\x03")

    assert await terminal.exits() != 0
    assert calls(python) == ["-m deploy.local.demo", "-m deploy.local.infra down"]
    assert terminal.session() == []
    assert "demo played" not in terminal.output
    assert "System up" not in terminal.output
