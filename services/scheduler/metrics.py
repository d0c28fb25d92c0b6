"""The scheduler's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TIMERS_SCHEDULED = Counter("timers_scheduled_total", "Timers set or moved by ScheduleTimer.")
TIMERS_CANCELLED = Counter("timers_cancelled_total", "Pending timers removed by CancelTimer.")
TIMERS_FIRED = Counter("timers_fired_total", "TimerFired events published.")
TIMERS_RECONCILED = Counter(
    "timers_reconciled_total",
    "Pending timers a reconciling pass found missing from this replica's view.",
)
TIMER_LATENESS = Histogram(
    "timer_lateness_seconds",
    "How long after its due time a timer fired.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
