"""The payment service's requests as Asaas wants them written, and Asaas's answers read back
(DESIGN.md section 6): billing types, customer fields, dates, refusals for balance."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from services.payment.domain import cents_to_reais
from services.payment.ports import Charge, ChargeRequest
from shared.contracts.payments import PaymentCustomer, PaymentInstructions
from shared.contracts.values import PaymentMethod
from shared.gateway import GatewayRefused

BILLING_TYPES = {
    PaymentMethod.PIX: "PIX",
    PaymentMethod.CREDIT: "CREDIT_CARD",
    PaymentMethod.DEBIT: "UNDEFINED",  # debit exists only on Asaas's hosted page
}
REFUNDING_STATUSES = frozenset({"REFUND_REQUESTED", "REFUND_IN_PROGRESS", "REFUNDED"})
BALANCE_WORDS = re.compile(r"saldo|balance|insufficient", re.IGNORECASE)


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def customer_reference(customer: PaymentCustomer) -> str:
    """The customer's `externalReference` (and `cpfCnpj`): the CPF's digits."""
    return digits(customer.cpf)


def customer_fields(customer: PaymentCustomer) -> dict[str, Any]:
    reference = customer_reference(customer)
    fields: dict[str, Any] = {
        "name": customer.name,
        "cpfCnpj": reference,
        "externalReference": reference,
        "notificationDisabled": True,
    }
    if customer.email:
        fields["email"] = customer.email
    if customer.phone_number.startswith("+55"):
        fields["mobilePhone"] = customer.phone_number[3:]
    return fields


def charge_fields(request: ChargeRequest) -> dict[str, Any]:
    return {
        "customer": request.customer_id,
        "billingType": BILLING_TYPES[request.method],
        "value": cents_to_reais(request.amount_cents),
        "dueDate": request.due_date.isoformat(),
        "description": request.description,
        "externalReference": request.reference,
    }


def charge_of(answer: dict[str, Any]) -> Charge:
    status = str(answer.get("status", ""))
    return Charge(
        charge_id=str(answer["id"]),
        status=status,
        deleted=bool(answer.get("deleted")),
        refund_under_way=status in REFUNDING_STATUSES,
        invoice_url=answer.get("invoiceUrl"),
        due_date=answer.get("dueDate"),
    )


def refused_for_balance(error: GatewayRefused) -> bool:
    return BALANCE_WORDS.search(f"{error.code} {error.description}") is not None


def local_moment(text: str | None, time_zone: str) -> datetime | None:
    """An Asaas local `YYYY-MM-DD[ HH:MM:SS]` as an aware UTC instant (None if unreadable)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace(" ", "T"))
    except ValueError:
        return None
    if len(str(text)) <= 10:
        moment = datetime.combine(moment.date(), time(23, 59, 59))
    return moment.replace(tzinfo=ZoneInfo(time_zone)).astimezone(ZoneInfo("UTC"))


def page_instructions(charge: Charge, time_zone: str) -> PaymentInstructions:
    """The hosted payment page, open until the charge's due date."""
    return PaymentInstructions(
        invoice_url=charge.invoice_url, expires_at=local_moment(charge.due_date, time_zone)
    )


def pix_instructions(
    qr_code: dict[str, Any], charge: Charge, time_zone: str
) -> PaymentInstructions:
    """The PIX code of a `pixQrCode` answer, open until its expiry (else the due date)."""
    expires_at = local_moment(qr_code.get("expirationDate"), time_zone)
    return PaymentInstructions(
        pix_payload=qr_code.get("payload"),
        pix_qr_code_image=qr_code.get("encodedImage"),
        expires_at=expires_at or local_moment(charge.due_date, time_zone),
    )
