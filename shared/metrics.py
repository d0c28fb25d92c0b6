"""Prometheus metrics that every service exposes on `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_HANDLED = Counter(
    "messages_handled_total",
    "Messages taken by an idempotent consumer, by outcome "
    "(handled, duplicate, dead_lettered, redelivered).",
    ["consumer", "event_type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "message_handler_seconds",
    "Time spent handling one message, retries included.",
    ["consumer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEAD_LETTERS = Counter(
    "dead_letters_total",
    "Messages sent to a dead-letter topic.",
    ["consumer", "topic", "error_type"],
)
OUTBOX_PUBLISHED = Counter(
    "outbox_records_published_total", "Outbox records produced by the relay.", ["path"]
)
OUTBOX_PARKED = Counter(
    "outbox_records_parked_total",
    "Outbox records Kafka refused for good (too large, illegal topic), set aside in the document's "
    "outboxParked list instead of being published.",
    ["collection", "error_type"],
)
OUTBOX_PENDING_DOCUMENTS = Histogram(
    "outbox_sweep_documents",
    "Documents with pending outbox records found by one sweep (the relay's backlog).",
    buckets=(0, 1, 5, 10, 50, 100, 500, 1000),
)
CONSUMER_LAG = Gauge(
    "consumer_lag_messages",
    "Messages behind the partition's end after the last one handled (from the fetch's high "
    "watermark).",
    ["consumer", "topic", "partition"],
)
MONGO_COMMAND_SECONDS = Histogram(
    "mongo_command_seconds",
    "Time of one MongoDB command as the driver saw it, by command and collection.",
    ["command", "collection", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
AUDIT_FINDINGS = Gauge(
    "money_audit_findings",
    "Orders or payments whose money disagrees, as the money audit's last pass found them, by "
    "kind (shared/audit.py).",
    ["kind"],
)
AUDIT_REPAIRS = Counter(
    "money_audit_repairs_total",
    "Disagreements the money audit repaired (a refund started or asked again, a payment read "
    "back from Asaas), by kind.",
    ["kind"],
)
AUDIT_LAST_PASS = Gauge(
    "money_audit_last_pass_timestamp_seconds",
    "When the money audit last completed a pass (Unix time; 0 before the first, and in the "
    "services that run none).",
)
