"""The checks a `PlaceOrder` must pass (DESIGN.md section 5.1), each with its reason code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from validate_docbr import CPF

from shared.contracts.base import format_brl
from shared.contracts.limits import MAX_ORDER_TOTAL_CENTS
from shared.contracts.orders import PlaceOrder
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import DeliveryType, ReasonCode
from shared.topics import TopicNameError, pos_orders_topic

_CPF = CPF()


@dataclass(frozen=True)
class Rejection:
    """Why a command is refused: a reason code and a pt-BR message fit for the customer."""

    reason_code: ReasonCode
    message: str


def subtotal_cents(command: PlaceOrder) -> int:
    """The sum of `quantity x unitPrice` over the items, recomputed in centavos."""
    return sum(item.quantity * item.unit_price_cents for item in command.items)


def is_valid_cpf(cpf: str) -> bool:
    """Whether `cpf` has 11 digits (punctuation allowed) and correct check digits."""
    return _CPF.validate(cpf)


def rejection_of(command: PlaceOrder, config: StoreOrderConfig, now: datetime) -> Rejection | None:
    """The first rule `command` breaks under the store's `config` at `now`, or None."""
    try:
        pos_orders_topic(command.client_id, command.store_id)
    except TopicNameError as error:
        return Rejection(ReasonCode.UNKNOWN_STORE, f"Loja desconhecida: {error}.")
    if command.delivery.type is DeliveryType.DELIVERY and command.delivery.address is None:
        return Rejection(
            ReasonCode.INVALID_DELIVERY, "Informe o endereço de entrega para pedidos com entrega."
        )
    if config.operating_hours_check and not config.is_open_at(now):
        return Rejection(ReasonCode.STORE_CLOSED, "A loja está fechada neste momento.")
    if command.payment_method not in config.accepted_payment_methods:
        accepted = ", ".join(config.accepted_payment_methods)
        return Rejection(
            ReasonCode.PAYMENT_METHOD_NOT_ACCEPTED,
            f"A loja não aceita {command.payment_method}; formas aceitas: {accepted}.",
        )
    subtotal = subtotal_cents(command)
    if subtotal == 0:
        return Rejection(ReasonCode.INVALID_ITEMS, "O valor dos itens deve ser maior que zero.")
    if subtotal + command.delivery.fee_cents > MAX_ORDER_TOTAL_CENTS:
        return Rejection(
            ReasonCode.LIMIT_EXCEEDED,
            f"O pedido passa do valor máximo de {format_brl(MAX_ORDER_TOTAL_CENTS)}.",
        )
    if subtotal < config.minimum_order_value_cents:
        return Rejection(
            ReasonCode.BELOW_MINIMUM_ORDER_VALUE,
            f"O pedido mínimo é {format_brl(config.minimum_order_value_cents)}; "
            f"o subtotal é {format_brl(subtotal)}.",
        )
    if command.payment_method.is_online:
        if not command.customer.cpf:
            return Rejection(ReasonCode.CPF_REQUIRED, "Informe o CPF para pagar online.")
        if not is_valid_cpf(command.customer.cpf):
            return Rejection(ReasonCode.INVALID_CPF, "O CPF informado não é válido.")
    return None
