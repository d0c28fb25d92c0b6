"""Service logs: one JSON object per line, carrying the context of the message being handled."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shared.logs import log_context, log_handler
from tests.unit.test_tracing import SENDER_TRACE, sender_span


@contextmanager
def service_log(name: str) -> Iterator[tuple[logging.Logger, list[dict[str, Any]]]]:
    """A logger writing through the order service's handler, and the lines it wrote, parsed."""
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.addHandler(log_handler("order", stream))
    logger.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield logger, lines
    finally:
        logger.handlers.clear()
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_a_line_logged_while_handling_a_message_carries_its_context_as_json() -> None:
    with service_log("tests.logs") as (logger, lines):
        with log_context(correlationId="turn-1", clientId="rest-1", orderId=None):
            logger.info("order %s confirmed", "o-1")
        logger.info("outside")
    inside, outside = lines
    assert inside["message"] == "order o-1 confirmed"
    assert inside["service"] == "order"
    assert inside["level"] == "INFO"
    assert (inside["correlationId"], inside["clientId"]) == ("turn-1", "rest-1")
    assert "orderId" not in inside
    assert "correlationId" not in outside


def test_a_line_logged_within_a_trace_names_the_trace() -> None:
    with service_log("tests.logs.trace") as (logger, lines):
        with sender_span():
            logger.info("inside")
        logger.info("outside")
    inside, outside = lines
    assert inside["traceId"] == f"{SENDER_TRACE:032x}"
    assert "traceId" not in outside
