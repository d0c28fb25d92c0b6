"""The customer's conversation, story by story: the one table that the end-to-end test plays and
asserts, and that docs/notifications.md shows (a test fails when the page's copy differs).

Texts are written out as the customer reads them. `{number}` is the order's number, `{expiry}`
when its payment stops being accepted (store time), `{pix_code}` its PIX copy-and-paste code and
`{link}` its card payment page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo


class Ending(StrEnum):
    """How a story ends."""

    SERVED = "served"
    UNPAID = "not paid in time"
    NEVER_ANSWERED = "the restaurant never answers"
    REJECTED = "the restaurant rejects it"
    PAID_BY_CARD_INSTEAD = "the PIX payment fails, paid by card instead"
    PAID_IN_CASH_INSTEAD = "the PIX payment fails, paid in cash instead"


REJECTION_REASON = "Acabou o pão de hambúrguer"
"""What the restaurant says when it rejects an order in these stories."""

PIX = (
    "Seu pedido #{number} foi recebido e está aguardando o pagamento. Para pagar R$ 44,80 com "
    "PIX, copie o código abaixo e cole na opção PIX Copia e Cola do app do seu banco, ou leia o "
    "QR code da imagem. O código vale até {expiry}.\n\n{pix_code}"
)
CARD = (
    "Seu pedido #{number} foi recebido e está aguardando o pagamento. Para pagar R$ 44,80 com "
    "cartão de crédito, acesse o link: {link}\nO link vale até {expiry}."
)
CARD_INSTEAD = (
    "Seu pedido #{number} continua aguardando o pagamento. Para pagar R$ 44,80 com cartão de "
    "crédito, acesse o link: {link}\nO link vale até {expiry}."
)
AWAITING_RESTAURANT = (
    "Seu pedido #{number} foi recebido e está aguardando confirmação do restaurante."
)
PAID = "Recebemos o pagamento de R$ 44,80 do pedido #{number}. Obrigado, Ana!"
PAID_AWAITING_RESTAURANT = (
    "Recebemos o pagamento de R$ 44,80 do pedido #{number}. Obrigado, Ana! Agora o pedido está "
    "aguardando a confirmação do restaurante."
)
CONFIRMED = "Seu pedido #{number} foi confirmado! Estamos preparando tudo com muito carinho."
PREPARING = "Seu pedido #{number} está sendo preparado. Logo estará pronto!"
DELIVERED_TO_THE_DOOR = (
    "Seu pedido #{number} está pronto! Em breve sairá para entrega.",
    "Seu pedido #{number} saiu para entrega e chegará em aproximadamente 25 minutos.",
    "Seu pedido #{number} foi entregue. Bom apetite!",
    "Seu pedido #{number} foi concluído. Obrigado pela preferência!",
)
PICKED_UP = (
    "Seu pedido #{number} está pronto para retirada! Pode vir buscar.",
    "Seu pedido #{number} foi concluído. Obrigado pela preferência!",
)
UNPAID = "Seu pedido #{number} foi cancelado. O pagamento não foi recebido dentro do prazo."
NEVER_ANSWERED = (
    "Seu pedido #{number} foi cancelado. O restaurante não pôde confirmar seu pedido no "
    "momento. Pedimos desculpas pelo inconveniente."
)
REJECTED = (
    "Seu pedido #{number} foi cancelado. O restaurante não pôde aceitar o pedido. "
    f"Motivo: {REJECTION_REASON}. Pedimos desculpas pelo inconveniente."
)
REFUND_COMING = (
    " O valor de R$ 44,80 será reembolsado; avisaremos assim que o reembolso for concluído."
)
REFUNDED = (
    "O reembolso de R$ 44,80 do pedido #{number} foi concluído. O prazo para o valor aparecer "
    "na sua conta ou fatura depende do seu banco."
)
PAYMENT_FAILED = (
    "Não foi possível confirmar o pagamento de R$ 44,80 do pedido #{number}. A cobrança venceu "
    "sem ser paga. O pedido continua aberto: você pode pagar com cartão de crédito, cartão de "
    "débito ou dinheiro."
)
PAID_IN_CASH = (
    "Combinado! O pedido #{number} (R$ 44,80) será pago em dinheiro e já foi enviado para a loja."
)


@dataclass(frozen=True)
class Story:
    """One order's way through the system, and every WhatsApp message its customer reads."""

    name: str
    method: str
    """PIX, CREDIT or CASH."""
    delivery: str
    """DELIVERY or PICKUP."""
    restaurant_confirms: bool
    """The store's `requiresConfirmation`."""
    ending: Ending
    messages: tuple[str, ...]

    @property
    def title(self) -> str:
        method = {"PIX": "PIX", "CREDIT": "Card", "CASH": "Cash"}[self.method]
        who = "the restaurant must confirm" if self.restaurant_confirms else "confirmed at once"
        return f"{method}, {self.delivery.lower()}, {who}: {self.ending.value}"


STORIES = (
    Story(
        "pix-delivery-paid",
        "PIX",
        "DELIVERY",
        False,
        Ending.SERVED,
        (PIX, PAID, CONFIRMED, PREPARING, *DELIVERED_TO_THE_DOOR),
    ),
    Story(
        "pix-pickup-confirmed-paid",
        "PIX",
        "PICKUP",
        True,
        Ending.SERVED,
        (PIX, PAID_AWAITING_RESTAURANT, CONFIRMED, PREPARING, *PICKED_UP),
    ),
    Story(
        "card-delivery-confirmed-paid",
        "CREDIT",
        "DELIVERY",
        True,
        Ending.SERVED,
        (CARD, PAID_AWAITING_RESTAURANT, CONFIRMED, PREPARING, *DELIVERED_TO_THE_DOOR),
    ),
    Story(
        "card-pickup-paid",
        "CREDIT",
        "PICKUP",
        False,
        Ending.SERVED,
        (CARD, PAID, CONFIRMED, PREPARING, *PICKED_UP),
    ),
    Story(
        "cash-delivery-confirmed",
        "CASH",
        "DELIVERY",
        True,
        Ending.SERVED,
        (AWAITING_RESTAURANT, CONFIRMED, PREPARING, *DELIVERED_TO_THE_DOOR),
    ),
    Story(
        "cash-pickup",
        "CASH",
        "PICKUP",
        False,
        Ending.SERVED,
        (CONFIRMED, PREPARING, *PICKED_UP),
    ),
    Story("pix-unpaid", "PIX", "DELIVERY", True, Ending.UNPAID, (PIX, UNPAID)),
    Story("card-unpaid", "CREDIT", "PICKUP", False, Ending.UNPAID, (CARD, UNPAID)),
    Story(
        "pix-never-answered",
        "PIX",
        "PICKUP",
        True,
        Ending.NEVER_ANSWERED,
        (PIX, PAID_AWAITING_RESTAURANT, NEVER_ANSWERED + REFUND_COMING, REFUNDED),
    ),
    Story(
        "card-never-answered",
        "CREDIT",
        "DELIVERY",
        True,
        Ending.NEVER_ANSWERED,
        (CARD, PAID_AWAITING_RESTAURANT, NEVER_ANSWERED + REFUND_COMING, REFUNDED),
    ),
    Story(
        "cash-never-answered",
        "CASH",
        "DELIVERY",
        True,
        Ending.NEVER_ANSWERED,
        (AWAITING_RESTAURANT, NEVER_ANSWERED),
    ),
    Story(
        "pix-rejected",
        "PIX",
        "DELIVERY",
        True,
        Ending.REJECTED,
        (PIX, PAID_AWAITING_RESTAURANT, REJECTED + REFUND_COMING, REFUNDED),
    ),
    Story(
        "cash-rejected",
        "CASH",
        "PICKUP",
        True,
        Ending.REJECTED,
        (AWAITING_RESTAURANT, REJECTED),
    ),
    Story(
        "pix-failed-then-card",
        "PIX",
        "DELIVERY",
        False,
        Ending.PAID_BY_CARD_INSTEAD,
        (PIX, PAYMENT_FAILED, CARD_INSTEAD, PAID, CONFIRMED, PREPARING, *DELIVERED_TO_THE_DOOR),
    ),
    Story(
        "pix-failed-then-cash",
        "PIX",
        "PICKUP",
        True,
        Ending.PAID_IN_CASH_INSTEAD,
        (PIX, PAYMENT_FAILED, PAID_IN_CASH, CONFIRMED, PREPARING, *PICKED_UP),
    ),
)
SWITCHED_TO = {Ending.PAID_BY_CARD_INSTEAD: "CREDIT", Ending.PAID_IN_CASH_INSTEAD: "CASH"}
"""The method a story's customer switches to after the PIX payment failed."""

SHOWN = {
    "number": "7",
    "expiry": "06/12/2026 às 18:45",
    "pix_code": "00020101021226820014br.gov.bcb.pix…",
    "link": "https://www.asaas.com/i/…",
}
"""Example values docs/notifications.md shows in place of each order's own."""


def told(text: str, order: Mapping[str, Any], details: Mapping[str, Any] | None = None) -> str:
    """`text` as the customer of `order` (its API document) reads it, paying with `details` (the
    order's own payment instructions unless given)."""
    details = details or order.get("paymentDetails") or {}
    expires = details.get("expiresAt")
    expiry = ""
    if expires:
        local = datetime.fromisoformat(expires).astimezone(ZoneInfo("America/Sao_Paulo"))
        expiry = f"{local:%d/%m/%Y} às {local:%H:%M}"
    return text.format(
        number=order["orderNumber"],
        expiry=expiry,
        pix_code=details.get("pixPayload"),
        link=details.get("invoiceUrl"),
    )


TABLE_START = "<!-- stories: generated from tests/system/stories.py -->"
TABLE_END = "<!-- end of stories -->"


def shown_table() -> str:
    """The table of stories docs/notifications.md shows, between its markers."""
    rows = [
        "| Story | What the customer reads on WhatsApp, in order |",
        "|---|---|",
    ]
    for story in STORIES:
        messages = "<br>".join(
            f"{position}. {_shown(text)}" for position, text in enumerate(story.messages, start=1)
        )
        rows.append(f"| {story.title} | {messages} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


def _shown(text: str) -> str:
    shown = " ".join(text.format(**SHOWN).split()).replace("|", "\\|")
    if text == PIX:
        shown += " *(with the QR code image)*"
    return shown
