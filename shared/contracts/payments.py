"""Payment commands (`payments.commands`) and events (`payments.events`), amounts in centavos."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StrictInt, field_validator

from shared.contracts.base import (
    TYPE_NAME_DESCRIPTION,
    CamelModel,
    Cents,
    Envelope,
    Name,
    PhoneNumber,
    Reason,
    Reference,
    TimeZoneName,
    UtcDatetime,
    clipped,
)
from shared.contracts.limits import (
    MAX_CPF_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_PAYMENT_ATTEMPT,
    MAX_PIX_PAYLOAD_LENGTH,
    MAX_QR_IMAGE_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_URL_LENGTH,
)
from shared.contracts.values import PaymentMethod

ProviderCode = Annotated[str, clipped(MAX_REFERENCE_LENGTH)]
"""A code the payment provider gave (an error code, a webhook event), cut at 200 characters."""

ProviderText = Annotated[str, clipped(MAX_MESSAGE_LENGTH)]
"""An explanation built from what the payment provider said, cut at 1000 characters."""

Attempt = Annotated[StrictInt, Field(ge=1, le=MAX_PAYMENT_ATTEMPT)]
"""Which charge of an order: 1 for the first, one more after each change of payment method."""


class OfAttempt(CamelModel):
    """A payment message about one charge attempt of an order."""

    attempt: Attempt = Field(
        default=1,
        description="Which charge of the order this is about: 1 for the first, one more after "
        "each ChangePaymentMethod. Each attempt is its own Asaas charge (`externalReference` "
        "`<orderId>` for the first, `<orderId>:<attempt>` after); the order service ignores, "
        "refunds or deletes what concerns an attempt it no longer follows.",
    )


class PaymentInstructions(CamelModel):
    """How the customer pays an online charge: PIX code and QR image, or the hosted card page."""

    pix_payload: str | None = Field(
        default=None,
        max_length=MAX_PIX_PAYLOAD_LENGTH,
        description="PIX copy-and-paste code (Asaas `payload`); PIX only.",
    )
    pix_qr_code_image: str | None = Field(
        default=None,
        max_length=MAX_QR_IMAGE_LENGTH,
        description="PIX QR code as a base64-encoded PNG without a `data:` prefix (Asaas "
        "`encodedImage`); PIX only.",
    )
    pix_qr_code_url: str | None = Field(
        default=None,
        max_length=MAX_URL_LENGTH,
        description="Public HTTPS address of the PIX QR code as a PNG, served by the payment "
        "service at an unguessable path until the code expires (then 404); PIX only.",
    )
    invoice_url: str | None = Field(
        default=None,
        max_length=MAX_URL_LENGTH,
        description="Asaas hosted payment page (`invoiceUrl`); CREDIT and DEBIT.",
    )
    expires_at: UtcDatetime | None = Field(
        default=None, description="When the PIX code or the charge stops accepting payment (UTC)."
    )


class PaymentCustomer(CamelModel):
    """The payer as Asaas needs it (`cpfCnpj` is mandatory there)."""

    name: Name = Field(min_length=1, description="Customer's name.")
    cpf: str = Field(
        min_length=1,
        max_length=MAX_CPF_LENGTH,
        description="Customer's CPF (digits; check digits validated).",
    )
    email: str | None = Field(
        default=None, max_length=MAX_EMAIL_LENGTH, description="Customer's e-mail, if known."
    )
    phone_number: PhoneNumber = Field(description="Customer's WhatsApp number (E.164).")


# Commands


class RequestPayment(OfAttempt, Envelope):
    """Create an Asaas charge for an online order (one charge per order and attempt)."""

    event_type: Literal["RequestPayment"] = Field(
        default="RequestPayment", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(
        description="The order to charge (Asaas `externalReference`, with the attempt after the "
        "first)."
    )
    payment_method: PaymentMethod = Field(description="PIX, CREDIT or DEBIT; never CASH.")
    amount_cents: Cents = Field(gt=0, description="Amount to charge, in centavos.")
    customer: PaymentCustomer = Field(description="The payer.")
    description: str = Field(
        max_length=MAX_DESCRIPTION_LENGTH,
        description="Charge description shown to the payer, e.g. `Pedido #...`.",
    )
    time_zone: TimeZoneName = Field(
        description="The store's IANA time zone; Asaas due dates are store-local dates."
    )
    due_date: date | None = Field(
        default=None,
        description="Store-local due date of the charge; null means today in `timeZone`.",
    )

    @field_validator("payment_method")
    @classmethod
    def _online_only(cls, method: PaymentMethod) -> PaymentMethod:
        if not method.is_online:
            raise ValueError(f"{method} is not charged online")
        return method


class CancelPayment(OfAttempt, Envelope):
    """Delete the pending (unpaid) charge of an order on Asaas."""

    event_type: Literal["CancelPayment"] = Field(
        default="CancelPayment", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order whose pending charge is deleted.")
    payment_id: Reference | None = Field(
        default=None, description="Asaas payment id, if the order service knows it."
    )


class RequestRefund(OfAttempt, Envelope):
    """Refund the full paid amount of an order."""

    event_type: Literal["RequestRefund"] = Field(
        default="RequestRefund", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order to refund.")
    payment_id: Reference | None = Field(
        default=None, description="Asaas payment id, if the order service knows it."
    )
    reason: Reason = Field(description="Why the money goes back, e.g. `CONFIRMATION_TIMEOUT`.")


# Events


class PaymentCreated(OfAttempt, Envelope):
    """An Asaas charge exists for the order; the customer can now pay."""

    event_type: Literal["PaymentCreated"] = Field(
        default="PaymentCreated", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order charged.")
    payment_id: Reference = Field(description="Asaas payment id.")
    method: PaymentMethod = Field(description="The payment method charged.")
    amount_cents: Cents = Field(description="Amount charged, in centavos.")
    instructions: PaymentInstructions = Field(description="How the customer pays.")


class PaymentCreationFailed(OfAttempt, Envelope):
    """No charge could be created for the order."""

    event_type: Literal["PaymentCreationFailed"] = Field(
        default="PaymentCreationFailed", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order that could not be charged.")
    reason_code: ProviderCode = Field(
        description="Machine-readable cause: the Asaas error code (e.g. `invalid_cpfCnpj`) or "
        "`CREDENTIALS_MISSING`, `PROVIDER_UNAVAILABLE`, `CANCELLED_BEFORE_CREATION` (the order "
        "cancelled the charge before it was made)."
    )
    message: ProviderText = Field(description="Human-readable explanation.")
    retryable: bool = Field(
        description="True if the failure was transient (retries exhausted); false if final."
    )


class PaymentSucceeded(OfAttempt, Envelope):
    """The customer paid (Asaas `PAYMENT_CONFIRMED`)."""

    event_type: Literal["PaymentSucceeded"] = Field(
        default="PaymentSucceeded", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order paid.")
    payment_id: Reference = Field(description="Asaas payment id.")
    amount_cents: Cents = Field(description="Amount paid, in centavos.")
    paid_at: UtcDatetime = Field(description="When the payment was confirmed (UTC).")


class PaymentFailed(OfAttempt, Envelope):
    """The charge will not be paid (overdue, card refused, refused by risk analysis)."""

    event_type: Literal["PaymentFailed"] = Field(
        default="PaymentFailed", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order whose payment failed.")
    payment_id: Reference = Field(description="Asaas payment id.")
    reason: ProviderCode = Field(description="The Asaas webhook event, e.g. `PAYMENT_OVERDUE`.")
    message: ProviderText = Field(description="Human-readable explanation.")


class PaymentCancelled(OfAttempt, Envelope):
    """The pending charge was deleted (Asaas `PAYMENT_DELETED`)."""

    event_type: Literal["PaymentCancelled"] = Field(
        default="PaymentCancelled", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order whose charge was deleted.")
    payment_id: Reference = Field(description="Asaas payment id.")


class RefundRequested(OfAttempt, Envelope):
    """Asaas accepted a refund request; the money is on its way back (REFUND_PENDING)."""

    event_type: Literal["RefundRequested"] = Field(
        default="RefundRequested", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order being refunded.")
    payment_id: Reference = Field(description="Asaas payment id.")
    amount_cents: Cents = Field(description="Amount being refunded, in centavos.")


class PaymentRefunded(OfAttempt, Envelope):
    """The refund is complete (Asaas `PAYMENT_REFUNDED`)."""

    event_type: Literal["PaymentRefunded"] = Field(
        default="PaymentRefunded", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order refunded.")
    payment_id: Reference = Field(description="Asaas payment id.")
    amount_cents: Cents = Field(description="Amount refunded, in centavos.")
    refunded_at: UtcDatetime = Field(description="When Asaas confirmed the refund (UTC).")


class RefundFailed(OfAttempt, Envelope):
    """Refund retries are exhausted; the order stays REFUND_PENDING and someone must act."""

    event_type: Literal["RefundFailed"] = Field(
        default="RefundFailed", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order that could not be refunded.")
    payment_id: Reference = Field(description="Asaas payment id.")
    reason: ProviderText = Field(
        description="The last error, e.g. Asaas's error code and description."
    )
    attempts: int = Field(ge=1, description="How many refund attempts were made.")


class PaymentChargebackReported(OfAttempt, Envelope):
    """Asaas reported a chargeback or dispute on a payment: an alert for a human."""

    event_type: Literal["PaymentChargebackReported"] = Field(
        default="PaymentChargebackReported", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference = Field(description="The order whose payment is disputed.")
    payment_id: Reference = Field(description="Asaas payment id.")
    asaas_event: ProviderCode = Field(
        description="The Asaas webhook event, e.g. `PAYMENT_CHARGEBACK_REQUESTED`."
    )
