"""The panel's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PANEL_ACTIONS = Counter(
    "panel_actions_total",
    "Updates the panel published for a store, by action and outcome (taken, refused, unanswered).",
    ["action", "outcome"],
)
PANEL_STREAMS = Gauge("panel_live_streams", "Browsers following a store's board right now.")
PANEL_FEEDS = Gauge("panel_store_feeds", "Stores whose POS topic this replica is reading.")
PANEL_SIGN_INS = Counter(
    "panel_sign_ins_total", "Sign-in attempts, by outcome (accepted, refused).", ["outcome"]
)
