"""The pure payment domain: Asaas event mapping, the state machine, centavos to reais."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from services.payment import domain
from services.payment.adapters.asaas_client import encode_json
from services.payment.domain import ChargeStatus, FactKind, InvalidTransition, Payment, Signal
from shared.contracts.values import PaymentMethod
from shared.decision import Decision

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def payment(status: ChargeStatus = ChargeStatus.PENDING, **changes: object) -> Payment:
    fields: dict[str, object] = {
        "order_id": "o-1",
        "client_id": "c-1",
        "store_id": "s-1",
        "method": PaymentMethod.PIX,
        "amount_cents": 4480,
        "status": status,
        "created_at": NOW,
        "payment_id": "pay_1",
    }
    return Payment(**(fields | changes))  # type: ignore[arg-type]


def kinds(facts: Sequence[domain.Fact]) -> list[FactKind]:
    return [fact.kind for fact in facts]


def run(start: Payment, *events: str) -> tuple[Payment, list[FactKind]]:
    current, seen = start, []
    for event in events:
        decision = domain.on_asaas_event(current, event, NOW)
        current = decision.state
        seen.extend(kinds(decision.events))
    return current, seen


@pytest.mark.parametrize(
    ("event", "signal"),
    [
        ("PAYMENT_CONFIRMED", Signal.PAID),
        ("PAYMENT_RECEIVED", Signal.PAID),
        ("PAYMENT_OVERDUE", Signal.FAILED),
        ("PAYMENT_CREDIT_CARD_CAPTURE_REFUSED", Signal.FAILED),
        ("PAYMENT_REPROVED_BY_RISK_ANALYSIS", Signal.FAILED),
        ("PAYMENT_DELETED", Signal.DELETED),
        ("PAYMENT_REFUND_IN_PROGRESS", Signal.REFUND_IN_PROGRESS),
        ("PAYMENT_REFUNDED", Signal.REFUNDED),
        ("PAYMENT_CHARGEBACK_REQUESTED", Signal.CHARGEBACK),
        ("PAYMENT_CHARGEBACK_DISPUTE", Signal.CHARGEBACK),
        ("PAYMENT_AWAITING_CHARGEBACK_REVERSAL", Signal.CHARGEBACK),
    ],
)
def test_each_asaas_event_maps_to_its_signal(event: str, signal: Signal) -> None:
    assert domain.signal_of(event) is signal


def test_events_that_change_nothing_map_to_no_signal_and_leave_the_payment_alone() -> None:
    assert domain.signal_of("PAYMENT_CREATED") is None
    assert domain.signal_of("PAYMENT_SOMETHING_NEW_FROM_ASAAS") is None
    assert run(payment(), "PAYMENT_CREATED", "PAYMENT_UPDATED") == (payment(), [])


def test_confirmed_then_received_pays_once() -> None:
    paid, facts = run(payment(), "PAYMENT_CONFIRMED", "PAYMENT_RECEIVED", "PAYMENT_CONFIRMED")
    assert paid.status is ChargeStatus.PAID
    assert paid.paid_at == NOW
    assert facts == [FactKind.SUCCEEDED]


def test_received_before_confirmed_counts_as_paid_and_the_late_confirmed_is_a_no_op() -> None:
    paid, facts = run(payment(), "PAYMENT_RECEIVED", "PAYMENT_CONFIRMED")
    assert paid.status is ChargeStatus.PAID
    assert facts == [FactKind.SUCCEEDED]


def test_overdue_after_paid_is_ignored() -> None:
    paid, facts = run(payment(), "PAYMENT_RECEIVED", "PAYMENT_OVERDUE", "PAYMENT_DELETED")
    assert paid.status is ChargeStatus.PAID
    assert facts == [FactKind.SUCCEEDED]


def test_overdue_fails_a_pending_payment_with_the_asaas_event_as_reason() -> None:
    failed = domain.on_asaas_event(payment(), "PAYMENT_OVERDUE", NOW)
    assert failed.state.status is ChargeStatus.FAILED
    facts = failed.events
    assert [(f.kind, f.asaas_event) for f in facts] == [(FactKind.FAILED, "PAYMENT_OVERDUE")]
    assert facts[0].detail


def test_money_arriving_after_the_charge_failed_or_was_deleted_still_counts_as_paid() -> None:
    for first in ("PAYMENT_OVERDUE", "PAYMENT_DELETED"):
        paid, facts = run(payment(), first, "PAYMENT_RECEIVED")
        assert paid.status is ChargeStatus.PAID
        assert facts[-1] is FactKind.SUCCEEDED


def test_refund_webhooks_move_a_paid_payment_to_refunded_announcing_the_refund_once() -> None:
    refunded, facts = run(
        payment(),
        "PAYMENT_RECEIVED",
        "PAYMENT_REFUND_IN_PROGRESS",
        "PAYMENT_REFUND_IN_PROGRESS",
        "PAYMENT_REFUNDED",
        "PAYMENT_REFUNDED",
        "PAYMENT_RECEIVED",
    )
    assert refunded.status is ChargeStatus.REFUNDED
    assert facts == [FactKind.SUCCEEDED, FactKind.REFUND_REQUESTED, FactKind.REFUNDED]


def test_a_refund_webhook_before_the_refund_call_returned_is_announced_once() -> None:
    asked = domain.refund_requested(payment(ChargeStatus.PAID))
    assert asked.changed
    assert asked.state.status is ChargeStatus.REFUND_PENDING
    early = domain.on_asaas_event(asked.state, "PAYMENT_REFUND_IN_PROGRESS", NOW)
    assert kinds(early.events) == [FactKind.REFUND_REQUESTED]
    accepted = domain.refund_accepted(early.state, NOW)
    assert accepted.unchanged
    assert accepted.state.refund_announced


def test_the_refund_call_announces_the_refund_when_no_webhook_did() -> None:
    asked = domain.refund_requested(payment(ChargeStatus.PAID)).state
    accepted = domain.refund_accepted(asked, NOW)
    assert kinds(accepted.events) == [FactKind.REFUND_REQUESTED]
    again = domain.on_asaas_event(accepted.state, "PAYMENT_REFUND_IN_PROGRESS", NOW)
    assert again.unchanged


def test_a_second_refund_request_starts_nothing_and_an_unpaid_payment_cannot_be_refunded() -> None:
    asked = domain.refund_requested(payment(ChargeStatus.PAID)).state
    assert domain.refund_requested(asked) == Decision(asked, changed=False)
    for status in (ChargeStatus.PENDING, ChargeStatus.FAILED, ChargeStatus.CANCELLED):
        with pytest.raises(InvalidTransition):
            domain.refund_requested(payment(status))


def test_exhausted_refund_retries_report_once_and_keep_the_payment_refund_pending() -> None:
    asked = domain.refund_requested(payment(ChargeStatus.PAID)).state
    gave_up = domain.refund_gave_up(asked, NOW, "invalid_action: saldo", 7)
    given_up = gave_up.state
    assert given_up.status is ChargeStatus.REFUND_PENDING
    assert [(f.kind, f.attempts) for f in gave_up.events] == [(FactKind.REFUND_FAILED, 7)]
    assert domain.refund_gave_up(given_up, NOW, "again", 8) == Decision(given_up, changed=False)
    retried = domain.refund_requested(given_up)
    assert retried.changed
    assert (retried.state.status, retried.state.refund_failed) == (
        ChargeStatus.REFUND_PENDING,
        False,
    )


def test_a_charge_its_order_cancelled_owes_a_refund_once_paid_whenever_the_money_comes() -> None:
    pending = domain.cancel_requested(payment(ChargeStatus.PENDING)).state
    paid = domain.cancel_requested(payment(ChargeStatus.PAID)).state

    assert (pending.unwanted, domain.refund_due(pending)) == (True, False)
    assert domain.refund_due(paid)
    late, facts = run(pending, "PAYMENT_RECEIVED")  # paid before Asaas could delete it
    assert (late.status, late.unwanted, facts) == (ChargeStatus.PAID, True, [FactKind.SUCCEEDED])
    assert domain.refund_due(late)
    refunding = domain.refund_requested(late).state
    assert not domain.refund_due(refunding)
    assert domain.cancel_requested(paid).unchanged
    assert not domain.refund_due(payment(ChargeStatus.PAID))  # its order still wants it


def test_a_deleted_pending_charge_is_cancelled_once() -> None:
    cancelled, facts = run(payment(), "PAYMENT_DELETED", "PAYMENT_DELETED", "PAYMENT_OVERDUE")
    assert cancelled.status is ChargeStatus.CANCELLED
    assert facts == [FactKind.CANCELLED]


def test_each_chargeback_event_is_reported_once_whatever_the_status() -> None:
    _, facts = run(
        payment(ChargeStatus.REFUNDED),
        "PAYMENT_CHARGEBACK_REQUESTED",
        "PAYMENT_CHARGEBACK_REQUESTED",
        "PAYMENT_CHARGEBACK_DISPUTE",
    )
    assert facts == [FactKind.CHARGEBACK, FactKind.CHARGEBACK]


def test_no_input_moves_a_paid_payment_backwards() -> None:
    forward = {
        ChargeStatus.PAID: {ChargeStatus.PAID, ChargeStatus.REFUND_PENDING, ChargeStatus.REFUNDED},
        ChargeStatus.REFUND_PENDING: {ChargeStatus.REFUND_PENDING, ChargeStatus.REFUNDED},
        ChargeStatus.REFUNDED: {ChargeStatus.REFUNDED},
    }
    for status, allowed in forward.items():
        for event in domain.WEBHOOK_SIGNALS:
            moved = domain.on_asaas_event(payment(status), event, NOW).state
            assert moved.status in allowed, (status, event)


def test_a_charge_is_created_once_and_a_failed_creation_may_be_retried() -> None:
    creating = payment(ChargeStatus.CREATING, payment_id=None)
    created = domain.created(creating, "pay_9")
    assert (created.status, created.payment_id) == (ChargeStatus.PENDING, "pay_9")
    with pytest.raises(InvalidTransition):
        domain.created(created, "pay_10")
    failed = domain.creation_failed(creating)
    assert domain.retry_creation(failed).status is ChargeStatus.CREATING


def test_statuses_read_back_from_asaas_stand_for_the_webhook_events() -> None:
    assert domain.event_for_status("RECEIVED") == "PAYMENT_RECEIVED"
    assert domain.event_for_status("CONFIRMED") == "PAYMENT_CONFIRMED"
    assert domain.event_for_status("OVERDUE") == "PAYMENT_OVERDUE"
    assert domain.event_for_status("REFUNDED") == "PAYMENT_REFUNDED"
    assert domain.event_for_status("PENDING") is None
    assert domain.event_for_status("PENDING", deleted=True) == "PAYMENT_DELETED"


@pytest.mark.parametrize(
    ("cents", "reais"),
    [
        (1, "0.01"),
        (10, "0.10"),
        (4480, "44.80"),
        (100, "1.00"),
        (123456789, "1234567.89"),
        (2**53 + 1, "90071992547409.93"),
    ],
)
def test_centavos_become_exact_reais_and_are_sent_as_exact_json_numbers(
    cents: int, reais: str
) -> None:
    value = domain.cents_to_reais(cents)
    assert value == Decimal(reais)
    assert str(value) == reais
    assert encode_json({"value": value}) == f'{{"value":{reais}}}'
    assert domain.reais_to_cents(value) == cents


def test_floats_are_refused_as_money() -> None:
    with pytest.raises(TypeError):
        domain.cents_to_reais(44.8)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_json({"value": 44.8})
    with pytest.raises(ValueError, match="centavos"):
        domain.reais_to_cents(Decimal("1.005"))


def test_the_due_date_is_the_store_local_date_never_before_brasilia_s() -> None:
    late_evening_in_sao_paulo = datetime(2026, 11, 30, 2, 30, tzinfo=UTC)  # 23:30 on the 29th
    assert domain.charge_due_date(late_evening_in_sao_paulo, "America/Sao_Paulo") == date(
        2026, 11, 29
    )
    just_after_midnight_in_brasilia = datetime(2026, 11, 30, 3, 30, tzinfo=UTC)
    assert domain.charge_due_date(just_after_midnight_in_brasilia, "America/Rio_Branco") == date(
        2026, 11, 30
    )
    assert domain.charge_due_date(just_after_midnight_in_brasilia, "America/Noronha") == date(
        2026, 11, 30
    )
