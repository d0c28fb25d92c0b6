"""Prometheus metrics of the order service (the shared consumer and outbox count the rest)."""

from prometheus_client import Counter

ORDERS_PLACED = Counter(
    "order_orders_placed_total", "Orders created, by payment method", ["method"]
)
COMMANDS_REJECTED = Counter(
    "order_commands_rejected_total", "Commands refused, by type and reason", ["command", "reason"]
)
DUPLICATE_COMMANDS = Counter(
    "order_duplicate_commands_total", "PlaceOrder commands whose commandId had an order already"
)
POS_UPDATES_REFUSED = Counter(
    "order_pos_updates_refused_total",
    "POS updates refused and answered with PosUpdateRejected, by reason",
    ["reason"],
)
MESSAGES_DECIDED = Counter(
    "order_messages_decided_total", "Messages published by order decisions, by type", ["type"]
)
ORDERS_ENTERING = Counter(
    "order_status_entered_total",
    "Orders that entered a status (placed orders enter PENDING), by status",
    ["status"],
)
ALERTS = Counter("order_alerts_total", "Conditions someone must act on (chargebacks)", ["kind"])
