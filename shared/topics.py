"""Kafka topic names of DESIGN.md section 3; per-store POS topic names come from here too."""

from __future__ import annotations

import re

ORDERS_COMMANDS = "orders.commands"
ORDERS_EVENTS = "orders.events"
PAYMENTS_COMMANDS = "payments.commands"
PAYMENTS_EVENTS = "payments.events"
SCHEDULER_COMMANDS = "scheduler.commands"
SCHEDULER_EVENTS = "scheduler.events"
STORES_CONFIG = "stores.config"
NOTIFICATIONS_EVENTS = "notifications.events"
AUTH_REVOCATIONS = "auth.revocations"

FIXED_TOPICS = (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    PAYMENTS_EVENTS,
    SCHEDULER_COMMANDS,
    SCHEDULER_EVENTS,
    STORES_CONFIG,
    NOTIFICATIONS_EVENTS,
    AUTH_REVOCATIONS,
)
COMPACTED_TOPICS = frozenset({STORES_CONFIG, AUTH_REVOCATIONS})

DLQ_SUFFIX = ".dlq"
PREFIX_MARK = "*"
"""Ends a topic name that stands for every topic with that prefix (as a Kafka ACL's `prefix`)."""
POS_TOPICS = "pos." + PREFIX_MARK
"""Every store's POS topics (and their dead-letter topics)."""

# Kafka topic names allow [a-zA-Z0-9._-]; POS topics embed ids, so ids are held to that alphabet.
_LEGAL_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
POS_UPDATES_PATTERN = r"pos\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.updates$"
"""Every store's updates topic and nothing longer: aiokafka matches a pattern at the start only,
and without the `$` the order service read its own `...updates.dlq` topics and dead-lettered
them again, one `.dlq` longer each time."""
_POS_TOPIC = re.compile(
    r"^pos\.(?P<client>[A-Za-z0-9_-]+)\.(?P<store>[A-Za-z0-9_-]+)\.(?P<kind>orders|updates)$"
)


class TopicNameError(ValueError):
    """An id cannot be part of a topic name, or a topic is not a POS topic."""


def _checked(identifier: str) -> str:
    if not _ID.match(identifier):
        raise TopicNameError(
            f"id {identifier!r} must be 1-100 characters of letters, digits, '_' or '-'"
        )
    return identifier


def pos_orders_topic(client_id: str, store_id: str) -> str:
    """Where the order service sends a store's orders to its POS."""
    return f"pos.{_checked(client_id)}.{_checked(store_id)}.orders"


def pos_updates_topic(client_id: str, store_id: str) -> str:
    """Where a store's POS publishes confirmations and status updates."""
    return f"pos.{_checked(client_id)}.{_checked(store_id)}.updates"


def store_of_pos_topic(topic: str) -> tuple[str, str]:
    """The (clientId, storeId) a POS topic belongs to: the store identity of a POS update."""
    match = _POS_TOPIC.match(topic)
    if match is None:
        raise TopicNameError(f"{topic!r} is not a POS topic")
    return match["client"], match["store"]


def is_legal_topic(topic: str) -> bool:
    """Whether Kafka accepts `topic` as a name (the producer would wait for it until timing out)."""
    return bool(_LEGAL_TOPIC.match(topic)) and topic not in (".", "..")


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of `topic`."""
    return topic + DLQ_SUFFIX
