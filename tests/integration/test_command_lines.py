"""The command lines as a person uses them, run as processes (on a terminal where Ctrl-C
matters): every example their `--help` shows is accepted, each says what it connects to, and
an unreachable Kafka or order service, a timeout, a bad argument, a move the POS cannot send
and Ctrl-C each end in one line, never a traceback."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid

import pytest

from deploy.local.servers import REPO_ROOT, free_port
from shared.broker import ensure_topics
from shared.contracts.pos import PosOrderStatusUpdated
from shared.contracts.registry import decode
from shared.contracts.values import PosStatus
from shared.topics import pos_orders_topic, pos_updates_topic
from tests.integration.kafka_helpers import at_least, read_until
from tests.terminal import Terminal

pytestmark = pytest.mark.integration

TOOLS = ["shared.clients.chatbot_cli", "shared.clients.pos_simulator", "shared.dlq_replay"]
NOWHERE = f"127.0.0.1:{free_port()}"
"""Where nothing listens: neither Kafka nor the order service."""


def tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=os.environ | (env or {}),
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 1, nothing on stdout, and stderr ends in one `error:` line saying `expected`."""
    assert result.returncode == 1, result
    assert result.stdout == "", result
    assert "Traceback" not in result.stderr, result.stderr
    assert "Unclosed" not in result.stderr, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: "), result.stderr
    for text in expected:
        assert text in last, result.stderr


def examples(help_text: str) -> list[list[str]]:
    """The command lines a `--help` shows, as arguments after `python -m <tool>`."""
    joined = re.sub(r"\\\n\s*", "", help_text)
    lines = [line.strip() for line in joined.splitlines()]
    commands = [shlex.split(line)[3:] for line in lines if line.startswith("python -m ")]
    return [[re.sub(r"<[a-zA-Z]+>", "o-1", word) for word in command] for command in commands]


@pytest.mark.parametrize("module", TOOLS)
def test_every_example_of_the_help_is_accepted_and_fails_in_one_line_with_nothing_reachable(
    module: str,
) -> None:
    shown = tool(module, "--help")
    assert shown.returncode == 0
    found = examples(shown.stdout)
    assert len(found) >= 2, shown.stdout
    nowhere = {"KAFKA_BOOTSTRAP_SERVERS": NOWHERE, "ORDER_SERVICE_URL": f"http://{NOWHERE}"}

    for example in found:
        # The examples name the local run's Kafka: this test must reach none.
        example = [word.replace("127.0.0.1:9092", NOWHERE) for word in example]
        result = tool(module, *example, env=nowhere)

        assert_one_line_error(result, NOWHERE, "cannot be reached")
        assert "is it running?" in result.stderr
        assert result.stderr.count("\n") == 2, result.stderr  # where it went, and the error


def test_a_bad_argument_is_refused_with_the_usage_and_what_is_wrong() -> None:
    cases = [
        (["shared.clients.chatbot_cli", "--client", "c", "--store", "s", "place"], "--item"),
        (["shared.clients.chatbot_cli", "place", "--item", "X:1:1"], "needs --client and --store"),
        (["shared.clients.chatbot_cli", "--client", "c", "--store", "s", "place", "--item",
          "X-Burger:two:18.90"], "is not name:quantity:price"),
        (["shared.clients.pos_simulator", "--client", "a b", "--store", "s"], "must be 1-100"),
        (["shared.dlq_replay", "list", "orders.commands"], "is not a dead-letter topic"),
    ]  # fmt: skip
    for args, expected in cases:
        result = tool(*args)

        assert result.returncode == 2, result
        assert result.stderr.startswith("usage: "), result.stderr
        assert expected in result.stderr.splitlines()[-1], result.stderr
        assert "Traceback" not in result.stderr


def test_a_place_nobody_answers_shows_progress_and_ends_in_a_timeout_line(
    kafka_bootstrap: str,
) -> None:
    client = f"cli-{uuid.uuid4().hex[:8]}"
    result = tool(
        "shared.clients.chatbot_cli", "--bootstrap", kafka_bootstrap, "--client", client,
        "--store", "s1", "--timeout", "6", "place", "--item", "X-Burger:1:18.90",
    )  # fmt: skip

    assert_one_line_error(result, "no answer within 6 s", kafka_bootstrap)
    lines = result.stderr.splitlines()
    assert lines[0] == f"chatbot of {client}/s1 on Kafka at {kafka_bootstrap}"
    assert "still waiting for the order service's answer (5 s)" in lines


def test_a_topic_that_does_not_exist_is_said_in_one_line(kafka_bootstrap: str) -> None:
    topic = f"no-such-{uuid.uuid4().hex[:8]}.dlq"
    result = tool("shared.dlq_replay", "--bootstrap", kafka_bootstrap, "list", topic)

    assert_one_line_error(result, f"topic {topic} does not exist")
    assert result.stderr.splitlines()[0] == f"list {topic} on Kafka at {kafka_bootstrap}"


async def test_ctrl_c_while_the_chatbot_waits_ends_it_quietly(kafka_bootstrap: str) -> None:
    terminal = Terminal(
        [sys.executable, "-m", "shared.clients.chatbot_cli", "--bootstrap", kafka_bootstrap,
         "--client", f"cli-{uuid.uuid4().hex[:8]}", "--store", "s1", "cancel", "--order", "o-1"],
        env=os.environ,
    )  # fmt: skip
    try:
        await terminal.shows("on Kafka at")

        terminal.type(b"\x03")

        assert await terminal.exits() == 130
        assert terminal.output.rstrip().endswith("interrupted")
        assert "Traceback" not in terminal.output
    finally:
        terminal.close()


async def test_the_simulated_pos_takes_moves_as_typed_explains_the_others_and_stops_on_ctrl_c(
    kafka_bootstrap: str,
) -> None:
    client = f"cli-{uuid.uuid4().hex[:8]}"
    updates = pos_updates_topic(client, "s1")
    await ensure_topics(kafka_bootstrap, [pos_orders_topic(client, "s1"), updates], partitions=1)
    terminal = Terminal(
        [sys.executable, "-m", "shared.clients.pos_simulator", "--bootstrap", kafka_bootstrap,
         "--client", client, "--store", "s1"],
        env=os.environ,
    )  # fmt: skip
    try:
        await terminal.shows("waiting for orders")
        assert f"POS of {client}/s1 on Kafka at {kafka_bootstrap}" in terminal.output

        terminal.type(b"status o-1 ready\n")
        [sent] = await read_until(kafka_bootstrap, updates, at_least(1))
        terminal.type(b"status o-1 soon\n")
        await terminal.shows("? confirm <nº>")
        terminal.type(b"reject o-1 " + b"x" * 600 + b"\n")
        await terminal.shows("? reason: String should have at most 500 characters")
        terminal.type(b"\x03")

        assert await terminal.exits() == 130
        assert "Traceback" not in terminal.output
        [refusal] = [line for line in terminal.output.splitlines() if line.startswith("? reason")]
        assert "xxx" not in refusal  # the move's input is never quoted back
        update = decode(sent.value or b"")
        assert isinstance(update, PosOrderStatusUpdated)
        assert (update.order_id, update.status) == ("o-1", PosStatus.READY)
    finally:
        terminal.close()


def test_examples_are_read_from_the_help_as_a_person_would_type_them() -> None:
    shown = "examples:\n  python -m tool --a 1 run \\\n      --b <id>\n  other text\n"

    assert examples(shown) == [["--a", "1", "run", "--b", "o-1"]]
