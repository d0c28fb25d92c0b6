"""A failed online payment, then another method (DESIGN.md section 5.9), end to end: every
service a real process, the customer paying through the Asaas emulator's sandbox and reading
WhatsApp on the Twilio emulator."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.contracts.orders import (
    ChangePaymentMethod,
    OrderPaymentStatusChanged,
    OrderPlaced,
)
from shared.contracts.pos import PosOrderReceived
from tests.builders import envelope
from tests.system.conftest import Restaurant
from tests.system.stories import CARD, CONFIRMED, PAID, PIX
from tests.system.test_end_to_end import conversation, customer_pays, one_charge, state
from tests.waiting import eventually

pytestmark = pytest.mark.integration

STORE_TIME = ZoneInfo("America/Sao_Paulo")


async def pix_order_whose_payment_failed(restaurant: Restaurant) -> tuple[OrderPlaced, str]:
    """A PIX order whose charge expired unpaid; and its PIX instructions as the customer read
    them (the code and its expiry come from Asaas)."""
    async with restaurant.chatbot() as chatbot:
        placed = await chatbot.place(restaurant.order("PIX"))
    assert isinstance(placed, OrderPlaced), placed
    charge = await one_charge(restaurant, placed.order_id)
    await conversation(restaurant, 1)
    details = (await restaurant.order_document(placed.order_id))["paymentDetails"]
    pix = PIX.format(
        number=placed.order_number, expiry=shown(details), pix_code=details["pixPayload"]
    )
    overdue = await restaurant.asaas.post(f"/v3/sandbox/payment/{charge['id']}/overdue")
    assert overdue.status_code == 200, overdue.text
    await state(restaurant, placed.order_id, ("PENDING", "FAILED"))
    return placed, pix


async def switch(restaurant: Restaurant, order_id: str, method: str) -> OrderPaymentStatusChanged:
    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.change_payment_method(
            ChangePaymentMethod(
                **envelope(client_id=restaurant.client_id, store_id=restaurant.store_id),
                order_id=order_id,
                payment_method=method,
            )
        )
    assert isinstance(outcome, OrderPaymentStatusChanged), outcome
    return outcome


def shown(details: dict[str, Any]) -> str:
    """When the instructions stop being accepted, in the store's time, as the customer reads it."""
    expires = datetime.fromisoformat(details["expiresAt"]).astimezone(STORE_TIME)
    return f"{expires:%d/%m/%Y} às {expires:%H:%M}"


async def new_charge(restaurant: Restaurant, order_id: str) -> dict[str, Any]:
    """The charge of the order's second attempt (`externalReference` `<orderId>:2`)."""
    return await one_charge(restaurant, f"{order_id}:2")


def failed_text(number: int | None, others: str) -> str:
    return (
        f"Não foi possível confirmar o pagamento de R$ 44,80 do pedido #{number}. O prazo para "
        f"pagamento terminou. O pedido continua aberto: você pode pagar com {others}."
    )


async def test_pix_payment_fails_the_customer_switches_to_card_pays_and_the_order_reaches_the_pos(
    restaurant: Restaurant,
) -> None:
    await restaurant.onboard(requiresConfirmation=False)
    async with restaurant.pos() as pos:
        placed, pix = await pix_order_whose_payment_failed(restaurant)
        order_id, number = placed.order_id, placed.order_number

        switched = await switch(restaurant, order_id, "CREDIT")
        assert (switched.from_status, switched.to_status) == ("FAILED", "PENDING")
        card = await new_charge(restaurant, order_id)
        assert card["billingType"] == "CREDIT_CARD"
        assert await restaurant.charges(order_id) == []  # the PIX charge was deleted
        await customer_pays(restaurant, card)

        received = await anext(aiter(pos.messages()))
    assert isinstance(received, PosOrderReceived)
    assert (received.order_id, received.order.payment_method) == (order_id, "CREDIT")
    assert received.order.payment_status == "PAID"
    await state(restaurant, order_id, ("CONFIRMED", "PAID"))
    document = await restaurant.order_document(order_id)
    assert document["paymentId"] == card["id"]
    details = document["paymentDetails"]
    assert details["invoiceUrl"] == card["invoiceUrl"]
    assert shown(details) == f"{date.fromisoformat(card['dueDate']):%d/%m/%Y} às 23:59"

    expected = [
        pix,
        failed_text(number, "cartão de crédito, cartão de débito ou dinheiro"),
        CARD.format(number=number, link=card["invoiceUrl"], expiry=shown(details)),
        PAID.format(number=number),
        CONFIRMED.format(number=number),
    ]
    messages = await conversation(restaurant, len(expected))
    assert messages == expected
    assert not any(order_id in message for message in messages)


async def test_pix_payment_fails_the_customer_switches_to_cash_and_the_restaurant_confirms(
    restaurant: Restaurant,
) -> None:
    await restaurant.onboard(
        requiresConfirmation=True,
        autoConfirmationTimeout=30,
        acceptedPaymentMethods=["PIX", "CASH"],
    )
    async with restaurant.pos() as pos:
        placed, pix = await pix_order_whose_payment_failed(restaurant)
        order_id, number = placed.order_id, placed.order_number

        switched = await switch(restaurant, order_id, "CASH")
        assert (switched.to_status, switched.payment_method) == ("NOT_APPLICABLE", "CASH")
        received = await anext(aiter(pos.messages()))
        assert isinstance(received, PosOrderReceived)
        assert (received.awaiting_confirmation, received.order.payment_method) == (True, "CASH")
        await pos.confirm(order_id)
    await state(restaurant, order_id, ("CONFIRMED", "NOT_APPLICABLE"))

    async def charge_deleted() -> bool:
        return await restaurant.charges(order_id) == []

    await eventually(charge_deleted, what="the PIX charge deleted on Asaas")
    expected = [
        pix,
        failed_text(number, "dinheiro"),
        f"Combinado! O pedido #{number} (R$ 44,80) será pago em dinheiro e já foi enviado para "
        "a loja.",
        CONFIRMED.format(number=number),
    ]
    messages = await conversation(restaurant, len(expected))
    assert messages == expected
    assert not any(order_id in message for message in messages)
