"""How requests are written for Asaas and its answers read back: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from services.payment.adapters.asaas_requests import (
    charge_fields,
    charge_of,
    customer_fields,
    local_moment,
    page_instructions,
    pix_instructions,
    refused_for_balance,
)
from services.payment.ports import ChargeRequest
from shared.contracts.payments import PaymentCustomer
from shared.contracts.values import PaymentMethod
from shared.gateway import GatewayRefused


def test_a_customer_is_known_by_the_digits_of_the_cpf_and_asaas_sends_it_nothing() -> None:
    customer = PaymentCustomer(
        name="Ana", cpf="529.982.247-25", phone_number="+5511987654321", email="ana@example.com"
    )
    assert customer_fields(customer) == {
        "name": "Ana",
        "cpfCnpj": "52998224725",
        "externalReference": "52998224725",
        "notificationDisabled": True,
        "email": "ana@example.com",
        "mobilePhone": "11987654321",
    }


def test_a_charge_is_written_in_reais_with_the_billing_type_of_its_method() -> None:
    request = ChargeRequest(
        reference="o-1",
        customer_id="cus_1",
        method=PaymentMethod.DEBIT,
        amount_cents=4480,
        due_date=date(2026, 11, 29),
        description="Pedido",
    )
    assert charge_fields(request) == {
        "customer": "cus_1",
        "billingType": "UNDEFINED",
        "value": Decimal("44.80"),
        "dueDate": "2026-11-29",
        "description": "Pedido",
        "externalReference": "o-1",
    }


def test_a_charge_answer_says_whether_a_refund_is_under_way() -> None:
    assert charge_of({"id": "pay_1", "status": "REFUND_IN_PROGRESS"}).refund_under_way
    received = charge_of({"id": "pay_1", "status": "RECEIVED", "deleted": False, "x": 1})
    assert (received.status, received.refund_under_way, received.deleted) == (
        "RECEIVED",
        False,
        False,
    )


def test_only_a_refusal_that_speaks_of_balance_is_one_for_balance() -> None:
    def refusal(code: str, description: str) -> GatewayRefused:
        return GatewayRefused("Asaas", 400, code, description)

    assert refused_for_balance(refusal("invalid_action", "Saldo insuficiente para estorno"))
    assert refused_for_balance(refusal("insufficient_balance", ""))
    assert not refused_for_balance(refusal("invalid_action", "Cobrança já estornada"))


def test_asaas_local_dates_are_read_in_the_store_time_zone_a_bare_date_lasting_all_day() -> None:
    assert local_moment("2026-11-29", "America/Sao_Paulo") == datetime(
        2026, 11, 30, 2, 59, 59, tzinfo=UTC
    )
    assert local_moment("2026-11-29 10:30:00", "America/Sao_Paulo") == datetime(
        2026, 11, 29, 13, 30, tzinfo=UTC
    )
    assert local_moment("not a date", "America/Sao_Paulo") is None
    assert local_moment(None, "America/Sao_Paulo") is None


def test_the_pix_code_expires_when_asaas_says_else_with_the_charge() -> None:
    charge = charge_of({"id": "pay_1", "invoiceUrl": "https://x/i/1", "dueDate": "2026-11-29"})
    page = page_instructions(charge, "America/Sao_Paulo")
    assert (page.invoice_url, page.pix_payload) == ("https://x/i/1", None)
    pix = pix_instructions({"payload": "000201", "encodedImage": "iVBO"}, charge, "UTC")
    assert (pix.pix_payload, pix.pix_qr_code_image, pix.invoice_url) == ("000201", "iVBO", None)
    assert pix.expires_at == datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC)
