"""Logging of every service: one JSON object per line on stderr, with the message's context.

The idempotent consumer puts `correlationId`, `clientId`, `storeId`, `orderId`, `eventType` and
`eventId` of the message being handled into every line logged meanwhile (`log_context`), and
`traceId` within a trace, so that one conversation turn can be followed across the four
services. Level from LOG_LEVEL; LOG_FORMAT=text gives plain lines for reading by eye.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("log_context", default={})  # noqa: B039


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Adds `fields` (those that are set) to every line logged inside the block."""
    present = {name: str(value) for name, value in fields.items() if value is not None}
    token = _CONTEXT.set(_CONTEXT.get() | present)
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class _WithContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _CONTEXT.get().items():
            setattr(record, name, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid:  # the line's trace, to find it among the spans and back
            record.traceId = trace.format_trace_id(span.trace_id)
        return True


def log_handler(service: str, stream: TextIO | None = None) -> logging.Handler:
    """The handler of every service: JSON lines (or text, LOG_FORMAT=text) with the context."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_WithContext())
    if os.environ.get("LOG_FORMAT", "json").lower() == "text":
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    else:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    return handler


def configure_logging(service: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        handlers=[log_handler(service)],
        force=True,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs each request line at INFO, query values included (order ids, CPFs in Asaas
    # customer look-ups): not for the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
