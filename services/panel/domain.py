"""What a store's board shows: columns by status, each order as a card, and the buttons it offers.

Pure: orders come in as snapshots, refusals as the POS topic's answers. The lifecycle itself is
the order service's: the panel offers the kitchen's forward moves and the order service judges
each one, answering a refused move with `PosUpdateRejected`, which the card then shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from shared.contracts.base import format_brl
from shared.contracts.order_data import Address, OrderSnapshot
from shared.contracts.pos import PosUpdateRejected
from shared.contracts.values import (
    DeliveryType,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    PosStatus,
    ReasonCode,
)

S = OrderStatus

STATUS_LABELS: Mapping[OrderStatus, str] = {
    S.PENDING: "Aguardando confirmação",
    S.CONFIRMED: "Confirmado",
    S.PREPARING: "Em preparo",
    S.READY: "Pronto",
    S.DELIVERING: "Saiu para entrega",
    S.DELIVERED: "Entregue",
    S.COMPLETED: "Concluído",
    S.CANCELLED: "Cancelado",
    S.REFUNDED: "Reembolsado",
}
PAYMENT_METHOD_LABELS: Mapping[PaymentMethod, str] = {
    PaymentMethod.PIX: "PIX",
    PaymentMethod.CREDIT: "Cartão de crédito",
    PaymentMethod.DEBIT: "Cartão de débito",
    PaymentMethod.CASH: "Dinheiro na entrega",
}
PAYMENT_STATUS_LABELS: Mapping[PaymentStatus, str] = {
    PaymentStatus.NOT_APPLICABLE: "cobrar na entrega",
    PaymentStatus.PENDING: "aguardando pagamento",
    PaymentStatus.PAID: "pago",
    PaymentStatus.FAILED: "pagamento recusado",
    PaymentStatus.REFUND_PENDING: "reembolso em andamento",
    PaymentStatus.REFUNDED: "reembolsado",
    PaymentStatus.CANCELLED: "cobrança cancelada",
}
REFUSAL_LABELS: Mapping[str, str] = {
    ReasonCode.TRANSITION_NOT_ALLOWED: "Mudança não permitida",
    ReasonCode.ORDER_NOT_FOUND: "O pedido ainda não chegou à cozinha",
    ReasonCode.WRONG_STORE: "O pedido é de outra loja",
    ReasonCode.MALFORMED_UPDATE: "Atualização ilegível",
}

KITCHEN = (S.CONFIRMED, S.PREPARING, S.READY, S.DELIVERING, S.DELIVERED, S.COMPLETED)
"""The kitchen's progression, in order."""
CANCELLABLE = frozenset({S.PENDING, S.CONFIRMED, S.PREPARING, S.READY, S.DELIVERING})
"""Statuses whose order the restaurant may still refuse or cancel."""
DELIVERY_ONLY = frozenset({S.DELIVERING, S.DELIVERED})
MAX_ORDER_NUMBER_DIGITS = 8
"""A search of at most this many digits is an order number; a phone has at least ten."""


@dataclass(frozen=True)
class Column:
    """One column of the board: its title and the statuses whose orders it holds."""

    key: str
    title: str
    statuses: tuple[OrderStatus, ...]
    finished: bool = False


COLUMNS = (
    Column("novos", "Novos", (S.PENDING,)),
    Column("confirmados", "Confirmados", (S.CONFIRMED,)),
    Column("preparo", "Em preparo", (S.PREPARING,)),
    Column("prontos", "Prontos", (S.READY,)),
    Column("entrega", "Saiu para entrega", (S.DELIVERING,)),
    Column("finalizados", "Finalizados", (S.DELIVERED, S.COMPLETED), finished=True),
    Column("cancelados", "Cancelados", (S.CANCELLED, S.REFUNDED), finished=True),
)


@dataclass(frozen=True)
class Item:
    quantity: int
    name: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    notes: str | None


@dataclass(frozen=True)
class StatusChoice:
    status: PosStatus
    label: str


@dataclass(frozen=True)
class Card:
    """One order as the kitchen sees it."""

    order_id: str
    number: str
    first_name: str
    status: OrderStatus
    status_label: str
    items: tuple[Item, ...]
    delivery: str
    address: str | None
    notes: str | None
    payment: str
    total: str
    confirm_by: str | None
    awaiting_payment: bool
    can_confirm: bool
    can_cancel: bool
    next_statuses: tuple[StatusChoice, ...]
    refusal: str | None = None


@dataclass
class Board:
    """The columns of a store, each with its cards, newest first."""

    columns: list[tuple[Column, list[Card]]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(cards) for _, cards in self.columns)


def first_name(name: str) -> str:
    """The customer's first name, as a card greets them."""
    return name.strip().split()[0] if name.strip() else ""


def address_line(address: Address | None) -> str | None:
    """`Rua X, 12 - apto 3 - Bairro - Cidade/UF (ref.: ...)`, or None when nothing is known."""
    if address is None:
        return None
    street = ", ".join(part for part in (address.street, address.number) if part)
    city = "/".join(part for part in (address.city, address.state) if part)
    line = " - ".join(
        part for part in (street, address.complement, address.neighborhood, city) if part
    )
    if address.reference:
        line += f" (ref.: {address.reference})"
    return line or None


def awaiting_payment(order: OrderSnapshot) -> bool:
    """An online order not paid yet: the kitchen has not received it and cannot act on it."""
    return order.payment_method.is_online and order.payment_status is PaymentStatus.PENDING


def next_statuses(order: OrderSnapshot) -> tuple[StatusChoice, ...]:
    """The kitchen statuses after the order's, the natural next first; a pickup skips delivery."""
    if order.status not in KITCHEN:
        return ()
    later = KITCHEN[KITCHEN.index(order.status) + 1 :]
    if order.delivery_type is DeliveryType.PICKUP:
        later = tuple(status for status in later if status not in DELIVERY_ONLY)
    return tuple(StatusChoice(PosStatus(status.value), STATUS_LABELS[status]) for status in later)


def refusal_text(refusal: PosUpdateRejected) -> str:
    """A refused update in the kitchen's words: why, and the order's status when known."""
    text = REFUSAL_LABELS.get(refusal.reason, f"Atualização recusada ({refusal.reason})")
    if refusal.current_status is not None:
        text += f": o pedido está {STATUS_LABELS[refusal.current_status].lower()}"
    return text + "."


def card(order: OrderSnapshot, refusal: PosUpdateRejected | None = None) -> Card:
    """The card of `order`; a refusal is shown while the order is still where it was refused."""
    unpaid = awaiting_payment(order)
    pending = order.status is S.PENDING and not unpaid
    shown = refusal if refusal and refusal.current_status in (None, order.status) else None
    method = PAYMENT_METHOD_LABELS[order.payment_method]
    return Card(
        order_id=order.order_id,
        number=f"#{order.order_number}" if order.order_number else order.order_id[:8],
        first_name=first_name(order.customer_name),
        status=order.status,
        status_label=STATUS_LABELS[order.status],
        items=tuple(
            Item(
                item.quantity,
                item.name,
                tuple(item.customizations.adicionar),
                tuple(item.customizations.remover),
                item.notes,
            )
            for item in order.items
        ),
        delivery="Entrega" if order.delivery_type is DeliveryType.DELIVERY else "Retirada",
        address=address_line(order.delivery_address),
        notes=order.customer_notes,
        payment=f"{method} · {PAYMENT_STATUS_LABELS[order.payment_status]}",
        total=format_brl(order.total_cents),
        confirm_by=(
            order.confirmation_timeout.isoformat()
            if pending and order.confirmation_timeout
            else None
        ),
        awaiting_payment=unpaid,
        can_confirm=pending,
        can_cancel=order.status in CANCELLABLE and not unpaid,
        next_statuses=next_statuses(order),
        refusal=refusal_text(shown) if shown else None,
    )


def board(
    orders: Iterable[OrderSnapshot], refusals: Mapping[str, PosUpdateRejected] | None = None
) -> Board:
    """The store's board: every order in the column of its status, newest first, each once."""
    seen: set[str] = set()
    by_status: dict[OrderStatus, list[OrderSnapshot]] = {}
    for order in sorted(orders, key=lambda found: found.created_at, reverse=True):
        if order.order_id not in seen:
            seen.add(order.order_id)
            by_status.setdefault(order.status, []).append(order)
    refused = refusals or {}
    return Board(
        [
            (
                column,
                [
                    card(order, refused.get(order.order_id))
                    for status in column.statuses
                    for order in by_status.get(status, [])
                ],
            )
            for column in COLUMNS
        ]
    )


@dataclass(frozen=True)
class StatusTotal:
    status_label: str
    count: int
    total: str


def totals_by_status(orders: Sequence[OrderSnapshot]) -> list[StatusTotal]:
    """How many orders and how much money per status, in lifecycle order."""
    counts: dict[OrderStatus, tuple[int, int]] = {}
    for order in orders:
        count, cents = counts.get(order.status, (0, 0))
        counts[order.status] = (count + 1, cents + order.total_cents)
    return [
        StatusTotal(STATUS_LABELS[status], *(counts[status][0], format_brl(counts[status][1])))
        for status in OrderStatus
        if status in counts
    ]


@dataclass(frozen=True)
class Search:
    """What the history was asked for: an order number (`#12`, `12`) or a customer's phone."""

    number: int | None = None
    phone: str | None = None


def search_of(text: str) -> Search:
    """`#12` or `12` is an order number; a phone is E.164, a Brazilian number (DDD and 8 or 9
    digits) gets +55; anything else finds nothing."""
    wanted = text.strip()
    digits = "".join(character for character in wanted if character.isdigit())
    if wanted.lstrip("#").isdigit() and len(digits) <= MAX_ORDER_NUMBER_DIGITS:
        return Search(number=int(digits))
    if not digits:
        return Search()
    if not wanted.startswith("+") and len(digits) in (10, 11):
        digits = "55" + digits
    return Search(phone=f"+{digits}")
