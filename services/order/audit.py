"""The order service's money audit: orders cancelled but still PAID (their refund asked for
again) and orders paid but never released to their POS (reported)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from services.order.config import AuditSettings
from services.order.domain.order import Order
from services.order.ports import OrderQuery, OrderRepository
from services.order.service import OrderService
from shared.audit import Finding
from shared.contracts.values import OrderStatus, PaymentStatus

log = logging.getLogger(__name__)

CANCELLED_BUT_PAID = "cancelled_but_paid"
PAID_NOT_RELEASED = "paid_not_released"
KINDS = (CANCELLED_BUT_PAID, PAID_NOT_RELEASED)


def _quiet_for(order: Order, now: datetime, grace_s: float) -> bool:
    return (now - order.updated_at).total_seconds() > grace_s


def cancelled_but_paid(order: Order, now: datetime, grace_s: float) -> bool:
    """CANCELLED with its money still PAID (no refund pending or done) for longer than the grace."""
    stranded = order.status is OrderStatus.CANCELLED and order.payment_status is PaymentStatus.PAID
    return stranded and _quiet_for(order, now, grace_s)


def paid_not_released(order: Order, now: datetime, grace_s: float) -> bool:
    """PAID, not cancelled, and its POS never got it, for longer than the grace."""
    waiting = order.status is not OrderStatus.CANCELLED and not order.released
    return (
        order.payment_status is PaymentStatus.PAID and waiting and _quiet_for(order, now, grace_s)
    )


class OrderAudit:
    """One pass over the few orders each rule can match (indexed by payment status, status and
    creation)."""

    def __init__(
        self,
        orders: OrderRepository,
        service: OrderService,
        settings: AuditSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._orders = orders
        self._service = service
        self._settings = settings
        self._clock = clock

    async def run_pass(self) -> list[Finding]:
        now, grace_s = self._clock(), self._settings.grace_s
        findings = []
        for order in await self._paid(OrderStatus.CANCELLED, now):
            if cancelled_but_paid(order, now, grace_s):
                asked = await self._refund(order)
                findings.append(Finding(CANCELLED_BUT_PAID, order.order_id, asked))
        # A paid order not yet released is PENDING: released, it is PENDING or past it.
        for order in await self._paid(OrderStatus.PENDING, now):
            if paid_not_released(order, now, grace_s):
                findings.append(Finding(PAID_NOT_RELEASED, order.order_id))
        return findings

    async def _paid(self, status: OrderStatus, now: datetime) -> list[Order]:
        # Changed at or after creation: an order created within the grace cannot be reported.
        # ("", the smallest id, makes the cursor "created strictly before".)
        created_before = now - timedelta(seconds=self._settings.grace_s)
        query = OrderQuery(
            payment_status=PaymentStatus.PAID,
            status=status,
            limit=self._settings.batch,
            before=(created_before, ""),
        )
        return await self._orders.find(query)

    async def _refund(self, order: Order) -> bool:
        try:
            return await self._service.refund_stranded(order.order_id)
        except Exception:
            log.exception("money audit: asking the refund of order %s failed", order.order_id)
            return False
