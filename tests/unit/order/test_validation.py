"""PlaceOrder validation (DESIGN.md 5.1): each rule refuses with its own reason code."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.order.domain.validation import is_valid_cpf, rejection_of, subtotal_cents
from shared.contracts.orders import PlaceOrder
from shared.contracts.stores import StoreOrderConfig
from tests.builders import customer, item, place_order

# A Tuesday, 23:30 in São Paulo (02:30 UTC on Wednesday).
TUESDAY_NIGHT = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)


def command(method: str = "PIX", **overrides: Any) -> PlaceOrder:
    """An order worth R$ 21,20 plus R$ 5,00 of delivery fee, placed on TUESDAY_NIGHT."""
    fields: dict[str, Any] = {
        "occurred_at": TUESDAY_NIGHT,
        "command_id": "cmd-1",
        "customer": customer(customer_id="c1"),
        "items": [
            item("a", "A", quantity=2, unit_price="10.55"),
            item("b", "B", quantity=1, unit_price="0.10"),
        ],
        "delivery": {"type": "PICKUP", "fee": "5.00"},
    }
    return place_order(method, **(fields | overrides))


def config(**fields: Any) -> StoreOrderConfig:
    return StoreOrderConfig(client_id="rest-1", store_id="store-1", **fields)


def reason(cmd: PlaceOrder, cfg: StoreOrderConfig, now: datetime = TUESDAY_NIGHT) -> str | None:
    rejection = rejection_of(cmd, cfg, now)
    return None if rejection is None else rejection.reason_code.value


def test_subtotal_is_recomputed_in_centavos() -> None:
    assert subtotal_cents(command()) == 2 * 1055 + 10


def test_a_valid_order_passes() -> None:
    assert reason(command(), config()) is None


def test_store_closed_outside_its_hours_in_its_own_time_zone() -> None:
    evenings = [{"day": "TUESDAY", "opens": "18:00", "closes": "23:00"}]
    assert reason(command(), config(operating_hours_check=True, operating_hours=evenings)) == (
        "STORE_CLOSED"
    )


def test_overnight_hours_cover_the_small_hours() -> None:
    overnight = [{"day": "TUESDAY", "opens": "18:00", "closes": "02:00"}]
    assert reason(command(), config(operating_hours_check=True, operating_hours=overnight)) is None


def test_hours_are_not_checked_when_the_store_turned_the_check_off() -> None:
    evenings = [{"day": "MONDAY", "opens": "18:00", "closes": "19:00"}]
    assert reason(command(), config(operating_hours=evenings)) is None


def test_a_payment_method_the_store_does_not_accept_is_refused() -> None:
    cfg = config(accepted_payment_methods=["CASH"])
    assert reason(command("PIX"), cfg) == "PAYMENT_METHOD_NOT_ACCEPTED"


def test_a_subtotal_below_the_minimum_is_refused_even_with_the_delivery_fee() -> None:
    assert reason(command(), config(minimum_order_value=Decimal("21.21"))) == (
        "BELOW_MINIMUM_ORDER_VALUE"
    )
    assert reason(command(), config(minimum_order_value=Decimal("21.20"))) is None


def test_online_payment_needs_a_cpf_with_valid_check_digits() -> None:
    no_cpf = command(customer={"customer_id": "c1", "phone_number": "+5511987654321", "name": "A"})
    assert reason(no_cpf, config()) == "CPF_REQUIRED"
    bad = command(
        customer={
            "customer_id": "c1",
            "phone_number": "+5511987654321",
            "name": "A",
            "cpf": "529.982.247-26",
        }
    )
    assert reason(bad, config()) == "INVALID_CPF"
    assert reason(command("CASH", customer=bad.customer), config()) is None


@pytest.mark.parametrize(
    ("cpf", "valid"),
    [("52998224725", True), ("529.982.247-25", True), ("11111111111", False), ("123", False)],
)
def test_cpf_check_digits(cpf: str, valid: bool) -> None:
    assert is_valid_cpf(cpf) is valid


def test_delivery_without_an_address_is_refused() -> None:
    assert reason(command(delivery={"type": "DELIVERY", "fee": "5"}), config()) == (
        "INVALID_DELIVERY"
    )


def test_an_order_worth_nothing_is_refused() -> None:
    free = [{"item_id": "a", "name": "A", "quantity": 1, "unit_price": "0"}]
    assert reason(command(items=free), config()) == "INVALID_ITEMS"


def test_a_store_id_that_cannot_name_a_topic_is_an_unknown_store() -> None:
    assert reason(command(store_id="loja 1"), config()) == "UNKNOWN_STORE"


def test_an_order_worth_the_maximum_total_passes() -> None:
    banquet = [item(f"i{n}", quantity=10, unit_price="999.99") for n in range(10)]
    fee = {"type": "PICKUP", "fee": "1.00"}  # 10 x 10 x 999,99 + 1,00 = 100.000,00
    assert reason(command("CASH", items=banquet, delivery=fee), config()) is None


def test_an_order_a_centavo_beyond_the_maximum_total_exceeds_a_limit() -> None:
    banquet = [item(f"i{n}", quantity=10, unit_price="999.99") for n in range(10)]
    fee = {"type": "PICKUP", "fee": "1.01"}
    rejection = rejection_of(command("CASH", items=banquet, delivery=fee), config(), TUESDAY_NIGHT)
    assert rejection is not None
    assert rejection.reason_code == "LIMIT_EXCEEDED"
    assert "R$ 100.000,00" in rejection.message
