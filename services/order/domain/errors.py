"""The one error family of the order domain: illegal moves and references to the wrong order."""

from __future__ import annotations

from shared.contracts.values import OrderStatus


class OrderError(Exception):
    """A command or update the order cannot accept as it is."""


class InvalidTransition(OrderError):
    """The lifecycle table does not allow this status change."""

    def __init__(self, order_id: str, current: OrderStatus, wanted: OrderStatus) -> None:
        super().__init__(f"order {order_id}: {current} -> {wanted} is not an allowed transition")
        self.current = current
        self.wanted = wanted


class OrderNotFound(OrderError):
    """No order has this id (or it belongs to another store)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


class NotReleased(OrderError):
    """A POS update names an order its POS never received (an unpaid online order)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} was never sent to the POS")


class WrongStore(OrderError):
    """A POS update names an order of another store than the topic it came on."""

    def __init__(self, order_id: str, topic_store: tuple[str, str]) -> None:
        super().__init__(
            f"order {order_id} does not belong to store {topic_store[0]}/{topic_store[1]}, "
            "the store of the topic this update came on"
        )


class ConcurrencyConflict(OrderError):
    """The order changed between reading and writing it; load it again and retry."""

    def __init__(self, order_id: str, expected_version: int) -> None:
        super().__init__(f"order {order_id} is no longer at version {expected_version}")
