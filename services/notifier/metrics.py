"""The notifier's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATIONS = Counter(
    "notifier_notifications_total",
    "WhatsApp messages by kind and outcome (sent, failed, dropped).",
    ["kind", "outcome"],
)
TWILIO_RETRIES = Counter(
    "notifier_twilio_retries_total",
    "Twilio calls tried again after a transient answer, by what the previous try got.",
    ["reason"],
)
TEMPLATE_FALLBACKS = Counter(
    "notifier_template_fallbacks_total",
    "Messages sent as an approved template because the free-form window had closed "
    "(reason: window, or 63016 answered by Twilio).",
    ["reason"],
)
SEND_SECONDS = Histogram(
    "notifier_send_seconds",
    "Time to get Twilio's final answer for one message, retries included.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
POSSIBLE_DUPLICATES = Counter(
    "notifier_possible_duplicates_total",
    "Messages sent again because a previous try was left unrecorded (state SENDING found on "
    "redelivery): the customer may have received it twice.",
)
STORE_CONFIGS = Gauge("notifier_store_configs", "Store configurations known from stores.config.")
STORE_CONFIGS_UNREADABLE = Counter(
    "notifier_store_configs_unreadable_total",
    "Records of stores.config that could not be read and were skipped (the store keeps its "
    "previous or default configuration until a readable record replaces it).",
)
STORE_CONFIG_END_ASKS = Counter(
    "notifier_store_config_end_asks_total",
    "Times the store-config copy asked for the end of stores.config before an event (a "
    "ListOffsets request each); an event on the broker before an earlier ask needs none.",
)
DUPLICATES_AVOIDED = Counter(
    "notifier_duplicates_avoided_total",
    "Unfinished claims found on redelivery whose message Twilio already lists: recorded as "
    "sent, not sent again.",
)
WAITED = Counter(
    "notifier_waited_total",
    "Messages left waiting for the retry loop, by reason: Twilio unavailable, or queued behind "
    "an earlier waiting message of the same order.",
    ["reason"],
)
WAITING = Gauge("notifier_waiting_messages", "Messages waiting in the ledger to be sent.")
OLDEST_WAITING = Gauge(
    "notifier_oldest_waiting_seconds",
    "Age of the oldest message waiting in the ledger (0 when none waits).",
)
