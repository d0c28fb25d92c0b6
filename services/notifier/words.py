"""The pt-BR words of the customer's messages, and others' words made plain text for WhatsApp.
Pure: no I/O, no clock."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.contracts.values import OrderStatus, PaymentMethod, ReasonCode

UNKNOWN_DELIVERY_TIME = "alguns minutos"
UNKNOWN_STORE_NAME = "o restaurante"
UNKNOWN_CUSTOMER_NAME = "cliente"

SHOWN_REASON_LENGTH = 300
"""The most of a restaurant's reason a customer reads; longer is cut with `…`."""
WHATSAPP_MARKUP = frozenset("*_~`")
"""WhatsApp's formatting characters: a restaurant's words are shown as written, not styled."""
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co"})  # control, format (bidi), surrogate, private
_ZERO_WIDTH_JOINER = "\u200d"  # a format character that holds emoji sequences together

STATUS_WORDS: Mapping[OrderStatus, str] = {
    OrderStatus.PENDING: "recebido",
    OrderStatus.CONFIRMED: "confirmado",
    OrderStatus.PREPARING: "em preparo",
    OrderStatus.READY: "pronto",
    OrderStatus.DELIVERING: "saiu para entrega",
    OrderStatus.DELIVERED: "entregue",
    OrderStatus.COMPLETED: "concluído",
    OrderStatus.CANCELLED: "cancelado",
    OrderStatus.REFUNDED: "cancelado e reembolsado",
}
"""A status in words, for approved templates' variables."""

CANCELLATION_WORDS: Mapping[ReasonCode, str] = {
    ReasonCode.CONFIRMATION_TIMEOUT: "O restaurante não pôde confirmar seu pedido no momento.",
    ReasonCode.PAYMENT_TIMEOUT: "O pagamento não foi recebido dentro do prazo.",
    ReasonCode.PAYMENT_FAILED: "O pagamento não foi aprovado.",
    ReasonCode.PAYMENT_CREATION_FAILED: "Não foi possível gerar a cobrança do pagamento.",
    ReasonCode.CUSTOMER_CANCELLED: "O pedido foi cancelado a seu pedido.",
    ReasonCode.RESTAURANT_REJECTED: "O restaurante não pôde aceitar o pedido.",
}
"""Why an order was cancelled, told to the customer."""

APOLOGY = "Pedimos desculpas pelo inconveniente."
APOLOGISED_FOR = frozenset({ReasonCode.CONFIRMATION_TIMEOUT, ReasonCode.RESTAURANT_REJECTED})
"""Cancellations the customer did not cause on the payment side: the restaurant's."""

PAYMENT_FAILURE_WORDS: Mapping[str, str] = {
    "PAYMENT_OVERDUE": "A cobrança venceu sem ser paga.",
    "PAYMENT_CREDIT_CARD_CAPTURE_REFUSED": "O cartão foi recusado.",
    "PAYMENT_REPROVED_BY_RISK_ANALYSIS": "O pagamento não foi aprovado na análise de risco.",
}
"""Why a payment failed (the Asaas webhook event), told to the customer."""

CARD_WORDS: Mapping[PaymentMethod, str] = {
    PaymentMethod.CREDIT: "cartão de crédito",
    PaymentMethod.DEBIT: "cartão de débito",
    PaymentMethod.PIX: "PIX",
}
METHOD_WORDS: Mapping[PaymentMethod, str] = {**CARD_WORDS, PaymentMethod.CASH: "dinheiro"}
"""A payment method in words, as the customer reads it."""


def plain_text(text: str | None, limit: int) -> str:
    """Someone else's words (a POS's reason or delivery time) as a customer may read them: no
    control or invisible characters, no WhatsApp markup, one line, at most `limit` characters."""
    if not text:
        return ""
    shown = "".join(" " if char.isspace() else char for char in text if _shown(char))
    line = " ".join(shown.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _shown(char: str) -> bool:
    if char.isspace() or char == _ZERO_WIDTH_JOINER:
        return True
    return char not in WHATSAPP_MARKUP and unicodedata.category(char) not in _HIDDEN


def cancellation_words(reason_code: ReasonCode | None, reason: str | None) -> str:
    """Why an order was cancelled, in pt-BR; empty when nothing is known."""
    code, words = reason_code, reason
    if words is not None and words in ReasonCode.__members__:
        code, words = code or ReasonCode(words), None  # a bare reason code, not words
    parts = [CANCELLATION_WORDS[code]] if code is not None and code in CANCELLATION_WORDS else []
    shown = plain_text(words, SHOWN_REASON_LENGTH).rstrip(".")
    if shown:
        parts.append(f"Motivo: {shown}.")
    return " ".join(parts)


def local_time(moment: datetime, time_zone: str) -> str:
    """`29/11/2026 às 14:30` in the store's time zone."""
    local = moment.astimezone(ZoneInfo(time_zone))
    return f"{local:%d/%m/%Y} às {local:%H:%M}"


def one_of(methods: list[PaymentMethod]) -> str:
    """`PIX, cartão de crédito ou dinheiro`."""
    words = [METHOD_WORDS[method] for method in methods]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} ou {words[-1]}"
