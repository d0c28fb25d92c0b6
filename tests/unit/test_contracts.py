"""The wire contracts: every message survives JSON, and what breaks a contract is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel, Field, ValidationError

from shared import topics
from shared.contracts import (
    DEFAULT_NOTIFICATION_TEMPLATES,
    DEFAULT_PICKUP_TEMPLATES,
    MESSAGE_TYPES,
    POS_ORDER_MESSAGES,
    POS_UPDATE_MESSAGES,
    TOPIC_MESSAGES,
    Actor,
    Address,
    CancelOrder,
    CancelPayment,
    CancelTimer,
    ChangePaymentMethod,
    ContractError,
    Customer,
    Customizations,
    Delivery,
    DeliveryType,
    Envelope,
    Message,
    NotificationDropped,
    NotificationFailed,
    NotificationKind,
    NotificationSent,
    OperatingHours,
    OrderItem,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderSnapshot,
    OrderStatus,
    OrderStatusChanged,
    PaymentCancelled,
    PaymentChargebackReported,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentCustomer,
    PaymentFailed,
    PaymentInstructions,
    PaymentInstructionsIssued,
    PaymentMethod,
    PaymentRefunded,
    PaymentStatus,
    PaymentSucceeded,
    PlaceOrder,
    PlaceOrderItem,
    PosOrderCancelled,
    PosOrderConfirmed,
    PosOrderReceived,
    PosOrderRejected,
    PosOrderStatusUpdated,
    PosStatus,
    PosUpdate,
    PosUpdateRejected,
    ReasonCode,
    RefundFailed,
    RefundRequested,
    Registry,
    RequestPayment,
    RequestRefund,
    ScheduleTimer,
    StatusHistoryEntry,
    StoreConfigChanged,
    StoreOrderConfig,
    TimerFired,
    TimerPurpose,
    decode,
    decode_as,
    decode_from,
    format_brl,
    messages_for_topic,
    reais_to_cents,
    register_upcaster,
    render_template,
)
from shared.contracts.access import TokensRevoked
from shared.contracts.base import TYPE_NAME_DESCRIPTION
from shared.topics import TopicNameError
from tests import builders

NOW = datetime(2025, 5, 24, 15, 30, 45, tzinfo=UTC)
PHONE = "+5511987654321"
CLIENT = "client_123abc"
STORE = "store_456def"


def envelope(**overrides: Any) -> dict[str, Any]:
    """The envelope fields of a message (snake_case, for constructors), caused by another."""
    return (
        builders.envelope(
            occurred_at=NOW,
            correlation_id="conversation-turn-1",
            causation_id=str(uuid4()),
            client_id=CLIENT,
            store_id=STORE,
        )
        | overrides
    )


def snapshot() -> OrderSnapshot:
    return OrderSnapshot(
        order_id="order_0123456789ab",
        order_number=12,
        client_id=CLIENT,
        store_id=STORE,
        customer_id="customer-1",
        phone_number=PHONE,
        customer_name="Maria",
        status=OrderStatus.PENDING,
        items=[
            OrderItem(
                item_id="burger_cheese_bacon",
                name="Cheese Bacon",
                quantity=2,
                unit_price_cents=3290,
                total_price_cents=6580,
                customizations=Customizations(
                    adicionar=["cebola caramelizada"], remover=["tomate"]
                ),
                notes="Bem passado",
            )
        ],
        subtotal_cents=6580,
        delivery_fee_cents=500,
        discount_cents=0,
        total_cents=7080,
        payment_method=PaymentMethod.PIX,
        payment_status=PaymentStatus.PAID,
        payment_id="pay_123",
        payment_details=PaymentInstructions(pix_payload="00020126...", expires_at=NOW),
        delivery_type=DeliveryType.DELIVERY,
        delivery_address=Address(street="Rua Augusta", number="1500", city="São Paulo", state="SP"),
        delivery_time=None,
        customer_notes="Sem cebola",
        requires_confirmation=True,
        confirmation_timeout=NOW + timedelta(minutes=15),
        refund_timeout=NOW + timedelta(minutes=60),
        status_history=[
            StatusHistoryEntry(
                status=OrderStatus.PENDING, timestamp=NOW, by=Actor.SYSTEM, notes="Pedido criado"
            )
        ],
        created_at=NOW,
        updated_at=NOW,
    )


def store_config() -> StoreOrderConfig:
    return StoreOrderConfig(
        client_id=CLIENT,
        store_id=STORE,
        store_name="Burger da Praça",
        requires_confirmation=True,
        auto_confirmation_timeout=0.1,
        refund_timeout=30,
        notification_templates={
            OrderStatus.CONFIRMED: "Oi {customer_name}, pedido #{order_id} ok!"
        },
        accepted_payment_methods=[PaymentMethod.PIX, PaymentMethod.CASH],
        minimum_order_value=Decimal("20.00"),
        operating_hours_check=True,
        operating_hours=[OperatingHours(day=4, opens="18:00", closes="02:00")],
        updated_at=NOW,
    )


def pos_update(**overrides: Any) -> dict[str, Any]:
    return builders.message_fields(occurred_at=NOW) | overrides


SAMPLES: dict[type[Message], Message] = {
    sample.__class__: sample
    for sample in [
        PlaceOrder(
            **envelope(causation_id=None),
            command_id="cmd-1",
            customer=Customer(
                customer_id="customer-1",
                phone_number=PHONE,
                name="Maria",
                email="maria@example.com",
                cpf="529.982.247-25",
            ),
            items=[
                PlaceOrderItem(
                    item_id="burger_cheese_bacon",
                    name="Cheese Bacon",
                    quantity=2,
                    unit_price=Decimal("32.90"),
                    customizations=Customizations(adicionar=["bacon extra"]),
                    notes="Bem passado",
                )
            ],
            delivery=Delivery(
                type=DeliveryType.DELIVERY,
                address=Address(street="Rua Augusta", number="1500", zip_code="01304-001"),
                notes="Portão azul",
                fee=Decimal("5.00"),
            ),
            payment_method=PaymentMethod.PIX,
        ),
        CancelOrder(**envelope(), order_id="order_1", reason="Desisti"),
        ChangePaymentMethod(**envelope(), order_id="order_1", payment_method=PaymentMethod.CASH),
        OrderPlaced(
            **envelope(),
            order_id="order_0123456789ab",
            order_number=12,
            command_id="cmd-1",
            order=snapshot(),
        ),
        OrderRejected(
            **envelope(),
            command_id="cmd-1",
            reason_code=ReasonCode.BELOW_MINIMUM_ORDER_VALUE,
            message="O pedido mínimo é R$ 20,00.",
            phone_number=PHONE,
            customer_name="Maria",
        ),
        OrderStatusChanged(
            **envelope(),
            order_id="order_1",
            order_number=3,
            from_status=OrderStatus.PENDING,
            to_status=OrderStatus.CANCELLED,
            by=Actor.SYSTEM,
            reason="CONFIRMATION_TIMEOUT",
            reason_code=ReasonCode.CONFIRMATION_TIMEOUT,
            at=NOW,
            phone_number=PHONE,
            customer_name="Maria",
            total_cents=7080,
            delivery_time="30 minutos",
            store_name="Burger da Praça",
        ),
        OrderPaymentStatusChanged(
            **envelope(),
            order_id="order_1",
            from_status=PaymentStatus.PENDING,
            to_status=PaymentStatus.PAID,
            at=NOW,
            phone_number=PHONE,
            customer_name="Maria",
            total_cents=7080,
        ),
        PaymentInstructionsIssued(
            **envelope(),
            order_id="order_1",
            payment_method=PaymentMethod.PIX,
            phone_number=PHONE,
            total_cents=7080,
            pix_payload="00020126580014br.gov.bcb.pix",
            pix_qr_code_image="iVBORw0KGgo=",
            expires_at=NOW + timedelta(minutes=15),
        ),
        RequestPayment(
            **envelope(),
            order_id="order_1",
            payment_method=PaymentMethod.CREDIT,
            amount_cents=7080,
            customer=PaymentCustomer(name="Maria", cpf="52998224725", phone_number=PHONE),
            description="Pedido #order_1",
            time_zone="America/Sao_Paulo",
            due_date=NOW.date(),
        ),
        CancelPayment(**envelope(), order_id="order_1", payment_id="pay_123"),
        RequestRefund(
            **envelope(), order_id="order_1", payment_id="pay_123", reason="CONFIRMATION_TIMEOUT"
        ),
        PaymentCreated(
            **envelope(),
            order_id="order_1",
            payment_id="pay_123",
            method=PaymentMethod.CREDIT,
            amount_cents=7080,
            instructions=PaymentInstructions(invoice_url="https://sandbox.asaas.com/i/123"),
        ),
        PaymentCreationFailed(
            **envelope(),
            order_id="order_1",
            reason_code="invalid_cpfCnpj",
            message="CPF inválido",
            retryable=False,
        ),
        PaymentSucceeded(
            **envelope(), order_id="order_1", payment_id="pay_123", amount_cents=7080, paid_at=NOW
        ),
        PaymentFailed(
            **envelope(),
            order_id="order_1",
            payment_id="pay_123",
            reason="PAYMENT_OVERDUE",
            message="Cobrança vencida",
        ),
        PaymentCancelled(**envelope(), order_id="order_1", payment_id="pay_123"),
        RefundRequested(**envelope(), order_id="order_1", payment_id="pay_123", amount_cents=7080),
        PaymentRefunded(
            **envelope(),
            order_id="order_1",
            payment_id="pay_123",
            amount_cents=7080,
            refunded_at=NOW,
        ),
        RefundFailed(
            **envelope(),
            order_id="order_1",
            payment_id="pay_123",
            reason="insufficient_balance",
            attempts=8,
        ),
        PaymentChargebackReported(
            **envelope(),
            order_id="order_1",
            payment_id="pay_123",
            asaas_event="PAYMENT_CHARGEBACK_REQUESTED",
        ),
        ScheduleTimer(
            **envelope(),
            timer_id="order_1:confirmation",
            due_at=NOW + timedelta(minutes=15),
            purpose=TimerPurpose.CONFIRMATION_DEADLINE,
            order_id="order_1",
            payload={"reason": "CONFIRMATION_TIMEOUT"},
        ),
        CancelTimer(**envelope(), timer_id="order_1:confirmation"),
        TimerFired(
            **envelope(),
            timer_id="order_1:payment",
            purpose=TimerPurpose.PAYMENT_DEADLINE,
            order_id="order_1",
            due_at=NOW,
            fired_at=NOW + timedelta(milliseconds=300),
            payload={"attempt": "1"},
        ),
        PosOrderReceived(
            **envelope(),
            order_id="order_0123456789ab",
            order=snapshot(),
            awaiting_confirmation=True,
            confirm_by=NOW + timedelta(minutes=15),
        ),
        PosOrderCancelled(
            **envelope(), order_id="order_1", order_number=3, reason=ReasonCode.ALREADY_CANCELLED
        ),
        PosUpdateRejected(
            **envelope(),
            order_id="order_1",
            order_number=3,
            refused_event_id=str(uuid4()),
            reason=ReasonCode.TRANSITION_NOT_ALLOWED,
            current_status=OrderStatus.CONFIRMED,
            detail="order order_1: CONFIRMED -> READY is not an allowed transition",
        ),
        PosOrderConfirmed(**pos_update(), order_id="order_1"),
        PosOrderRejected(
            **pos_update(correlation_id="turn-1"), order_id="order_1", reason="Sem gás"
        ),
        PosOrderStatusUpdated(
            **pos_update(client_id=CLIENT, store_id=STORE),
            order_id="order_1",
            status=PosStatus.DELIVERING,
            delivery_time="30 minutos",
        ),
        StoreConfigChanged(**envelope(), config=store_config()),
        NotificationSent(
            **envelope(),
            order_id="order_1",
            source_event_id=uuid4(),
            kind=NotificationKind.ORDER_STATUS,
            to=PHONE,
            twilio_sid="SM0123456789abcdef0123456789abcdef",
            body="Seu pedido #order_1 foi confirmado!",
        ),
        NotificationFailed(
            **envelope(),
            order_id="order_1",
            source_event_id=uuid4(),
            kind=NotificationKind.PAYMENT_INSTRUCTIONS,
            to=PHONE,
            error_code=63016,
            message="Outside the 24-hour window",
            permanent=True,
        ),
        NotificationDropped(
            **envelope(),
            order_id="order_1",
            source_event_id=uuid4(),
            kind=NotificationKind.ORDER_STATUS,
            to=PHONE,
            superseded_by=uuid4(),
        ),
        TokensRevoked(
            **builders.message_fields(occurred_at=NOW),
            client_id=CLIENT,
            not_before=NOW.replace(microsecond=0),
            reason="restaurant off-boarded",
        ),
    ]
}


def wire(message_type: type[Message], **changes: Any) -> dict[str, Any]:
    """The sample of `message_type` as a wire dict, with top-level `changes` (None removes)."""
    data = SAMPLES[message_type].to_wire()
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


# Round trips


@pytest.mark.parametrize("event_type", sorted(MESSAGE_TYPES))
def test_every_registered_message_survives_a_json_round_trip(event_type: str) -> None:
    sample = SAMPLES[MESSAGE_TYPES[event_type]]  # a KeyError here: add a sample for the new type

    decoded = decode(sample.to_json())

    assert type(decoded) is type(sample)
    assert decoded == sample


def test_every_sample_is_a_registered_message() -> None:
    assert set(SAMPLES) == set(MESSAGE_TYPES.values())


def test_every_message_travels_on_exactly_one_kind_of_topic() -> None:
    groups = [*TOPIC_MESSAGES.values(), POS_ORDER_MESSAGES, POS_UPDATE_MESSAGES]
    placed = [message_type for group in groups for message_type in group]

    assert sorted(t.__name__ for t in placed) == sorted(MESSAGE_TYPES)


def _models_reachable_from(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        for candidate in _types_in(field.annotation):
            if candidate not in found:
                found |= _models_reachable_from(candidate)
    return found


def _types_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [
        model for argument in getattr(annotation, "__args__", ()) for model in _types_in(argument)
    ]


def test_every_field_of_every_contract_has_a_description() -> None:
    models = {m for t in MESSAGE_TYPES.values() for m in _models_reachable_from(t)}
    undescribed = [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description
    ]

    assert undescribed == []


def test_every_message_names_its_type_after_its_class() -> None:
    for name, message_type in MESSAGE_TYPES.items():
        field = message_type.model_fields["event_type"]
        assert (name, field.default, field.description) == (
            message_type.__name__,
            message_type.__name__,
            TYPE_NAME_DESCRIPTION,
        )


def test_wire_names_are_camel_case() -> None:
    data = json.loads(SAMPLES[OrderPlaced].to_json())

    assert {"eventId", "eventType", "eventVersion", "occurredAt", "correlationId"} <= set(data)
    assert {"subtotalCents", "deliveryFeeCents", "discountCents", "totalCents"} <= set(
        data["order"]
    )
    assert {"unitPriceCents", "totalPriceCents"} <= set(data["order"]["items"][0])
    assert data["order"]["source"] == "WHATSAPP_BOT"
    assert data["occurredAt"] == "2025-05-24T15:30:45Z"


# Refusals


def test_an_unknown_event_type_is_refused_by_name() -> None:
    with pytest.raises(ContractError, match="unknown eventType 'OrderTeleported'") as caught:
        decode(wire(OrderPlaced, eventType="OrderTeleported"))

    assert caught.value.event_type == "OrderTeleported"


@pytest.mark.parametrize(
    "missing", ["eventId", "occurredAt", "correlationId", "clientId", "storeId"]
)
def test_a_message_without_an_envelope_field_is_refused(missing: str) -> None:
    with pytest.raises(ContractError, match=missing):
        decode(wire(PlaceOrder, **{missing: None}))


def test_a_message_without_an_event_type_is_refused() -> None:
    with pytest.raises(ContractError, match="no eventType"):
        decode(wire(PlaceOrder, eventType=None))


def test_a_message_without_an_event_version_is_refused() -> None:
    with pytest.raises(ContractError, match="PlaceOrder has no eventVersion"):
        decode(wire(PlaceOrder, eventVersion=None))


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True])
def test_a_message_with_a_malformed_event_version_is_refused(version: Any) -> None:
    with pytest.raises(ContractError, match="invalid eventVersion"):
        decode(wire(PlaceOrder, eventVersion=version))


def test_a_version_newer_than_known_is_refused() -> None:
    with pytest.raises(ContractError, match="v2 is newer than the known v1") as caught:
        decode(wire(OrderPlaced, eventVersion=2))

    assert caught.value.event_version == 2


@pytest.mark.parametrize("amount", ["1200.0", "12.5", '"1200"'])
def test_money_in_centavos_must_be_an_integer(amount: str) -> None:
    body = (
        SAMPLES[OrderStatusChanged]
        .to_json()
        .decode()
        .replace('"totalCents":7080', f'"totalCents":{amount}')
    )

    with pytest.raises(ContractError, match="totalCents") as caught:
        decode(body)

    assert caught.value.errors[0]["loc"] == ("totalCents",)


def test_a_float_amount_is_refused_in_a_python_mapping_too() -> None:
    with pytest.raises(ContractError, match="amountCents"):
        decode(wire(PaymentSucceeded, amountCents=7080.0))


def test_negative_money_is_refused() -> None:
    with pytest.raises(ContractError, match="totalCents"):
        decode(wire(OrderStatusChanged, totalCents=-1))


@pytest.mark.parametrize("price", ["32.905", "0.001", '"32.905"'])
def test_a_unit_price_with_three_decimals_is_refused(price: str) -> None:
    body = (
        SAMPLES[PlaceOrder]
        .to_json()
        .decode()
        .replace('"unitPrice":"32.90"', f'"unitPrice":{price}')
    )

    with pytest.raises(ContractError, match="no more than 2 decimal places"):
        decode(body)


def test_a_delivery_fee_with_three_decimals_is_refused() -> None:
    data = wire(PlaceOrder)
    data["delivery"]["fee"] = "5.001"

    with pytest.raises(ContractError, match=r"delivery\.fee"):
        decode(data)


def test_reais_stated_as_json_numbers_are_read_exactly() -> None:
    body = SAMPLES[PlaceOrder].to_json().decode()
    body = body.replace('"unitPrice":"32.90"', '"unitPrice":32.90').replace(
        '"fee":"5.00"', '"fee":0.1'
    )

    order = decode_as(body, PlaceOrder)

    assert order.items[0].unit_price_cents == 3290
    assert order.delivery.fee_cents == 10


@pytest.mark.parametrize("quantity", [0, 1.5, 2.0, "2"])
def test_an_item_quantity_must_be_a_positive_integer(quantity: Any) -> None:
    data = wire(PlaceOrder)
    data["items"][0]["quantity"] = quantity

    with pytest.raises(ContractError, match="quantity"):
        decode(data)


def test_an_order_without_items_is_refused() -> None:
    with pytest.raises(ContractError, match="items"):
        decode(wire(PlaceOrder, items=[]))


@pytest.mark.parametrize("occurred_at", ["2025-05-24T15:30:45", "2025-05-24"])
def test_a_naive_datetime_is_refused(occurred_at: str) -> None:
    with pytest.raises(ContractError, match="occurredAt"):
        decode(wire(PlaceOrder, occurredAt=occurred_at))


def test_datetimes_with_an_offset_are_normalised_to_utc() -> None:
    message = decode_as(wire(CancelOrder, occurredAt="2025-05-24T12:30:45-03:00"), CancelOrder)

    assert message.occurred_at == NOW
    assert message.occurred_at.tzinfo == UTC


@pytest.mark.parametrize(
    "phone", ["11987654321", "5511987654321", "+55 11 98765-4321", "+0511987654321", "+55", ""]
)
def test_a_phone_number_not_in_e164_is_refused(phone: str) -> None:
    data = wire(PlaceOrder)
    data["customer"]["phoneNumber"] = phone

    with pytest.raises(ContractError, match=r"customer\.phoneNumber"):
        decode(data)


def test_an_unknown_payment_method_is_refused() -> None:
    with pytest.raises(ContractError, match="paymentMethod"):
        decode(wire(PlaceOrder, paymentMethod="BOLETO"))


def test_a_payment_is_never_requested_for_cash() -> None:
    with pytest.raises(ContractError, match="CASH is not charged online"):
        decode(wire(RequestPayment, paymentMethod="CASH"))


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(ContractError, match="not JSON"):
        decode(b"\xff{not json")


def test_json_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ContractError, match="not a JSON object but list"):
        decode("[1, 2]")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
        (b'{"eventType": "PlaceOrder", "n": ' + b"9" * 5000 + b"}", "integer string"),
    ],
)
def test_json_that_python_cannot_read_is_a_contract_error(body: bytes, problem: str) -> None:
    with pytest.raises(ContractError, match=problem):
        decode(body)


def test_a_contract_error_names_the_field_but_never_quotes_the_input() -> None:
    data = wire(PlaceOrder)
    data["customer"]["phoneNumber"] = "Maria da Silva, rua das Flores 12"
    data["eventVersion"] = "x" * 10_000

    with pytest.raises(ContractError) as caught:
        decode(data)
    assert "Maria" not in str(caught.value)
    assert "xxx" not in str(caught.value)
    with pytest.raises(ContractError, match=r"customer\.phoneNumber") as caught:
        decode(wire(PlaceOrder, customer=data["customer"]))
    assert "Maria" not in str(caught.value)
    assert all("input" not in detail for detail in caught.value.errors)


def test_a_contract_error_quotes_no_long_event_type_and_is_short() -> None:
    with pytest.raises(ContractError) as caught:
        decode({"eventType": "Teleport" * 100_000})
    assert len(str(caught.value)) <= 500
    assert "TeleportTeleport" not in str(caught.value)


def test_a_contract_error_is_a_value_error_carrying_what_could_be_read() -> None:
    data = wire(PlaceOrder, commandId="")

    with pytest.raises(ValueError, match="invalid PlaceOrder v1") as caught:
        decode(data)

    error = caught.value
    assert isinstance(error, ContractError)
    assert (error.event_type, error.event_version) == ("PlaceOrder", 1)
    assert [detail["loc"] for detail in error.errors] == [("commandId",)]
    assert error.payload is not None
    assert error.payload["correlationId"] == "conversation-turn-1"


# Tolerance


def test_unknown_fields_are_ignored_at_every_level() -> None:
    data = wire(OrderPlaced, somethingNew="x")
    data["order"]["loyaltyPoints"] = 12
    data["order"]["items"][0]["calories"] = 800

    assert decode(data) == SAMPLES[OrderPlaced]


_ENVELOPE_REST = {"eventVersion", "correlationId", "causationId", "clientId", "storeId"}


@pytest.mark.parametrize("pos_type", POS_UPDATE_MESSAGES)
def test_a_pos_update_needs_only_event_type_id_and_time(pos_type: type[Message]) -> None:
    body = {key: value for key, value in wire(pos_type).items() if key not in _ENVELOPE_REST}

    update = decode_as(body, PosUpdate)

    assert type(update) is pos_type
    assert (update.client_id, update.store_id, update.correlation_id) == (None, None, None)
    assert update.event_version == 1


@pytest.mark.parametrize("missing", ["eventId", "occurredAt"])
def test_a_pos_update_still_needs_its_id_and_time(missing: str) -> None:
    with pytest.raises(ContractError, match=missing):
        decode(wire(PosOrderConfirmed, **{missing: None}))


def test_the_pos_sends_order_statuses_only_it_may_set() -> None:
    with pytest.raises(ContractError, match="status"):
        decode(wire(PosOrderStatusUpdated, status="REFUNDED"))
    assert PosStatus.DELIVERING.order_status is OrderStatus.DELIVERING


def test_an_empty_address_of_a_pickup_is_read_as_none() -> None:
    delivery = Delivery.model_validate({"type": "PICKUP", "address": {}, "fee": 0})

    assert delivery.address is None
    assert delivery.fee_cents == 0


def test_address_numbers_sent_as_json_numbers_are_kept_as_text() -> None:
    address = Address.model_validate({"street": "Rua A", "number": 15, "zipCode": 1304001})

    assert (address.number, address.zip_code) == ("15", "1304001")


def test_a_twilio_error_code_may_be_an_integer_or_text() -> None:
    assert SAMPLES[NotificationFailed].to_wire()["errorCode"] == "63016"
    assert decode(wire(NotificationFailed, errorCode="21211")).error_code == "21211"  # type: ignore[attr-defined]


def test_a_sent_notification_names_its_body_or_template() -> None:
    with pytest.raises(ContractError, match="body or a templateSid"):
        decode(wire(NotificationSent, body=None))
    template = decode(wire(NotificationSent, body=None, templateSid="HX123"))
    assert template.template_sid == "HX123"  # type: ignore[attr-defined]


# Topics and expected types


def test_decode_as_refuses_a_message_of_another_type() -> None:
    with pytest.raises(
        ContractError, match=r"CancelOrder is not expected here \(expected: PlaceOrder\)"
    ):
        decode_as(SAMPLES[CancelOrder].to_json(), PlaceOrder)


def test_decode_from_refuses_a_message_on_the_wrong_topic() -> None:
    with pytest.raises(ContractError, match="PaymentSucceeded is not expected"):
        decode_from(topics.ORDERS_EVENTS, SAMPLES[PaymentSucceeded].to_json())


def test_decode_from_accepts_a_message_on_its_topic() -> None:
    assert (
        decode_from(topics.PAYMENTS_EVENTS, SAMPLES[PaymentSucceeded].to_json())
        == SAMPLES[PaymentSucceeded]
    )


def test_pos_topics_carry_their_own_messages() -> None:
    assert messages_for_topic(f"pos.{CLIENT}.{STORE}.orders") == POS_ORDER_MESSAGES
    assert messages_for_topic(f"pos.{CLIENT}.{STORE}.updates") == POS_UPDATE_MESSAGES
    assert messages_for_topic(topics.STORES_CONFIG) == (StoreConfigChanged,)
    with pytest.raises(TopicNameError):
        messages_for_topic("orders.elsewhere")


# Upcasting


class TableBooked(Envelope):
    """A test-only event at version 2: v1 called `guests` what v2 calls `partySize`."""

    CURRENT_VERSION = 2

    event_type: Literal["TableBooked"] = Field(
        default="TableBooked", description=TYPE_NAME_DESCRIPTION
    )
    event_version: int = Field(default=2, ge=1, description="Schema version.")
    party_size: int = Field(description="How many people.")


def _guests_to_party_size(data: dict[str, Any]) -> dict[str, Any]:
    upgraded = {key: value for key, value in data.items() if key != "guests"}
    return upgraded | {"partySize": data["guests"]}


def _table_booked(version: int, **fields: Any) -> dict[str, Any]:
    return {
        "eventType": "TableBooked",
        "eventVersion": version,
        "eventId": str(uuid4()),
        "occurredAt": "2025-05-24T15:30:45Z",
        "correlationId": "turn-1",
        "clientId": CLIENT,
        "storeId": STORE,
        **fields,
    }


def test_an_old_version_is_upcast_before_validation() -> None:
    registry = Registry([TableBooked], upcasters={("TableBooked", 1): _guests_to_party_size})

    booked = registry.decode_as(_table_booked(1, guests=4), TableBooked)

    assert (booked.party_size, booked.event_version) == (4, 2)


def test_the_current_version_is_not_upcast() -> None:
    registry = Registry([TableBooked], upcasters={("TableBooked", 1): _guests_to_party_size})

    assert registry.decode_as(_table_booked(2, partySize=3), TableBooked).party_size == 3


def test_an_old_version_without_an_upcaster_is_refused() -> None:
    with pytest.raises(ContractError, match="no upcaster from v1"):
        Registry([TableBooked]).decode(_table_booked(1, guests=4))


def test_an_upcaster_is_registered_once_and_only_for_an_old_version() -> None:
    registry = Registry([TableBooked])
    registry.register_upcaster("TableBooked", 1, _guests_to_party_size)

    with pytest.raises(ValueError, match="already has an upcaster"):
        registry.register_upcaster("TableBooked", 1, _guests_to_party_size)
    with pytest.raises(ValueError, match="no upcaster from version 2"):
        registry.register_upcaster("TableBooked", 2, _guests_to_party_size)
    with pytest.raises(ValueError, match="unknown event type"):
        registry.register_upcaster("TableCleared", 1, _guests_to_party_size)


def test_the_system_registry_refuses_an_upcaster_for_a_message_still_at_version_one() -> None:
    with pytest.raises(ValueError, match="OrderPlaced is at version 1"):
        register_upcaster("OrderPlaced", 1, _guests_to_party_size)


def test_a_class_whose_event_type_is_not_its_name_cannot_be_registered() -> None:
    class Misnamed(Envelope):
        """Test-only."""

        event_type: Literal["Other"] = Field(default="Other", description=TYPE_NAME_DESCRIPTION)

    with pytest.raises(TypeError, match="Misnamed needs event_type"):
        Registry([Misnamed])


# Money


@pytest.mark.parametrize(
    ("reais", "cents"),
    [
        ("32.90", 3290),
        ("0.1", 10),
        ("0.01", 1),
        ("0", 0),
        ("1234.5", 123450),
        ("999999999.99", 99999999999),
    ],
)
def test_reais_convert_to_centavos_exactly(reais: str, cents: int) -> None:
    assert reais_to_cents(Decimal(reais)) == cents


@pytest.mark.parametrize(
    ("cents", "shown"),
    [
        (4480, "R$ 44,80"),
        (5, "R$ 0,05"),
        (0, "R$ 0,00"),
        (123456, "R$ 1.234,56"),
        (100000000, "R$ 1.000.000,00"),
    ],
)
def test_amounts_are_shown_the_brazilian_way(cents: int, shown: str) -> None:
    assert format_brl(cents) == shown


# Store configuration


def test_a_store_without_configuration_gets_the_source_design_defaults() -> None:
    config = StoreOrderConfig.default_for(CLIENT, STORE)

    assert config.to_wire() == {
        "clientId": CLIENT,
        "storeId": STORE,
        "storeName": None,
        "requiresConfirmation": False,
        "autoConfirmationTimeout": 0,
        "refundUnconfirmedOrders": True,
        "refundTimeout": 60,
        "notifyCustomerOnStatusChange": True,
        "notificationTemplates": {
            status.value: text for status, text in DEFAULT_NOTIFICATION_TEMPLATES.items()
        },
        "pickupNotificationTemplates": {
            status.value: text for status, text in DEFAULT_PICKUP_TEMPLATES.items()
        },
        "acceptedPaymentMethods": ["PIX", "CREDIT", "DEBIT", "CASH"],
        "minimumOrderValue": "0",
        "operatingHoursCheck": False,
        "timeZone": "America/Sao_Paulo",
        "operatingHours": [],
        "paymentTimeout": 15,
        "whatsappSender": None,
        "whatsappTemplates": {},
        "updatedAt": None,
    }
    assert set(config.notification_templates) == set(OrderStatus)


def test_the_default_templates_are_the_source_design_ones_naming_the_order_number() -> None:
    config = StoreOrderConfig.default_for(CLIENT, STORE)
    templates = config.notification_templates

    assert templates[OrderStatus.CONFIRMED] == (
        "Seu pedido #{order_number} foi confirmado! Estamos preparando tudo com muito carinho."
    )
    assert templates[OrderStatus.REFUNDED] == (
        "O reembolso de {total} do pedido #{order_number} foi concluído. O prazo para o valor "
        "aparecer na sua conta ou fatura depende do seu banco."
    )
    assert all("{order_id}" not in template for template in templates.values())
    assert config.pickup_notification_templates[OrderStatus.READY] == (
        "Seu pedido #{order_number} está pronto para retirada! Pode vir buscar."
    )


def test_templates_left_out_keep_their_default() -> None:
    config = store_config()

    assert config.notification_templates[OrderStatus.CONFIRMED].startswith("Oi {customer_name}")
    assert (
        config.notification_templates[OrderStatus.READY]
        == DEFAULT_NOTIFICATION_TEMPLATES[OrderStatus.READY]
    )


def test_a_template_may_use_every_placeholder_of_the_design() -> None:
    names = ["order_number", "order_id", "total", "delivery_time", "store_name", "customer_name"]
    template = " ".join("{" + name + "}" for name in names)
    config = StoreOrderConfig.model_validate(
        {"clientId": CLIENT, "storeId": STORE, "notificationTemplates": {"READY": template}}
    )
    assert config.notification_templates[OrderStatus.READY] == template


@pytest.mark.parametrize("field", ["notificationTemplates", "pickupNotificationTemplates"])
def test_a_template_with_an_unknown_placeholder_is_refused_by_name(field: str) -> None:
    with pytest.raises(
        ValidationError, match=r"template for READY: unknown placeholder \{pedido\}"
    ):
        StoreOrderConfig.model_validate(
            {"clientId": CLIENT, "storeId": STORE, field: {"READY": "#{pedido} pronto"}}
        )


def test_pickup_templates_left_out_keep_their_default() -> None:
    config = StoreOrderConfig.model_validate(
        {"clientId": CLIENT, "storeId": STORE, "pickupNotificationTemplates": {"READY": "Já!"}}
    )

    assert config.pickup_notification_templates[OrderStatus.READY] == "Já!"
    assert config.pickup_notification_templates[OrderStatus.DELIVERING] == ""
    assert config.notification_templates == DEFAULT_NOTIFICATION_TEMPLATES


def test_a_template_for_an_unknown_status_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"notificationTemplates\.LOST"):
        StoreOrderConfig.model_validate(
            {"clientId": CLIENT, "storeId": STORE, "notificationTemplates": {"LOST": "?"}}
        )


def test_an_unknown_payment_method_in_store_config_is_refused() -> None:
    data = wire(StoreConfigChanged)
    data["config"]["acceptedPaymentMethods"] = ["PIX", "BOLETO"]

    with pytest.raises(ContractError, match=r"config.acceptedPaymentMethods.1"):
        decode(data)


def test_a_store_must_accept_some_payment_method() -> None:
    with pytest.raises(ValidationError, match="acceptedPaymentMethods"):
        StoreOrderConfig.model_validate(
            {"clientId": CLIENT, "storeId": STORE, "acceptedPaymentMethods": []}
        )


@pytest.mark.parametrize("field", ["autoConfirmationTimeout", "refundTimeout", "paymentTimeout"])
@pytest.mark.parametrize("minutes", [-1, -0.1, "nan", "inf"])
def test_minutes_must_be_a_finite_non_negative_number(field: str, minutes: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        StoreOrderConfig.model_validate({"clientId": CLIENT, "storeId": STORE, field: minutes})


def test_fractions_of_a_minute_are_allowed() -> None:
    config = StoreOrderConfig.model_validate(
        {"clientId": CLIENT, "storeId": STORE, "paymentTimeout": 0.1}
    )

    assert timedelta(minutes=config.payment_timeout) == timedelta(seconds=6)


def test_the_minimum_order_value_is_stated_in_reais() -> None:
    config = StoreOrderConfig.model_validate(
        {"clientId": CLIENT, "storeId": STORE, "minimumOrderValue": 20.5}
    )

    assert config.minimum_order_value_cents == 2050
    with pytest.raises(ValidationError, match="minimumOrderValue"):
        StoreOrderConfig.model_validate(
            {"clientId": CLIENT, "storeId": STORE, "minimumOrderValue": "20.005"}
        )


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        StoreOrderConfig.model_validate({"clientId": CLIENT, "storeId": STORE, "timeZone": zone})


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"day": 7, "opens": "08:00", "closes": "12:00"}, "day"),
        ({"day": "funday", "opens": "08:00", "closes": "12:00"}, "unknown day 'funday'"),
        ({"day": 1, "opens": "8:00", "closes": "12:00"}, "opens"),
        ({"day": 1, "opens": "08:00", "closes": "24:00"}, "closes"),
    ],
)
def test_malformed_operating_hours_are_refused(hours: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OperatingHours.model_validate(hours)


def test_days_may_be_named() -> None:
    days = [
        OperatingHours.model_validate({"day": day, "opens": "08:00", "closes": "12:00"}).day
        for day in ("mon", "Sunday", "3", 2)
    ]

    assert days == [0, 6, 3, 2]


SAO_PAULO = timezone(timedelta(hours=-3))


@pytest.mark.parametrize(
    ("local", "is_open"),
    [
        (datetime(2025, 5, 23, 17, 59, tzinfo=SAO_PAULO), False),  # Friday before opening
        (datetime(2025, 5, 23, 18, 0, tzinfo=SAO_PAULO), True),  # Friday at opening
        (datetime(2025, 5, 24, 1, 59, tzinfo=SAO_PAULO), True),  # Saturday, past midnight
        (datetime(2025, 5, 24, 2, 0, tzinfo=SAO_PAULO), False),  # Saturday at closing
        (datetime(2025, 5, 24, 19, 0, tzinfo=SAO_PAULO), False),  # Saturday evening: no range
        (datetime(2025, 5, 24, 4, 30, tzinfo=UTC), True),  # 01:30 in São Paulo
    ],
)
def test_an_overnight_range_runs_past_midnight(local: datetime, is_open: bool) -> None:
    assert store_config().is_open_at(local) is is_open


def test_a_range_that_closes_when_it_opens_lasts_all_day() -> None:
    config = StoreOrderConfig(
        client_id=CLIENT,
        store_id=STORE,
        operating_hours=[OperatingHours(day=6, opens="00:00", closes="00:00")],
    )

    assert config.is_open_at(datetime(2025, 5, 25, 23, 59, tzinfo=SAO_PAULO))
    assert not config.is_open_at(datetime(2025, 5, 26, 0, 0, tzinfo=SAO_PAULO))


def test_a_store_without_operating_hours_is_always_open() -> None:
    assert StoreOrderConfig.default_for(CLIENT, STORE).is_open_at(NOW)


def test_no_status_message_is_due_when_notifications_are_off_or_the_template_is_empty() -> None:
    config = StoreOrderConfig.model_validate(
        {"clientId": CLIENT, "storeId": STORE, "notificationTemplates": {"PREPARING": ""}}
    )
    silent = config.model_copy(update={"notify_customer_on_status_change": False})

    assert config.template_for(OrderStatus.PREPARING) is None
    assert (
        config.template_for(OrderStatus.READY) == DEFAULT_NOTIFICATION_TEMPLATES[OrderStatus.READY]
    )
    assert silent.template_for(OrderStatus.READY) is None


def test_templates_render_known_placeholders_and_leave_other_braces_alone() -> None:
    template = "Oi {customer_name}! Pedido #{order_id}: {total}, chega em {delivery_time} {:)}"

    rendered = render_template(
        template, {"customer_name": "Maria", "order_id": "order_1", "total": format_brl(4480)}
    )

    assert rendered == "Oi Maria! Pedido #order_1: R$ 44,80, chega em {delivery_time} {:)}"


def test_a_config_event_must_be_about_the_store_of_its_envelope() -> None:
    with pytest.raises(ContractError, match="differ from the envelope"):
        decode(wire(StoreConfigChanged, storeId="another_store"))


def test_caused_by_copies_correlation_and_store_and_points_at_the_cause() -> None:
    cause = SAMPLES[PlaceOrder]
    assert isinstance(cause, PlaceOrder)

    rejected = OrderRejected.caused_by(
        cause,
        event_id=uuid4(),
        now=NOW,
        command_id=cause.command_id,
        reason_code=ReasonCode.STORE_CLOSED,
        message="A loja está fechada.",
        phone_number=cause.customer.phone_number,
    )

    assert (rejected.correlation_id, rejected.client_id, rejected.store_id) == (
        cause.correlation_id,
        CLIENT,
        STORE,
    )
    assert UUID(rejected.causation_id or "") == cause.event_id


def test_online_payment_methods_are_those_charged_through_asaas() -> None:
    assert [method for method in PaymentMethod if method.is_online] == [
        PaymentMethod.PIX,
        PaymentMethod.CREDIT,
        PaymentMethod.DEBIT,
    ]


@pytest.mark.parametrize(
    "sender",
    ["+5511900000077", "whatsapp:5511900000077", "whatsapp:+0511900000077", "whatsapp:+55 11"],
)
def test_a_store_whatsapp_sender_must_be_a_whatsapp_e164_address(sender: str) -> None:
    with pytest.raises(ValidationError) as refused:
        StoreOrderConfig(client_id=CLIENT, store_id=STORE, whatsapp_sender=sender)

    assert [error["loc"] for error in refused.value.errors()] == [("whatsapp_sender",)]


def test_a_store_whatsapp_sender_is_optional_and_travels_in_its_config() -> None:
    config = StoreOrderConfig(
        client_id=CLIENT, store_id=STORE, whatsapp_sender="whatsapp:+5511900000077"
    )

    assert config.to_wire()["whatsappSender"] == "whatsapp:+5511900000077"
    assert StoreOrderConfig.default_for(CLIENT, STORE).whatsapp_sender is None


def test_a_store_s_approved_templates_are_keyed_by_kind_or_status_and_named_by_content_sid() -> (
    None
):
    templates = {"ORDER_STATUS:READY": "HX" + "a" * 32, "PAYMENT_INSTRUCTIONS": "HX" + "b" * 32}

    config = StoreOrderConfig(client_id=CLIENT, store_id=STORE, whatsapp_templates=templates)

    assert config.to_wire()["whatsappTemplates"] == templates
    assert StoreOrderConfig.default_for(CLIENT, STORE).whatsapp_templates == {}


@pytest.mark.parametrize(
    ("key", "sid"),
    [
        ("ORDER_STATUS:LOST", "HX" + "a" * 32),
        ("SOMETHING", "HX" + "a" * 32),
        ("ORDER_STATUS", "HXshort"),
        ("ORDER_STATUS", "MG" + "a" * 32),
    ],
)
def test_a_store_template_with_an_unknown_key_or_a_malformed_sid_is_refused(
    key: str, sid: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        StoreOrderConfig(client_id=CLIENT, store_id=STORE, whatsapp_templates={key: sid})

    assert [error["loc"][0] for error in refused.value.errors()] == ["whatsapp_templates"]
