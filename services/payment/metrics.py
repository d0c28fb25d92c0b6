"""The payment service's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter

PAYMENTS_CREATED = Counter(
    "payments_created_total", "Charges created on Asaas (PaymentCreated).", ["method"]
)
PAYMENT_CREATION_FAILURES = Counter(
    "payment_creation_failures_total",
    "Charges that could not be created (PaymentCreationFailed), by reason code.",
    ["reason"],
)
WEBHOOKS_RECEIVED = Counter(
    "payment_webhooks_received_total",
    "Asaas webhook calls, by event and outcome (accepted, duplicate, unauthorized, "
    "malformed, too_large).",
    ["event", "outcome"],
)
WEBHOOKS_PROCESSED = Counter(
    "payment_webhooks_processed_total",
    "Stored webhook events processed, by event and outcome (applied, ignored, unmatched).",
    ["event", "outcome"],
)
REFUNDS = Counter(
    "payment_refunds_total",
    "Refund attempts on Asaas, by outcome (accepted, retried, failed).",
    ["outcome"],
)
RECONCILIATION_CHECKS = Counter(
    "payment_reconciliation_checks_total",
    "Charges read back from Asaas by reconciliation, by outcome (applied, unchanged, error).",
    ["outcome"],
)
