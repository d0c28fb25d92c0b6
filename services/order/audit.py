"""The order service's money audit: orders cancelled but still PAID and refunds the payment
service never answered (asked for again, then reported), orders paid but never released to
their POS (reported)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
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
REFUND_UNANSWERED = "refund_unanswered"
REFUND_NEVER_ANSWERED = "refund_never_answered"
KINDS = (CANCELLED_BUT_PAID, PAID_NOT_RELEASED, REFUND_UNANSWERED, REFUND_NEVER_ANSWERED)


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


def refund_unanswered(order: Order, now: datetime, ask_again_s: float) -> bool:
    """A refund asked for and never answered, last asked longer than `ask_again_s` ago."""
    last_asked = order.refund_asked_again_at or order.refund_asked_at
    if not order.refund_unanswered or last_asked is None:
        return False
    return (now - last_asked).total_seconds() > ask_again_s


def refund_never_answered(order: Order, now: datetime, answer_max_s: float) -> bool:
    """A refund still unanswered longer than `answer_max_s` after the order first asked."""
    if not order.refund_unanswered or order.refund_asked_at is None:
        return False
    return (now - order.refund_asked_at).total_seconds() > answer_max_s


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
                asked = await self._ask(self._service.refund_stranded, order)
                findings.append(Finding(CANCELLED_BUT_PAID, order.order_id, asked))
        # A paid order not yet released is PENDING: released, it is PENDING or past it.
        for order in await self._paid(OrderStatus.PENDING, now):
            if paid_not_released(order, now, grace_s):
                findings.append(Finding(PAID_NOT_RELEASED, order.order_id))
        findings += await self._unanswered_refunds(now)
        return findings

    async def _unanswered_refunds(self, now: datetime) -> list[Finding]:
        """Asked again while younger than the answer's bound, reported past it."""
        settings, findings = self._settings, []
        # Asked at or after creation: an order created within the first bound cannot be due.
        refunding = await self._created_before(
            now, settings.refund_ask_again_s, PaymentStatus.REFUND_PENDING
        )
        for order in refunding:
            if refund_never_answered(order, now, settings.refund_answer_max_s):
                findings.append(Finding(REFUND_NEVER_ANSWERED, order.order_id))
            elif refund_unanswered(order, now, settings.refund_ask_again_s):
                asked = await self._ask(self._service.ask_refund_again, order)
                findings.append(Finding(REFUND_UNANSWERED, order.order_id, asked))
        return findings

    async def _paid(self, status: OrderStatus, now: datetime) -> list[Order]:
        # Changed at or after creation: an order created within the grace cannot be reported.
        return await self._created_before(now, self._settings.grace_s, PaymentStatus.PAID, status)

    async def _created_before(
        self,
        now: datetime,
        age_s: float,
        payment_status: PaymentStatus,
        status: OrderStatus | None = None,
    ) -> list[Order]:
        # ("", the smallest id, makes the cursor "created strictly before".)
        query = OrderQuery(
            payment_status=payment_status,
            status=status,
            limit=self._settings.batch,
            before=(now - timedelta(seconds=age_s), ""),
        )
        return await self._orders.find(query)

    @staticmethod
    async def _ask(ask: Callable[[str], Awaitable[bool]], order: Order) -> bool:
        try:
            return await ask(order.order_id)
        except Exception:
            log.exception("money audit: asking the refund of order %s failed", order.order_id)
            return False
