"""What the money audit counts as a finding, pure: each rule on a record that breaks it, on
the healthy records beside it, and at its time bound; and how a pass is reported."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.order import audit as order_audit
from services.order.domain.order import Order
from services.payment import audit as payment_audit
from services.payment.domain import ChargeStatus, Payment
from services.payment.ports import PaymentRecord, RefundState
from shared.audit import Finding, keep_auditing, report
from shared.contracts.values import OrderStatus, PaymentMethod, PaymentStatus
from shared.metrics import AUDIT_LAST_PASS
from tests.order.test_repositories import an_order
from tests.waiting import eventually

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
WINDOW_S = 3600.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def a_record(status: ChargeStatus, **changes: Any) -> PaymentRecord:
    payment = Payment(
        order_id="o-1",
        client_id="c-1",
        store_id="s-1",
        method=PaymentMethod.PIX,
        amount_cents=4480,
        status=status,
        created_at=T0,
        payment_id="pay_1",
    )
    return PaymentRecord(replace(payment, **changes), "turn-1", "cause-1", "America/Sao_Paulo")


def refunding(started_at: datetime, **changes: Any) -> PaymentRecord:
    record = a_record(ChargeStatus.REFUND_PENDING, **changes)
    return replace(record, refund=RefundState("turn-1", "cause-2", started_at))


# The payment service's rules


def test_a_refund_begun_longer_ago_than_its_window_is_stuck() -> None:
    record = refunding(started_at=at(600))

    assert payment_audit.refund_stuck(record, at(600 + WINDOW_S + 1), WINDOW_S)
    assert not payment_audit.refund_stuck(record, at(600 + WINDOW_S - 1), WINDOW_S)


def test_a_refund_given_up_is_stuck_at_once() -> None:
    record = refunding(started_at=at(0), refund_failed=True)

    assert payment_audit.refund_stuck(record, at(1), WINDOW_S)


def test_a_refund_asaas_began_on_its_own_counts_from_the_payment() -> None:
    record = a_record(ChargeStatus.REFUND_PENDING, paid_at=at(100))

    assert payment_audit.refund_stuck(record, at(100 + WINDOW_S + 1), WINDOW_S)
    assert not payment_audit.refund_stuck(record, at(100 + WINDOW_S - 1), WINDOW_S)


@pytest.mark.parametrize("status", [ChargeStatus.REFUNDED, ChargeStatus.PAID])
def test_a_payment_refunded_or_not_refunding_is_no_stuck_refund(status: ChargeStatus) -> None:
    assert not payment_audit.refund_stuck(a_record(status), at(10 * WINDOW_S), WINDOW_S)


def test_a_charge_pending_past_the_bound_is_reported_and_a_younger_one_is_not() -> None:
    record = a_record(ChargeStatus.PENDING)

    assert payment_audit.pending_too_long(record, at(WINDOW_S + 1), WINDOW_S)
    assert not payment_audit.pending_too_long(record, at(WINDOW_S - 1), WINDOW_S)


@pytest.mark.parametrize("status", [ChargeStatus.PAID, ChargeStatus.CANCELLED])
def test_a_charge_paid_or_deleted_is_not_pending_too_long(status: ChargeStatus) -> None:
    assert not payment_audit.pending_too_long(a_record(status), at(10 * WINDOW_S), WINDOW_S)


# The order service's rules


def an_online_order(status: OrderStatus, payment: PaymentStatus, **fields: Any) -> Order:
    return an_order(
        "o-1", method="PIX", status=status, payment_status=payment, updated_at=T0, **fields
    )


def test_a_cancelled_order_still_paid_past_the_grace_is_reported() -> None:
    order = an_online_order(OrderStatus.CANCELLED, PaymentStatus.PAID)

    assert order_audit.cancelled_but_paid(order, at(301), 300)
    assert not order_audit.cancelled_but_paid(order, at(299), 300)


@pytest.mark.parametrize("payment", [PaymentStatus.REFUND_PENDING, PaymentStatus.REFUNDED])
def test_a_cancelled_order_whose_refund_is_under_way_or_done_is_not_reported(
    payment: PaymentStatus,
) -> None:
    order = an_online_order(OrderStatus.CANCELLED, payment)

    assert not order_audit.cancelled_but_paid(order, at(3600), 300)


def test_a_paid_order_its_pos_never_got_is_reported_past_the_grace() -> None:
    order = an_online_order(OrderStatus.PENDING, PaymentStatus.PAID)

    assert order_audit.paid_not_released(order, at(301), 300)
    assert not order_audit.paid_not_released(order, at(299), 300)


def test_a_paid_order_released_to_its_pos_is_not_reported() -> None:
    order = an_online_order(OrderStatus.PENDING, PaymentStatus.PAID, released_to_pos_at=T0)

    assert not order_audit.paid_not_released(order, at(3600), 300)


def test_an_unpaid_or_cancelled_unreleased_order_is_not_paid_and_unreleased() -> None:
    unpaid = an_online_order(OrderStatus.PENDING, PaymentStatus.PENDING)
    cancelled = an_online_order(OrderStatus.CANCELLED, PaymentStatus.PAID)

    assert not order_audit.paid_not_released(unpaid, at(3600), 300)
    assert not order_audit.paid_not_released(cancelled, at(3600), 300)


def a_refund_asked_at_t0(**fields: Any) -> Order:
    """A cancelled order whose refund was asked for at T0 and never answered."""
    return an_online_order(
        OrderStatus.CANCELLED, PaymentStatus.REFUND_PENDING, refund_asked_at=T0, **fields
    )


def test_a_refund_unanswered_past_its_bound_since_the_last_ask_is_asked_again() -> None:
    order = a_refund_asked_at_t0()

    assert order_audit.refund_unanswered(order, at(901), 900)
    assert not order_audit.refund_unanswered(order, at(899), 900)
    asked_again = a_refund_asked_at_t0(refund_asked_again_at=at(901))
    assert not order_audit.refund_unanswered(asked_again, at(1799), 900)
    assert order_audit.refund_unanswered(asked_again, at(1802), 900)


def test_a_refund_unanswered_past_the_longer_bound_since_the_first_ask_is_reported() -> None:
    order = a_refund_asked_at_t0(refund_asked_again_at=at(WINDOW_S))

    assert order_audit.refund_never_answered(order, at(WINDOW_S + 1), WINDOW_S)
    assert not order_audit.refund_never_answered(order, at(WINDOW_S - 1), WINDOW_S)


@pytest.mark.parametrize(
    ("payment", "fields"),
    [
        (PaymentStatus.REFUND_PENDING, {"refund_asked_at": T0, "refund_answered_at": at(5)}),
        (PaymentStatus.REFUND_PENDING, {}),  # a refund begun on Asaas, or before orders noted it
        (PaymentStatus.REFUNDED, {"refund_asked_at": T0}),
    ],
)
def test_a_refund_answered_done_or_never_asked_by_the_order_is_not_unanswered(
    payment: PaymentStatus, fields: dict[str, Any]
) -> None:
    order = an_online_order(OrderStatus.CANCELLED, payment, **fields)

    assert not order_audit.refund_unanswered(order, at(10 * WINDOW_S), 900)
    assert not order_audit.refund_never_answered(order, at(10 * WINDOW_S), WINDOW_S)


# Reporting a pass


def sample(name: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(name, {"kind": kind})
    return 0.0 if value is None else value


def test_a_pass_sets_each_kind_to_what_it_found_and_counts_the_repairs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kinds = ("test_kind_a", "test_kind_b")
    repairs_before = sample("money_audit_repairs_total", "test_kind_a")

    report([Finding("test_kind_a", "o-1", repaired=True), Finding("test_kind_a", "o-2")], kinds)

    assert sample("money_audit_findings", "test_kind_a") == 2
    assert sample("money_audit_findings", "test_kind_b") == 0
    assert sample("money_audit_repairs_total", "test_kind_a") == repairs_before + 1
    assert "order o-1 test_kind_a; repaired" in caplog.text
    assert "order o-2 test_kind_a; someone must act" in caplog.text

    report([], kinds)

    assert sample("money_audit_findings", "test_kind_a") == 0


async def test_the_audit_loop_notes_when_a_pass_completes_and_not_when_one_fails() -> None:
    calls: list[int] = []
    release = asyncio.Event()

    async def audit() -> list[Finding]:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        await release.wait()
        return []

    AUDIT_LAST_PASS.set(0)
    loop = asyncio.create_task(keep_auditing(audit, (), interval_s=0.01))
    try:
        await eventually(lambda: len(calls) == 2, what="a second pass after the failed one")
        assert last_pass() == 0  # the failed pass left it
        released_at = time.time()
        release.set()
        await eventually(lambda: last_pass() >= released_at, what="the completed pass noted")
    finally:
        loop.cancel()


def last_pass() -> float:
    value = REGISTRY.get_sample_value("money_audit_last_pass_timestamp_seconds")
    assert value is not None
    return value
