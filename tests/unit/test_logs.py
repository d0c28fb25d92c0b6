"""Service logs: one JSON object per line, carrying the context of the message being handled."""

from __future__ import annotations

import io
import json
import logging

from shared.logs import log_context, log_handler
from tests.unit.test_tracing import SENDER_TRACE, sender_span


def test_a_line_logged_while_handling_a_message_carries_its_context_as_json() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    logger.addHandler(log_handler("order", stream))
    logger.setLevel(logging.INFO)
    try:
        with log_context(correlationId="turn-1", clientId="rest-1", orderId=None):
            logger.info("order %s confirmed", "o-1")
        logger.info("outside")
    finally:
        logger.handlers.clear()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["message"] == "order o-1 confirmed"
    assert inside["service"] == "order"
    assert inside["level"] == "INFO"
    assert (inside["correlationId"], inside["clientId"]) == ("turn-1", "rest-1")
    assert "orderId" not in inside
    assert "correlationId" not in outside


def test_a_line_logged_within_a_trace_names_the_trace() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs.trace")
    logger.addHandler(log_handler("order", stream))
    logger.setLevel(logging.INFO)
    try:
        with sender_span():
            logger.info("inside")
        logger.info("outside")
    finally:
        logger.handlers.clear()
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["traceId"] == f"{SENDER_TRACE:032x}"
    assert "traceId" not in outside
