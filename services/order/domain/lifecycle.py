"""The source design's order lifecycle: which status may follow which."""

from __future__ import annotations

from collections.abc import Mapping

from shared.contracts.values import OrderStatus

S = OrderStatus

TRANSITIONS: Mapping[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.CONFIRMED, S.CANCELLED, S.REFUNDED}),
    S.CONFIRMED: frozenset({S.PREPARING, S.CANCELLED, S.REFUNDED}),
    S.PREPARING: frozenset({S.READY, S.CANCELLED, S.REFUNDED}),
    S.READY: frozenset({S.DELIVERING, S.COMPLETED, S.CANCELLED, S.REFUNDED}),
    S.DELIVERING: frozenset({S.DELIVERED, S.CANCELLED, S.REFUNDED}),
    S.DELIVERED: frozenset({S.COMPLETED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset({S.REFUNDED}),
    S.REFUNDED: frozenset(),
}
"""Allowed next statuses of each status (source design, `_get_valid_status_transitions`)."""

KITCHEN_ORDER = (S.CONFIRMED, S.PREPARING, S.READY, S.DELIVERING, S.DELIVERED, S.COMPLETED)
"""The kitchen's progression; a POS update for a status already passed is a late duplicate."""

CLOSED = frozenset({S.CANCELLED, S.REFUNDED})
"""Statuses of an order that will not be prepared."""


def is_allowed(current: OrderStatus, wanted: OrderStatus) -> bool:
    """Whether the table lets an order go from `current` to `wanted`."""
    return wanted in TRANSITIONS[current]


def already_passed(current: OrderStatus, reported: OrderStatus) -> bool:
    """True when the kitchen reports a status the order has already reached or gone past."""
    if current not in KITCHEN_ORDER or reported not in KITCHEN_ORDER:
        return False
    return KITCHEN_ORDER.index(reported) <= KITCHEN_ORDER.index(current)
