"""Logging of every service: one line per record on stderr, level from LOG_LEVEL."""

from __future__ import annotations

import logging
import os


def configure_logging(service: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
    )
    # FastStream logs every message received and processed at INFO: too much for production.
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
