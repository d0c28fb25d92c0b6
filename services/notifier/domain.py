"""Which WhatsApp message each event sends, and its pt-BR text. Pure: no I/O, no clock.

The conversation of docs/DESIGN.md section 5: an online order is first told by its payment
instructions; status messages use the store's templates (`StoreOrderConfig.template_for`);
payment messages and rejections are always sent. Every message names the order `#<number>`.
"""

from __future__ import annotations

from dataclasses import replace

from services.notifier.messages import CustomerEvent, CustomerMessage, OrderSummary
from services.notifier.words import (
    APOLOGISED_FOR,
    APOLOGY,
    CARD_WORDS,
    METHOD_WORDS,
    PAYMENT_FAILURE_WORDS,
    STATUS_WORDS,
    UNKNOWN_CUSTOMER_NAME,
    UNKNOWN_STORE_NAME,
    cancellation_words,
    local_time,
    one_of,
    plain_text,
)
from shared.contracts.base import format_brl
from shared.contracts.limits import MAX_MESSAGE_LENGTH
from shared.contracts.orders import (
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PaymentInstructionsIssued,
)
from shared.contracts.stores import StoreOrderConfig, render_template
from shared.contracts.values import (
    PAYMENT_METHOD_CHANGED,
    DeliveryType,
    NotificationKind,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
)


def silenced(event: CustomerEvent, config: StoreOrderConfig) -> list[NotificationKind]:
    """The kinds of message `event` would send under another configuration of its store but not
    under `config`: a status without a template, a refund the REFUNDED status message tells."""
    match event:
        case OrderPlaced() | OrderStatusChanged():
            told = _status_told(event)
            silent = told is not None and config.template_for(*told) is None
            return [NotificationKind.ORDER_STATUS] if silent else []
        case OrderPaymentStatusChanged(to_status=PaymentStatus.REFUNDED) if (
            event.reason != PAYMENT_METHOD_CHANGED and _refund_told_by_its_status(config)
        ):
            return [NotificationKind.PAYMENT_REFUNDED]
    return []


def _status_told(
    event: OrderPlaced | OrderStatusChanged,
) -> tuple[OrderStatus, DeliveryType | None] | None:
    """The status (and delivery type) whose template tells `event`; None: no status message is
    due (a new order first told otherwise)."""
    if isinstance(event, OrderPlaced):
        if not _awaits_the_restaurant(event):
            return None
        return OrderStatus.PENDING, event.order.delivery_type
    return event.to_status, event.delivery_type


def _refund_told_by_its_status(config: StoreOrderConfig) -> bool:
    """Whether the store's REFUNDED status message tells a refund (then no refund message)."""
    return config.template_for(OrderStatus.REFUNDED) is not None


def messages_for(event: CustomerEvent, config: StoreOrderConfig) -> list[CustomerMessage]:
    """The messages `event` sends, given the store's configuration (empty: none is due), each
    from the store's own sender and with its own approved templates when it has them."""
    return [
        replace(message, sender=config.whatsapp_sender, store_templates=config.whatsapp_templates)
        for message in _messages(event, config)
    ]


def _messages(event: CustomerEvent, config: StoreOrderConfig) -> list[CustomerMessage]:
    match event:
        case OrderPlaced():
            return _status_message(event, config)
        case OrderStatusChanged():
            return _status_message(event, config)
        case PaymentInstructionsIssued():
            return _payment_instructions(event, config)
        case OrderPaymentStatusChanged():
            return _payment_status_message(event, config)
        case OrderRejected():
            return _rejection(event)
    return []


def _status_message(
    event: OrderPlaced | OrderStatusChanged, config: StoreOrderConfig
) -> list[CustomerMessage]:
    told = _status_told(event)
    if told is None:
        return []
    status, delivery_type = told
    if isinstance(event, OrderPlaced):
        order = event.order
        to = order.phone_number
        summary = OrderSummary(
            order.order_id,
            order.total_cents,
            order.customer_name,
            order.delivery_time,
            None,
            order.order_number,
        )
        extra = ""
    else:
        to = event.phone_number
        summary = OrderSummary(
            event.order_id,
            event.total_cents,
            event.customer_name,
            event.delivery_time,
            event.store_name,
            event.order_number,
        )
        extra = _cancellation(event) if status is OrderStatus.CANCELLED else ""
    template = config.template_for(status, delivery_type)
    if template is None:
        return []
    body = render_template(template, summary.placeholders(config)).strip()
    if extra:
        body = f"{body} {extra}"
    detail = STATUS_WORDS[status] + (f". {extra}" if extra else "")
    return [
        CustomerMessage(
            kind=NotificationKind.ORDER_STATUS,
            to=to,
            body=body,
            order_id=summary.order_id,
            template_keys=(
                f"{NotificationKind.ORDER_STATUS.value}:{status.value}",
                NotificationKind.ORDER_STATUS.value,
            ),
            template_variables=summary.variables(config, detail),
            status=status,
        )
    ]


def _awaits_the_restaurant(event: OrderPlaced) -> bool:
    """Whether a new order's first word is its PENDING message: a cash order the restaurant must
    confirm. An online order is first told by its payment instructions, and a cash order the
    store confirms itself by its CONFIRMED message, a moment later."""
    order = event.order
    return not order.payment_method.is_online and order.requires_confirmation


def _cancellation(event: OrderStatusChanged) -> str:
    """What follows "cancelled": why, an apology when the restaurant caused it, and the refund
    a paid order gets (its end is told by the REFUNDED message)."""
    parts = [cancellation_words(event.reason_code, event.reason)]
    if event.reason_code in APOLOGISED_FOR:
        parts.append(APOLOGY)
    if event.payment_status is PaymentStatus.PAID:
        parts.append(
            f"O valor de {format_brl(event.total_cents)} será reembolsado; avisaremos assim que "
            "o reembolso for concluído."
        )
    return " ".join(part for part in parts if part)


def _payment_instructions(
    event: PaymentInstructionsIssued, config: StoreOrderConfig
) -> list[CustomerMessage]:
    summary = OrderSummary(
        event.order_id, event.total_cents, event.customer_name, None, None, event.order_number
    )
    total = format_brl(event.total_cents)
    expiry = local_time(event.expires_at, config.time_zone) if event.expires_at else None
    # After a change of payment method the order was told received already.
    state = "foi recebido e está" if event.attempt == 1 else "continua"
    received = f"Seu pedido #{summary.number} {state} aguardando o pagamento."
    media_url = None
    if event.pix_payload:
        media_url = event.pix_qr_code_url
        scan = ", ou leia o QR code da imagem" if media_url else ""
        body = (
            f"{received} Para pagar {total} com PIX, copie o código abaixo e cole na opção "
            f"PIX Copia e Cola do app do seu banco{scan}."
            + (f" O código vale até {expiry}." if expiry else "")
            + f"\n\n{event.pix_payload}"
        )
        detail = event.pix_payload
    elif event.invoice_url:
        method = CARD_WORDS.get(event.payment_method, "cartão")
        body = f"{received} Para pagar {total} com {method}, acesse o link: {event.invoice_url}" + (
            f"\nO link vale até {expiry}." if expiry else ""
        )
        detail = event.invoice_url
    else:
        return []
    return [
        CustomerMessage(
            kind=NotificationKind.PAYMENT_INSTRUCTIONS,
            to=event.phone_number,
            body=body,
            order_id=event.order_id,
            template_keys=(NotificationKind.PAYMENT_INSTRUCTIONS.value,),
            template_variables=summary.variables(config, detail),
            media_url=media_url,
        )
    ]


def _payment_status_message(
    event: OrderPaymentStatusChanged, config: StoreOrderConfig
) -> list[CustomerMessage]:
    summary = OrderSummary(
        event.order_id, event.total_cents, event.customer_name, None, None, event.order_number
    )
    total = format_brl(event.total_cents)
    order = f"#{summary.number}"
    if event.reason == PAYMENT_METHOD_CHANGED:
        return _payment_method_changed(event, config, summary)
    if event.to_status is PaymentStatus.PAID:
        thanks = f"Obrigado, {event.customer_name}!" if event.customer_name else "Obrigado!"
        kind = NotificationKind.PAYMENT_CONFIRMED
        body = f"Recebemos o pagamento de {total} do pedido {order}. {thanks}"
        if _now_awaits_the_restaurant(event):
            body += " Agora o pedido está aguardando a confirmação do restaurante."
        detail = thanks
    elif event.to_status is PaymentStatus.FAILED:
        return _payment_failed(event, config, summary)
    elif event.to_status is PaymentStatus.REFUNDED:
        if _refund_told_by_its_status(config):
            return []  # the REFUNDED status message tells the customer
        kind = NotificationKind.PAYMENT_REFUNDED
        body = (
            f"O reembolso de {total} do pedido {order} foi concluído. O prazo para o valor "
            "aparecer na sua conta ou fatura depende do seu banco."
        )
        detail = ""
    else:
        return []
    return [_payment_message(kind, event, config, summary, body, detail)]


def _payment_failed(
    event: OrderPaymentStatusChanged, config: StoreOrderConfig, summary: OrderSummary
) -> list[CustomerMessage]:
    """The payment failed but the order is still open: why, and the store's other methods."""
    why = PAYMENT_FAILURE_WORDS.get(event.reason or "", "")
    others = [
        method for method in config.accepted_payment_methods if method != event.payment_method
    ]
    next_step = (
        f"O pedido continua aberto: você pode pagar com {one_of(others)}."
        if others
        else "Se ainda quiser o pedido, fale com a loja."
    )
    failed = (
        f"Não foi possível confirmar o pagamento de {format_brl(event.total_cents)} "
        f"do pedido #{summary.number}."
    )
    body = " ".join(part for part in (failed, why, next_step) if part)
    detail = f"{why} {next_step}".strip()
    return [_payment_message(NotificationKind.PAYMENT_FAILED, event, config, summary, body, detail)]


def _payment_method_changed(
    event: OrderPaymentStatusChanged, config: StoreOrderConfig, summary: OrderSummary
) -> list[CustomerMessage]:
    """The customer chose another method: cash is confirmed here (the order went to the store);
    an online method's instructions follow in their own message."""
    if event.to_status is not PaymentStatus.NOT_APPLICABLE:
        return []
    body = (
        f"Combinado! O pedido #{summary.number} ({format_brl(event.total_cents)}) será pago em "
        "dinheiro e já foi enviado para a loja."
    )
    kind = NotificationKind.PAYMENT_METHOD_CHANGED
    return [_payment_message(kind, event, config, summary, body, METHOD_WORDS[PaymentMethod.CASH])]


def _payment_message(
    kind: NotificationKind,
    event: OrderPaymentStatusChanged,
    config: StoreOrderConfig,
    summary: OrderSummary,
    body: str,
    detail: str,
) -> CustomerMessage:
    return CustomerMessage(
        kind=kind,
        to=event.phone_number,
        body=body,
        order_id=event.order_id,
        template_keys=(kind.value,),
        template_variables=summary.variables(config, detail),
    )


def _now_awaits_the_restaurant(event: OrderPaymentStatusChanged) -> bool:
    """Whether the order just paid goes on to wait for the restaurant's confirmation."""
    return bool(event.requires_confirmation) and event.order_status is OrderStatus.PENDING


def _rejection(event: OrderRejected) -> list[CustomerMessage]:
    if event.phone_number is None:
        return []
    name = event.customer_name or UNKNOWN_CUSTOMER_NAME
    message = plain_text(event.message, MAX_MESSAGE_LENGTH)
    return [
        CustomerMessage(
            kind=NotificationKind.ORDER_REJECTED,
            to=event.phone_number,
            body=message,
            order_id=event.order_id,
            template_keys=(NotificationKind.ORDER_REJECTED.value,),
            template_variables={
                "1": name,
                "2": str(event.order_number or event.order_id or "-"),
                "3": "-",
                "4": UNKNOWN_STORE_NAME,
                "5": message,
            },
        )
    ]
