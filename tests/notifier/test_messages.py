"""Which message each event sends, and its pt-BR text (pure domain, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain import messages_for, silenced
from services.notifier.late_messages import outside_free_form_window, supersedes
from services.notifier.messages import CustomerEvent, CustomerMessage
from services.notifier.words import SHOWN_REASON_LENGTH, UNKNOWN_DELIVERY_TIME
from shared.contracts.base import format_brl
from shared.contracts.limits import MAX_DELIVERY_TIME_LENGTH
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import (
    DeliveryType,
    NotificationKind,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    ReasonCode,
)
from tests.builders import PHONE
from tests.notifier.events import (
    INVOICE_URL,
    instructions,
    order_placed,
    payment_status_changed,
    rejected,
    status_changed,
)

DEFAULTS = StoreOrderConfig.default_for("rest-1", "store-1")


def only(messages: list[CustomerMessage]) -> CustomerMessage:
    assert len(messages) == 1, messages
    return messages[0]


AS_THE_CUSTOMER_READS = {
    OrderStatus.PENDING: (
        "Seu pedido #42 foi recebido e está aguardando confirmação do restaurante."
    ),
    OrderStatus.CONFIRMED: (
        "Seu pedido #42 foi confirmado! Estamos preparando tudo com muito carinho."
    ),
    OrderStatus.PREPARING: "Seu pedido #42 está sendo preparado. Logo estará pronto!",
    OrderStatus.READY: "Seu pedido #42 está pronto! Em breve sairá para entrega.",
    OrderStatus.DELIVERING: (
        "Seu pedido #42 saiu para entrega e chegará em aproximadamente 30 minutos."
    ),
    OrderStatus.DELIVERED: "Seu pedido #42 foi entregue. Bom apetite!",
    OrderStatus.COMPLETED: "Seu pedido #42 foi concluído. Obrigado pela preferência!",
    OrderStatus.CANCELLED: "Seu pedido #42 foi cancelado.",
    OrderStatus.REFUNDED: (
        "O reembolso de R$ 44,80 do pedido #42 foi concluído. O prazo para o valor aparecer "
        "na sua conta ou fatura depende do seu banco."
    ),
}
"""The source design's pt-BR texts (section 5.2) naming the order by its number, written out as
WhatsApp shows them; REFUNDED follows a cancellation that said the refund was coming."""

PICKUP_READS = {
    OrderStatus.READY: "Seu pedido #42 está pronto para retirada! Pode vir buscar.",
    OrderStatus.DELIVERED: "Seu pedido #42 foi retirado. Bom apetite!",
}


@pytest.mark.parametrize("status", list(OrderStatus))
def test_each_status_renders_its_default_pt_br_template(status: OrderStatus) -> None:
    event = status_changed(
        "ord-42", status, delivery_time="30 minutos", total_cents=4480, order_number=42
    )

    message = only(messages_for(event, DEFAULTS))

    assert message.body == AS_THE_CUSTOMER_READS[status]
    assert message.kind is NotificationKind.ORDER_STATUS
    assert message.to == PHONE
    assert message.order_id == "ord-42"


@pytest.mark.parametrize("status", list(OrderStatus))
def test_a_pickup_order_is_told_it_can_be_picked_up_and_never_that_it_leaves_for_delivery(
    status: OrderStatus,
) -> None:
    event = status_changed(
        "ord-42",
        status,
        delivery_time="30 minutos",
        order_number=42,
        delivery_type=DeliveryType.PICKUP,
    )

    bodies = [message.body for message in messages_for(event, DEFAULTS)]

    if status is OrderStatus.DELIVERING:
        assert bodies == []
    else:
        assert bodies == [PICKUP_READS.get(status, AS_THE_CUSTOMER_READS[status])]
    assert not any("entrega" in body for body in bodies)


def test_a_stores_own_pickup_template_replaces_the_default_for_pickup_orders_only() -> None:
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        pickup_notification_templates={OrderStatus.READY: "#{order_number}: retire no balcão"},
    )
    pickup = status_changed(
        "o", OrderStatus.READY, order_number=7, delivery_type=DeliveryType.PICKUP
    )
    delivery = status_changed("o", OrderStatus.READY, order_number=7)

    assert only(messages_for(pickup, config)).body == "#7: retire no balcão"
    assert only(messages_for(delivery, config)).body == (
        "Seu pedido #7 está pronto! Em breve sairá para entrega."
    )


@pytest.mark.parametrize("status", list(OrderStatus))
def test_each_status_renders_the_stores_custom_template(status: OrderStatus) -> None:
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        store_name="Cantina da Nona",
        notification_templates={
            status: f"{status.value}: {{customer_name}}, pedido {{order_id}} de {{total}} "
            "({store_name}, {delivery_time})"
        },
    )
    event = status_changed("ord-7", status, delivery_time="20 min", total_cents=123450)

    message = only(messages_for(event, config))

    assert message.body == (
        f"{status.value}: Maria, pedido ord-7 de R$ 1.234,50 (Cantina da Nona, 20 min)"
    )


def test_a_cash_order_the_restaurant_must_confirm_is_told_it_awaits_the_restaurant() -> None:
    message = only(messages_for(order_placed("ord-1", order_number=3), DEFAULTS))

    assert message.kind is NotificationKind.ORDER_STATUS
    assert message.body == (
        "Seu pedido #3 foi recebido e está aguardando confirmação do restaurante."
    )


@pytest.mark.parametrize(
    ("method", "requires_confirmation"),
    [
        (PaymentMethod.PIX, True),
        (PaymentMethod.CREDIT, False),
        (PaymentMethod.DEBIT, True),
        (PaymentMethod.CASH, False),
    ],
)
def test_other_orders_are_first_told_by_their_payment_instructions_or_their_confirmation(
    method: PaymentMethod, requires_confirmation: bool
) -> None:
    event = order_placed("ord-1", method=method, requires_confirmation=requires_confirmation)

    assert messages_for(event, DEFAULTS) == []


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (0, "R$ 0,00"),
        (5, "R$ 0,05"),
        (4480, "R$ 44,80"),
        (123450, "R$ 1.234,50"),
        (123456789, "R$ 1.234.567,89"),
    ],
)
def test_money_renders_as_brazilian_reais_from_integer_centavos(cents: int, shown: str) -> None:
    assert format_brl(cents) == shown
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        notification_templates={OrderStatus.CONFIRMED: "Total: {total}"},
    )
    event = status_changed("o", OrderStatus.CONFIRMED, total_cents=cents)
    assert only(messages_for(event, config)).body == f"Total: {shown}"


def test_missing_facts_get_words_instead_of_raw_placeholders() -> None:
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        notification_templates={
            OrderStatus.DELIVERING: "{store_name}: chega em {delivery_time}, {customer_name}"
        },
    )
    event = status_changed("o", OrderStatus.DELIVERING, delivery_time=None)

    body = only(messages_for(event, config)).body

    assert "{" not in body
    assert body == "o restaurante: chega em alguns minutos, Maria"


def test_a_template_may_name_the_order_number_and_an_order_without_one_shows_its_id() -> None:
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        notification_templates={OrderStatus.READY: "Pedido #{order_number} pronto"},
    )
    numbered = status_changed("ord-9", OrderStatus.READY, order_number=12)
    assert only(messages_for(numbered, config)).body == "Pedido #12 pronto"
    older = status_changed("ord-9", OrderStatus.READY)
    assert only(messages_for(older, config)).body == "Pedido #ord-9 pronto"


def test_the_event_store_name_is_used_when_the_config_has_none() -> None:
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        notification_templates={OrderStatus.READY: "{store_name}"},
    )
    event = status_changed("o", OrderStatus.READY, store_name="Pizzaria Bella")
    assert only(messages_for(event, config)).body == "Pizzaria Bella"


def test_a_store_with_notifications_off_gets_no_status_messages_but_payment_ones() -> None:
    quiet = StoreOrderConfig(
        client_id="rest-1", store_id="store-1", notify_customer_on_status_change=False
    )

    for status in OrderStatus:
        assert messages_for(status_changed("o", status), quiet) == []
    assert messages_for(order_placed("o"), quiet) == []
    assert only(messages_for(instructions("o", PaymentMethod.PIX), quiet))
    assert only(messages_for(payment_status_changed("o", PaymentStatus.PAID), quiet))
    assert only(messages_for(rejected(), quiet))


def test_an_empty_template_sends_nothing_for_that_status_only() -> None:
    config = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        notification_templates={OrderStatus.PREPARING: ""},
    )
    assert messages_for(status_changed("o", OrderStatus.PREPARING), config) == []
    assert only(messages_for(status_changed("o", OrderStatus.READY), config))


def test_pix_instructions_say_the_order_awaits_payment_with_the_qr_image_and_the_code() -> None:
    config = StoreOrderConfig(client_id="rest-1", store_id="store-1", time_zone="America/Manaus")
    expires = datetime(2026, 11, 29, 18, 30, tzinfo=UTC)  # 14:30 in Manaus (UTC-4)
    event = instructions(
        "ord-9",
        PaymentMethod.PIX,
        total_cents=123450,
        expires_at=expires,
        order_number=9,
        qr_code_url="https://pay.example.com/pix/abc.png",
    )

    message = only(messages_for(event, config))

    assert message.kind is NotificationKind.PAYMENT_INSTRUCTIONS
    assert message.body == (
        "Seu pedido #9 foi recebido e está aguardando o pagamento. Para pagar R$ 1.234,50 com "
        "PIX, copie o código abaixo e cole na opção PIX Copia e Cola do app do seu banco, ou "
        "leia o QR code da imagem. O código vale até 29/11/2026 às 14:30.\n\n"
        "00020126580014BR.GOV.BCB.PIX0136pix-key-123"
    )
    assert message.media_url == "https://pay.example.com/pix/abc.png"
    assert message.template_variables["5"] == event.pix_payload


def test_pix_instructions_without_an_image_speak_of_the_code_only() -> None:
    event = instructions("ord-9", PaymentMethod.PIX, order_number=9)

    message = only(messages_for(event, DEFAULTS))

    assert message.media_url is None
    assert "QR code" not in message.body
    assert "app do seu banco. O código vale até" in message.body


@pytest.mark.parametrize(
    ("method", "words"),
    [(PaymentMethod.CREDIT, "cartão de crédito"), (PaymentMethod.DEBIT, "cartão de débito")],
)
def test_card_instructions_carry_the_payment_page_link(method: PaymentMethod, words: str) -> None:
    expires = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)  # 20:59 in São Paulo
    event = instructions("ord-3", method, total_cents=4480, expires_at=expires, order_number=3)

    message = only(messages_for(event, DEFAULTS))

    assert message.body == (
        f"Seu pedido #3 foi recebido e está aguardando o pagamento. Para pagar R$ 44,80 com "
        f"{words}, acesse o link: {INVOICE_URL}\n"
        "O link vale até 29/11/2026 às 20:59."
    )
    assert message.media_url is None


def test_payment_confirmed_thanks_the_customer_with_the_total() -> None:
    event = payment_status_changed("o1", PaymentStatus.PAID, order_number=5)

    message = only(messages_for(event, DEFAULTS))

    assert message.kind is NotificationKind.PAYMENT_CONFIRMED
    assert message.body == "Recebemos o pagamento de R$ 44,80 do pedido #5. Obrigado, Maria!"


def test_a_paid_order_the_restaurant_must_confirm_is_told_it_now_awaits_the_restaurant() -> None:
    event = payment_status_changed(
        "o1", PaymentStatus.PAID, order_number=5, requires_confirmation=True
    )

    assert only(messages_for(event, DEFAULTS)).body == (
        "Recebemos o pagamento de R$ 44,80 do pedido #5. Obrigado, Maria! Agora o pedido está "
        "aguardando a confirmação do restaurante."
    )


def test_a_payment_after_the_order_was_cancelled_does_not_say_it_awaits_the_restaurant() -> None:
    event = payment_status_changed(
        "o1",
        PaymentStatus.PAID,
        order_number=5,
        requires_confirmation=True,
        order_status=OrderStatus.CANCELLED,
    )

    assert "aguardando" not in only(messages_for(event, DEFAULTS)).body


def test_a_failed_payment_says_why_and_offers_the_stores_other_methods() -> None:
    event = payment_status_changed(
        "o1", PaymentStatus.FAILED, reason="PAYMENT_CREDIT_CARD_CAPTURE_REFUSED",
        payment_method=PaymentMethod.CREDIT, order_number=12,
    )  # fmt: skip

    message = only(messages_for(event, DEFAULTS))

    assert message.kind is NotificationKind.PAYMENT_FAILED
    assert message.body == (
        "Não foi possível confirmar o pagamento de R$ 44,80 do pedido #12. O cartão foi "
        "recusado. O pedido continua aberto: você pode pagar com PIX, cartão de débito ou "
        "dinheiro."
    )


@pytest.mark.parametrize(
    ("accepted", "next_step"),
    [
        (["CASH", "PIX"], "O pedido continua aberto: você pode pagar com dinheiro."),
        (["PIX"], "Se ainda quiser o pedido, fale com a loja."),
    ],
)
def test_a_failed_payment_offers_only_what_the_store_accepts_besides_the_failed_method(
    accepted: list[str], next_step: str
) -> None:
    store = StoreOrderConfig(
        client_id="rest-1", store_id="store-1", accepted_payment_methods=accepted
    )
    event = payment_status_changed(
        "o1", PaymentStatus.FAILED, reason="PAYMENT_OVERDUE", payment_method=PaymentMethod.PIX,
        order_number=3,
    )  # fmt: skip

    assert only(messages_for(event, store)).body == (
        "Não foi possível confirmar o pagamento de R$ 44,80 do pedido #3. A cobrança venceu "
        f"sem ser paga. {next_step}"
    )


def test_a_switch_to_cash_tells_the_customer_the_order_went_to_the_store() -> None:
    event = payment_status_changed(
        "o1", PaymentStatus.NOT_APPLICABLE, reason="PAYMENT_METHOD_CHANGED",
        from_status=PaymentStatus.FAILED, payment_method=PaymentMethod.CASH, order_number=12,
    )  # fmt: skip

    message = only(messages_for(event, DEFAULTS))

    assert message.kind is NotificationKind.PAYMENT_METHOD_CHANGED
    assert message.body == (
        "Combinado! O pedido #12 (R$ 44,80) será pago em dinheiro e já foi enviado para a loja."
    )


def test_a_switch_to_an_online_method_waits_for_its_own_instructions() -> None:
    event = payment_status_changed(
        "o1", PaymentStatus.PENDING, reason="PAYMENT_METHOD_CHANGED",
        from_status=PaymentStatus.FAILED, payment_method=PaymentMethod.CREDIT, order_number=12,
    )  # fmt: skip
    assert messages_for(event, DEFAULTS) == []


def test_instructions_after_a_switch_say_the_order_still_awaits_payment() -> None:
    expires = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)  # 20:59 in São Paulo
    event = instructions(
        "ord-4", PaymentMethod.CREDIT, total_cents=4480, expires_at=expires, order_number=4
    ).model_copy(update={"attempt": 2})

    message = only(messages_for(event, DEFAULTS))

    assert message.body == (
        "Seu pedido #4 continua aguardando o pagamento. Para pagar R$ 44,80 com cartão de "
        f"crédito, acesse o link: {INVOICE_URL}\nO link vale até 29/11/2026 às 20:59."
    )


def test_a_refund_is_told_by_the_refunded_status_message_when_the_store_sends_one() -> None:
    refunded = payment_status_changed("o1", PaymentStatus.REFUNDED, order_number=8)
    assert messages_for(refunded, DEFAULTS) == []

    silent_refund = StoreOrderConfig(
        client_id="rest-1",
        store_id="store-1",
        notification_templates={OrderStatus.REFUNDED: ""},
    )
    message = only(messages_for(refunded, silent_refund))
    assert message.kind is NotificationKind.PAYMENT_REFUNDED
    assert message.body == (
        "O reembolso de R$ 44,80 do pedido #8 foi concluído. O prazo para o valor aparecer na "
        "sua conta ou fatura depende do seu banco."
    )


def test_a_refund_is_told_by_payment_refunded_when_status_messages_are_off() -> None:
    quiet = StoreOrderConfig(
        client_id="rest-1", store_id="store-1", notify_customer_on_status_change=False
    )
    message = only(messages_for(payment_status_changed("o1", PaymentStatus.REFUNDED), quiet))
    assert message.kind is NotificationKind.PAYMENT_REFUNDED


def test_the_messages_a_store_s_configuration_leaves_out_are_named_as_silenced() -> None:
    quiet = StoreOrderConfig(
        client_id="rest-1", store_id="store-1", notify_customer_on_status_change=False
    )
    confirmed = status_changed("o1", OrderStatus.CONFIRMED)
    refunded = payment_status_changed("o1", PaymentStatus.REFUNDED)
    placed = order_placed("o1")

    assert silenced(confirmed, quiet) == [NotificationKind.ORDER_STATUS]
    assert silenced(placed, quiet) == [NotificationKind.ORDER_STATUS]
    assert silenced(refunded, DEFAULTS) == [NotificationKind.PAYMENT_REFUNDED]
    for event in (confirmed, placed):
        assert silenced(event, DEFAULTS) == []
    # Left out whatever the configuration: nothing to keep.
    assert silenced(refunded, quiet) == []
    assert silenced(order_placed("o1", method=PaymentMethod.PIX), quiet) == []
    assert silenced(payment_status_changed("o1", PaymentStatus.PAID), quiet) == []


@pytest.mark.parametrize(
    ("code", "paid", "after_cancelled"),
    [
        (
            ReasonCode.CONFIRMATION_TIMEOUT,
            PaymentStatus.PAID,
            "O restaurante não pôde confirmar seu pedido no momento. Pedimos desculpas pelo "
            "inconveniente. O valor de R$ 44,80 será reembolsado; avisaremos assim que o "
            "reembolso for concluído.",
        ),
        (
            ReasonCode.RESTAURANT_REJECTED,
            PaymentStatus.NOT_APPLICABLE,
            "O restaurante não pôde aceitar o pedido. Pedimos desculpas pelo inconveniente.",
        ),
        (
            ReasonCode.PAYMENT_TIMEOUT,
            PaymentStatus.PENDING,
            "O pagamento não foi recebido dentro do prazo.",
        ),
    ],
    ids=["paid-never-confirmed", "cash-rejected", "unpaid"],
)
def test_a_cancellation_apologises_when_the_restaurant_caused_it_and_promises_a_paid_refund(
    code: ReasonCode, paid: PaymentStatus, after_cancelled: str
) -> None:
    event = status_changed(
        "o1",
        OrderStatus.CANCELLED,
        reason=code.value,
        reason_code=code,
        order_number=4,
        payment_status=paid,
    )

    assert only(messages_for(event, DEFAULTS)).body == (
        f"Seu pedido #4 foi cancelado. {after_cancelled}"
    )


@pytest.mark.parametrize(
    "status", [PaymentStatus.PENDING, PaymentStatus.REFUND_PENDING, PaymentStatus.CANCELLED]
)
def test_other_payment_statuses_send_nothing(status: PaymentStatus) -> None:
    assert messages_for(payment_status_changed("o1", status), DEFAULTS) == []


def test_a_cancellation_tells_its_reason_in_words() -> None:
    by_code = status_changed(
        "o1",
        OrderStatus.CANCELLED,
        reason="CONFIRMATION_TIMEOUT",
        reason_code=ReasonCode.CONFIRMATION_TIMEOUT,
    )
    by_restaurant = status_changed(
        "o1",
        OrderStatus.CANCELLED,
        reason="sem entregador disponível",
        reason_code=ReasonCode.RESTAURANT_REJECTED,
    )

    assert only(messages_for(by_code, DEFAULTS)).body == (
        "Seu pedido #o1 foi cancelado. O restaurante não pôde confirmar seu pedido no momento. "
        "Pedimos desculpas pelo inconveniente."
    )
    assert only(messages_for(by_restaurant, DEFAULTS)).body == (
        "Seu pedido #o1 foi cancelado. O restaurante não pôde aceitar o pedido. "
        "Motivo: sem entregador disponível. Pedimos desculpas pelo inconveniente."
    )
    bare = status_changed("o1", OrderStatus.CANCELLED)
    assert only(messages_for(bare, DEFAULTS)).body == "Seu pedido #o1 foi cancelado."


def test_a_rejected_command_is_told_to_the_customer_when_their_number_is_known() -> None:
    message = only(messages_for(rejected(), DEFAULTS))

    assert message.kind is NotificationKind.ORDER_REJECTED
    assert message.body == "A loja está fechada agora. Funcionamos das 18h às 23h."
    assert messages_for(rejected(phone=None), DEFAULTS) == []


def test_status_templates_are_looked_up_by_status_then_by_kind() -> None:
    message = only(messages_for(status_changed("o1", OrderStatus.READY), DEFAULTS))

    assert message.template_sid({"ORDER_STATUS": "HXany"}) == "HXany"
    assert message.template_sid({"ORDER_STATUS:READY": "HXready", "ORDER_STATUS": "HX"}) == (
        "HXready"
    )
    assert message.template_sid({"PAYMENT_CONFIRMED": "HXpaid"}) is None
    assert message.template_variables == {
        "1": "Maria",
        "2": "o1",  # its number; an order placed before numbers existed shows its id
        "3": "R$ 44,80",
        "4": "o restaurante",
        "5": "pronto",
    }


def test_the_free_form_window_is_counted_from_the_placement() -> None:
    placed = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    window = timedelta(hours=24)

    assert not outside_free_form_window(placed, placed + timedelta(hours=23), window)
    assert outside_free_form_window(placed, placed + timedelta(hours=25), window)
    assert not outside_free_form_window(None, placed + timedelta(days=9), window)


def cancelled_by_restaurant(reason: str) -> str:
    """The WhatsApp text of an order the restaurant cancelled with `reason`, before the apology."""
    event = status_changed(
        "o1", OrderStatus.CANCELLED, reason=reason, reason_code=ReasonCode.RESTAURANT_REJECTED
    )
    body = only(messages_for(event, DEFAULTS)).body
    assert body.endswith(f" {APOLOGY}"), body
    return body.removesuffix(f" {APOLOGY}")


CANCELLED_BY_RESTAURANT = "Seu pedido #o1 foi cancelado. O restaurante não pôde aceitar o pedido."
APOLOGY = "Pedimos desculpas pelo inconveniente."


def test_a_restaurants_reason_reaches_the_customer_without_control_characters() -> None:
    body = cancelled_by_restaurant("sem\x00 gás\x1b[31m\x07 hoje\u202e")

    assert body == f"{CANCELLED_BY_RESTAURANT} Motivo: sem gás[31m hoje."


def test_a_restaurants_reason_reaches_the_customer_on_one_line() -> None:
    body = cancelled_by_restaurant("acabou\n\n\nSeu pedido foi reembolsado\r\n\t  (mentira)")

    assert body == (
        f"{CANCELLED_BY_RESTAURANT} Motivo: acabou Seu pedido foi reembolsado (mentira)."
    )


def test_a_restaurants_reason_reaches_the_customer_as_written_not_styled() -> None:
    body = cancelled_by_restaurant("*URGENTE* ~sem~ _gás_ ```hoje```")

    assert body == f"{CANCELLED_BY_RESTAURANT} Motivo: URGENTE sem gás hoje."


def test_a_long_reason_reaches_the_customer_cut_with_an_ellipsis() -> None:
    body = cancelled_by_restaurant("muito " * 80)

    said = body.removeprefix(f"{CANCELLED_BY_RESTAURANT} Motivo: ")
    assert len(said) == SHOWN_REASON_LENGTH + 1  # the closing full stop
    assert said.endswith("muito….")


def test_emoji_and_accents_of_a_reason_reach_the_customer_intact() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"

    assert cancelled_by_restaurant(f"Cozinha fechada {family} ação") == (
        f"{CANCELLED_BY_RESTAURANT} Motivo: Cozinha fechada {family} ação."
    )


def test_a_reason_of_nothing_but_control_characters_is_not_told() -> None:
    assert cancelled_by_restaurant("\x00\x01\u200b ***") == CANCELLED_BY_RESTAURANT


def test_a_pos_delivery_time_reaches_the_customer_as_plain_text() -> None:
    event = status_changed("o9", OrderStatus.DELIVERING, delivery_time="*30*\n\nminutos\x00\u2066")

    assert only(messages_for(event, DEFAULTS)).body == (
        "Seu pedido #o9 saiu para entrega e chegará em aproximadamente 30 minutos."
    )


def test_an_event_written_before_the_limits_shows_at_most_the_delivery_time_limit() -> None:
    event = status_changed("o9", OrderStatus.DELIVERING).model_copy(
        update={"delivery_time": "x" * 5000}
    )

    message = only(messages_for(event, DEFAULTS))

    assert "x" * MAX_DELIVERY_TIME_LENGTH not in message.body
    assert "x" * (MAX_DELIVERY_TIME_LENGTH - 1) + "…" in message.body
    assert "x" * MAX_DELIVERY_TIME_LENGTH not in "".join(message.template_variables.values())


def test_a_delivery_time_of_only_invisible_characters_reads_as_unknown() -> None:
    event = status_changed("o9", OrderStatus.DELIVERING, delivery_time="\u200b\x00 ")

    assert only(messages_for(event, DEFAULTS)).body.endswith(
        f"aproximadamente {UNKNOWN_DELIVERY_TIME}."
    )


def test_every_message_of_a_store_with_its_own_sender_goes_out_from_it() -> None:
    own = DEFAULTS.model_copy(update={"whatsapp_sender": "whatsapp:+5511900000077"})
    events: list[CustomerEvent] = [
        order_placed("ord-42"),
        status_changed("ord-42", OrderStatus.READY),
        instructions("ord-42", PaymentMethod.PIX),
        payment_status_changed("ord-42", PaymentStatus.PAID),
        rejected(),
    ]

    senders = [only(messages_for(event, own)).sender for event in events]
    platform = [only(messages_for(event, DEFAULTS)).sender for event in events]

    assert senders == ["whatsapp:+5511900000077"] * len(events)
    assert platform == [None] * len(events)


def test_a_store_s_own_approved_templates_replace_the_platform_s() -> None:
    own = DEFAULTS.model_copy(update={"whatsapp_templates": {"ORDER_STATUS": "HXstore"}})
    platform = {"ORDER_STATUS:READY": "HXplatformready", "PAYMENT_CONFIRMED": "HXplatformpaid"}

    ready = only(messages_for(status_changed("o1", OrderStatus.READY), own))
    paid = only(messages_for(payment_status_changed("o1", PaymentStatus.PAID), own))

    assert ready.template_sid(platform) == "HXstore"
    assert paid.template_sid(platform) is None  # the store's account has no such template
    assert only(messages_for(status_changed("o1", OrderStatus.READY), DEFAULTS)).template_sid(
        platform
    ) == ("HXplatformready")


def test_every_message_names_the_order_by_its_number_and_never_by_its_id() -> None:
    events: list[CustomerEvent] = [
        order_placed("ord-internal-id", order_number=12),
        instructions("ord-internal-id", PaymentMethod.PIX, order_number=12),
        instructions("ord-internal-id", PaymentMethod.CREDIT, order_number=12),
        *(
            payment_status_changed("ord-internal-id", status, order_number=12)
            for status in (PaymentStatus.PAID, PaymentStatus.FAILED)
        ),
        *(status_changed("ord-internal-id", status, order_number=12) for status in OrderStatus),
    ]
    silent_refund = DEFAULTS.model_copy(update={"notification_templates": {}})
    refund = payment_status_changed("ord-internal-id", PaymentStatus.REFUNDED, order_number=12)

    messages = [only(messages_for(event, DEFAULTS)) for event in events]
    messages.append(only(messages_for(refund, silent_refund)))

    for message in messages:
        assert "#12" in message.body, message.body
        assert "ord-internal-id" not in message.body
        assert message.template_variables["2"] == "12"


def status(to: OrderStatus, **fields: object) -> CustomerMessage:
    return only(messages_for(status_changed("o1", to, **fields), DEFAULTS))  # type: ignore[arg-type]


def payment(to: PaymentStatus, **fields: object) -> CustomerMessage:
    event = payment_status_changed("o1", to, **fields)  # type: ignore[arg-type]
    return only(messages_for(event, DEFAULTS))


PIX = only(messages_for(instructions("o1", PaymentMethod.PIX), DEFAULTS))
CASH = payment(PaymentStatus.NOT_APPLICABLE, reason="PAYMENT_METHOD_CHANGED")


def test_a_waiting_status_is_passed_by_any_later_status_but_a_cancellation_by_none() -> None:
    assert supersedes(status(OrderStatus.DELIVERED), status(OrderStatus.PREPARING))
    assert supersedes(status(OrderStatus.CANCELLED), status(OrderStatus.PENDING))
    assert not supersedes(status(OrderStatus.REFUNDED), status(OrderStatus.CANCELLED))
    assert not supersedes(payment(PaymentStatus.PAID), status(OrderStatus.CONFIRMED))


def test_waiting_instructions_are_passed_once_paid_cancelled_or_the_payment_changed() -> None:
    assert supersedes(payment(PaymentStatus.PAID), PIX)
    assert supersedes(payment(PaymentStatus.FAILED), PIX)
    assert supersedes(CASH, PIX)
    assert supersedes(PIX, PIX)
    assert supersedes(status(OrderStatus.CANCELLED), PIX)
    assert not supersedes(status(OrderStatus.CONFIRMED), PIX)


def test_a_confirmed_payment_or_a_change_to_cash_is_never_passed() -> None:
    later = [status(OrderStatus.CANCELLED), payment(PaymentStatus.PAID), PIX, CASH]
    never_passed = [payment(PaymentStatus.PAID), CASH]
    assert not any(supersedes(after, waiting) for after in later for waiting in never_passed)


def test_a_failed_payment_is_passed_by_the_payment_or_the_cancellation_only() -> None:
    failed = payment(PaymentStatus.FAILED)
    assert supersedes(payment(PaymentStatus.PAID), failed)
    assert supersedes(status(OrderStatus.CANCELLED), failed)
    assert not supersedes(PIX, failed)
    assert not supersedes(CASH, failed)
