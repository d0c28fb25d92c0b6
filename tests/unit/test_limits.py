"""The contracts' limits: a value at a limit is read, one beyond it is refused naming the field;
what a third party said is cut instead."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts.limits import (
    MAX_ADDRESS_PART_LENGTH,
    MAX_CUSTOMIZATIONS,
    MAX_DELIVERY_TIME_LENGTH,
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_ITEMS,
    MAX_JSON_DEPTH,
    MAX_MESSAGE_LENGTH,
    MAX_MINUTES,
    MAX_NAME_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_OPERATING_HOURS,
    MAX_PIX_PAYLOAD_LENGTH,
    MAX_QUANTITY,
    MAX_REASON_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_TEMPLATE_LENGTH,
    MAX_TIMER_PAYLOAD_ENTRIES,
    error_fields,
    nested_deeper_than,
    only_limits_exceeded,
)
from shared.contracts.notifications import NotificationFailed
from shared.contracts.orders import PlaceOrder
from shared.contracts.payments import PaymentFailed, PaymentInstructions
from shared.contracts.pos import PosOrderRejected, PosOrderStatusUpdated
from shared.contracts.scheduler import ScheduleTimer
from shared.contracts.stores import StoreOrderConfig
from tests.builders import envelope, item, message_fields, place_order, schedule_timer

ADDRESS = {"street": "Rua Augusta", "number": 1500, "city": "São Paulo", "state": "SP"}


def order_wire() -> dict[str, Any]:
    """A valid delivery order as the chatbot sends it (camelCase, reais as text)."""
    wire = place_order("CASH", delivery={"type": "DELIVERY", "fee": "5.00"}).to_wire()
    wire["delivery"]["address"] = dict(ADDRESS)
    return wire


def with_value(wire: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`wire` with the value at the dotted `path` (list indexes as numbers) replaced."""
    *parents, last = path.split(".")
    node: Any = wire
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    return wire


def refusal_of(wire: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as refused:
        PlaceOrder.model_validate(wire)
    return [dict(error) for error in refused.value.errors()]


# (wire path, value at the limit, value beyond it)
PLACE_ORDER_LIMITS: list[tuple[str, Any, Any]] = [
    ("items.0.quantity", MAX_QUANTITY, MAX_QUANTITY + 1),
    ("items.0.unitPrice", "10000.00", "10000.01"),
    ("delivery.fee", "1000.00", "1000.01"),
    ("items.0.name", "x" * MAX_NAME_LENGTH, "x" * (MAX_NAME_LENGTH + 1)),
    ("items.0.itemId", "i" * MAX_REFERENCE_LENGTH, "i" * (MAX_REFERENCE_LENGTH + 1)),
    ("items.0.notes", "n" * MAX_NOTE_LENGTH, "n" * (MAX_NOTE_LENGTH + 1)),
    ("items.0.customizations", {"adicionar": ["bacon"] * MAX_CUSTOMIZATIONS},
     {"adicionar": ["bacon"] * (MAX_CUSTOMIZATIONS + 1)}),
    ("items.0.customizations", {"remover": ["c" * MAX_NAME_LENGTH]},
     {"remover": ["c" * (MAX_NAME_LENGTH + 1)]}),
    ("delivery.notes", "n" * MAX_NOTE_LENGTH, "n" * (MAX_NOTE_LENGTH + 1)),
    ("delivery.address.street", "r" * MAX_ADDRESS_PART_LENGTH,
     "r" * (MAX_ADDRESS_PART_LENGTH + 1)),
    ("customer.name", "a" * MAX_NAME_LENGTH, "a" * (MAX_NAME_LENGTH + 1)),
    ("customer.email", "e" * (MAX_EMAIL_LENGTH - 6) + "@ex.br",
     "e" * (MAX_EMAIL_LENGTH - 5) + "@ex.br"),
    ("customer.customerId", "c" * MAX_REFERENCE_LENGTH, "c" * (MAX_REFERENCE_LENGTH + 1)),
    ("commandId", "k" * MAX_REFERENCE_LENGTH, "k" * (MAX_REFERENCE_LENGTH + 1)),
    ("correlationId", "t" * MAX_REFERENCE_LENGTH, "t" * (MAX_REFERENCE_LENGTH + 1)),
    ("clientId", "r" * MAX_ID_LENGTH, "r" * (MAX_ID_LENGTH + 1)),
    ("storeId", "s" * MAX_ID_LENGTH, "s" * (MAX_ID_LENGTH + 1)),
]  # fmt: skip


@pytest.mark.parametrize(("path", "at_limit", "beyond"), PLACE_ORDER_LIMITS)
def test_a_place_order_at_a_limit_is_read_and_beyond_it_is_refused_naming_the_field(
    path: str, at_limit: Any, beyond: Any
) -> None:
    PlaceOrder.model_validate(with_value(order_wire(), path, at_limit))

    errors = refusal_of(with_value(order_wire(), path, beyond))

    assert only_limits_exceeded(errors)
    assert all(field.startswith(path) for field in error_fields(errors))


def test_an_order_of_a_hundred_lines_is_read_and_of_a_hundred_and_one_refused() -> None:
    lines = [item(f"i{n}", quantity=1) for n in range(MAX_ITEMS)]
    assert len(place_order(items=lines).items) == MAX_ITEMS

    errors = refusal_of(with_value(order_wire(), "items", [*lines, item("one-more")]))

    assert [(e["type"], e["loc"]) for e in errors] == [("too_long", ("items",))]


def test_a_quantity_beyond_int64_is_refused_as_a_limit_not_left_to_the_database() -> None:
    errors = refusal_of(with_value(order_wire(), "items.0.quantity", 10**19))

    assert only_limits_exceeded(errors)
    assert error_fields(errors) == ["items.0.quantity"]


def test_a_price_with_a_huge_number_of_digits_is_refused_as_a_limit() -> None:
    errors = refusal_of(with_value(order_wire(), "items.0.unitPrice", "9" * 400 + ".00"))

    assert only_limits_exceeded(errors)


def test_a_malformed_value_is_not_taken_for_a_limit_exceeded() -> None:
    three_places = refusal_of(with_value(order_wire(), "items.0.unitPrice", "18.905"))
    beyond_and_malformed = refusal_of(
        with_value(with_value(order_wire(), "items.0.quantity", 1000), "delivery.fee", "1.001")
    )

    assert not only_limits_exceeded(three_places)
    assert not only_limits_exceeded(beyond_and_malformed)
    assert not only_limits_exceeded([])


def test_the_field_paths_of_a_refusal_never_carry_the_input() -> None:
    secret = "x" * (MAX_NAME_LENGTH + 1)

    errors = refusal_of(with_value(order_wire(), "customer.name", secret))

    assert error_fields(errors) == ["customer.name"]
    assert secret not in repr(error_fields(errors))


def config(**fields: Any) -> StoreOrderConfig:
    return StoreOrderConfig.model_validate({"clientId": "rest-1", "storeId": "store-1"} | fields)


# (config field, value at the limit, value beyond it)
STORE_CONFIG_LIMITS: list[tuple[str, Any, Any]] = [
    ("storeName", "s" * MAX_NAME_LENGTH, "s" * (MAX_NAME_LENGTH + 1)),
    ("notificationTemplates", {"READY": "t" * MAX_TEMPLATE_LENGTH},
     {"READY": "t" * (MAX_TEMPLATE_LENGTH + 1)}),
    ("paymentTimeout", MAX_MINUTES, MAX_MINUTES + 0.1),
    ("refundTimeout", MAX_MINUTES, MAX_MINUTES + 1),
    ("autoConfirmationTimeout", MAX_MINUTES, 10**30),
    ("minimumOrderValue", "100000.00", "100000.01"),
    ("operatingHours", [{"day": 0, "opens": "10:00", "closes": "11:00"}] * MAX_OPERATING_HOURS,
     [{"day": 0, "opens": "10:00", "closes": "11:00"}] * (MAX_OPERATING_HOURS + 1)),
]  # fmt: skip


@pytest.mark.parametrize(("field", "at_limit", "beyond"), STORE_CONFIG_LIMITS)
def test_a_store_config_at_a_limit_is_read_and_beyond_it_is_refused_naming_the_field(
    field: str, at_limit: Any, beyond: Any
) -> None:
    config(**{field: at_limit})

    with pytest.raises(ValidationError) as refused:
        config(**{field: beyond})

    errors = refused.value.errors()
    assert only_limits_exceeded(errors)
    assert all(path.startswith(field) for path in error_fields(errors))


def test_a_pos_reason_and_delivery_time_have_a_maximum_length() -> None:
    update = message_fields(order_id="o-1")
    PosOrderRejected.model_validate(update | {"reason": "r" * MAX_REASON_LENGTH})
    PosOrderStatusUpdated.model_validate(
        update | {"status": "DELIVERING", "delivery_time": "d" * MAX_DELIVERY_TIME_LENGTH}
    )

    with pytest.raises(ValidationError, match="reason"):
        PosOrderRejected.model_validate(update | {"reason": "r" * (MAX_REASON_LENGTH + 1)})
    with pytest.raises(ValidationError, match="delivery_time"):
        PosOrderStatusUpdated.model_validate(
            update | {"status": "DELIVERING", "delivery_time": "d" * (MAX_DELIVERY_TIME_LENGTH + 1)}
        )


def test_a_pix_code_beyond_its_limit_is_refused_never_cut() -> None:
    PaymentInstructions(pix_payload="0" * MAX_PIX_PAYLOAD_LENGTH)

    with pytest.raises(ValidationError, match="pix_payload"):
        PaymentInstructions(pix_payload="0" * (MAX_PIX_PAYLOAD_LENGTH + 1))


def test_what_asaas_or_twilio_said_is_cut_at_its_limit_so_the_fact_is_still_told() -> None:
    failed = PaymentFailed.model_validate(
        envelope(order_id="o-1", payment_id="pay_1", reason="E" * 5000, message="m" * 5000)
    )
    undelivered = NotificationFailed.model_validate(
        envelope(
            source_event_id="00000000-0000-0000-0000-000000000001",
            kind="ORDER_STATUS",
            to="+5511987654321",
            error_code="9" * 5000,
            message="t" * 5000,
            permanent=True,
        )
    )

    assert failed.message == "m" * MAX_MESSAGE_LENGTH
    assert failed.reason == "E" * MAX_REFERENCE_LENGTH
    assert undelivered.message == "t" * MAX_MESSAGE_LENGTH
    assert undelivered.error_code == "9" * MAX_REFERENCE_LENGTH


def test_a_timer_payload_has_a_maximum_number_of_entries() -> None:
    entries = {f"k{n}": "v" for n in range(MAX_TIMER_PAYLOAD_ENTRIES)}
    schedule_timer("t-1", envelope()["occurred_at"], payload=entries)

    with pytest.raises(ValidationError, match="payload"):
        schedule_timer("t-1", envelope()["occurred_at"], payload=entries | {"one": "more"})
    with pytest.raises(ValidationError, match="payload"):
        ScheduleTimer.model_validate(
            envelope(
                timer_id="t-1",
                due_at=envelope()["occurred_at"],
                purpose="PAYMENT_DEADLINE",
                payload={"k": "v" * (MAX_REFERENCE_LENGTH + 1)},
            )
        )


def test_json_nested_to_the_limit_is_measured_within_it_and_one_level_more_beyond() -> None:
    at_limit: Any = 1
    for level in range(MAX_JSON_DEPTH):
        at_limit = [at_limit] if level % 2 else {"a": at_limit}

    assert not nested_deeper_than(at_limit)
    assert nested_deeper_than([at_limit])
    assert not nested_deeper_than(place_order("PIX").to_wire())
