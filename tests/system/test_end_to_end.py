"""The source design's flows (3.1 to 3.4, 6.3, 7.3) end to end, every service a real process.

The test plays only the outside world: the chatbot and the POS through the clients of
`shared/clients`, the customer paying through the Asaas emulator's sandbox, and it reads what
the customer got on WhatsApp from the Twilio emulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.contracts.orders import CancelOrder, OrderPlaced, OrderStatusChanged
from shared.contracts.pos import PosOrderCancelled, PosOrderReceived
from shared.contracts.values import PosStatus
from tests.builders import envelope
from tests.system.conftest import Restaurant, System
from tests.waiting import eventually

pytestmark = pytest.mark.integration

TOTAL = "R$ 44,80"
KITCHEN = (PosStatus.PREPARING, PosStatus.READY, PosStatus.DELIVERING, PosStatus.DELIVERED,
           PosStatus.COMPLETED)  # fmt: skip


async def placed(restaurant: Restaurant, method: str, delivery: str = "PICKUP") -> str:
    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.place(restaurant.order(method, delivery=delivery))
    assert isinstance(outcome, OrderPlaced), outcome
    return outcome.order_id


async def one_charge(restaurant: Restaurant, order_id: str) -> dict[str, Any]:
    async def charged() -> bool:
        return len(await restaurant.charges(order_id)) == 1

    await eventually(charged, what="the order's charge on Asaas")
    (charge,) = await restaurant.charges(order_id)
    return charge


async def customer_pays(restaurant: Restaurant, charge: dict[str, Any]) -> None:
    response = await restaurant.asaas.post(f"/v3/sandbox/payment/{charge['id']}/confirm")
    assert response.status_code == 200, response.text


async def state(restaurant: Restaurant, order_id: str, expected: tuple[str, str]) -> None:
    async def reached() -> bool:
        document = await restaurant.order_document(order_id)
        return (document["status"], document["paymentStatus"]) == expected

    await eventually(reached, timeout=40, what=f"order {order_id} reaches {expected}")


async def conversation(
    restaurant: Restaurant, count: int, *, settle: Callable[[list[str]], bool] | None = None
) -> list[str]:
    """The customer's WhatsApp messages, once `count` of them arrived."""
    found: list[str] = []

    async def arrived() -> bool:
        found[:] = await restaurant.whatsapp()
        return len(found) >= count and (settle is None or settle(found))

    await eventually(arrived, timeout=40, what=f"{count} WhatsApp messages")
    return found


def in_order(messages: list[str], fragments: list[str]) -> None:
    """Each message holds its fragment, one message per fragment, in this order."""
    assert len(messages) == len(fragments), "\n".join(messages)
    for message, fragment in zip(messages, fragments, strict=True):
        assert fragment in message, f"{fragment!r} not in {message!r}"


async def test_pix_order_paid_confirmed_by_the_restaurant_and_delivered(
    restaurant: Restaurant,
) -> None:
    """Flows 3.1 (manual confirmation), 3.2, 3.4 and 6.3."""
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    async with restaurant.pos() as pos:
        order_id = await placed(restaurant, "PIX", "DELIVERY")
        charge = await one_charge(restaurant, order_id)
        assert charge["billingType"] == "PIX"
        assert str(charge["value"]) in ("44.8", "44.80")
        await customer_pays(restaurant, charge)

        received = await anext(aiter(pos.messages()))
        assert isinstance(received, PosOrderReceived)
        assert received.order_id == order_id
        assert received.awaiting_confirmation is True
        assert received.order.payment_status == "PAID"
        assert received.order.total_cents == 4480
        await pos.confirm(order_id)
        for status in KITCHEN:
            await pos.update_status(
                order_id, status, "25 minutos" if status is PosStatus.DELIVERING else None
            )
    await state(restaurant, order_id, ("COMPLETED", "PAID"))

    document = await restaurant.order_document(order_id)
    assert [entry["status"] for entry in document["statusHistory"]] == [
        "PENDING", "CONFIRMED", "PREPARING", "READY", "DELIVERING", "DELIVERED", "COMPLETED"
    ]  # fmt: skip
    assert document["paymentId"] == charge["id"]
    messages = await conversation(restaurant, 8)
    in_order(
        messages,
        [
            document["paymentDetails"]["pixPayload"],
            "aguardando a confirmação do restaurante",
            "foi confirmado",
            "está sendo preparado",
            "está pronto",
            "chegará em aproximadamente 25 minutos",
            "foi entregue",
            "foi concluído",
        ],
    )
    assert "foi recebido e está aguardando o pagamento" in messages[0]
    assert TOTAL in messages[0]


async def test_pix_order_the_customer_cancels_before_paying_has_its_charge_deleted_and_owes_nothing(
    restaurant: Restaurant,
) -> None:
    await restaurant.onboard()
    order_id = await placed(restaurant, "PIX")
    await one_charge(restaurant, order_id)

    async with restaurant.chatbot() as chatbot:
        cancel = CancelOrder(
            **envelope(client_id=restaurant.client_id, store_id=restaurant.store_id),
            order_id=order_id,
            reason="Desisti",
        )
        outcome = await chatbot.cancel(cancel)
    assert isinstance(outcome, OrderStatusChanged)
    assert outcome.to_status == "CANCELLED"

    await state(restaurant, order_id, ("CANCELLED", "CANCELLED"))
    assert await restaurant.charges(order_id) == []  # deleted on Asaas
    messages = await conversation(restaurant, 1, settle=lambda m: "foi cancelado" in m[-1])
    assert not any("Não foi possível confirmar o pagamento" in message for message in messages)


async def test_cash_order_confirmed_at_once_goes_straight_to_the_kitchen(
    restaurant: Restaurant,
) -> None:
    """Flow 3.1 with automatic confirmation, paid on delivery."""
    await restaurant.onboard(requiresConfirmation=False)
    async with restaurant.pos() as pos:
        order_id = await placed(restaurant, "CASH")
        received = await anext(aiter(pos.messages()))
    assert isinstance(received, PosOrderReceived)
    assert received.awaiting_confirmation is False
    await state(restaurant, order_id, ("CONFIRMED", "NOT_APPLICABLE"))
    assert await restaurant.charges(order_id) == []
    # No "received, awaiting the restaurant": the store confirmed it at once.
    in_order(await conversation(restaurant, 1), ["foi confirmado"])


async def test_paid_order_the_restaurant_never_confirms_is_cancelled_and_refunded(
    restaurant: Restaurant,
) -> None:
    """Flows 3.3 and 7.3: the refund deadline passes, Asaas refunds, the customer is told."""
    await restaurant.onboard(
        requiresConfirmation=True,
        autoConfirmationTimeout=0,
        refundUnconfirmedOrders=True,
        refundTimeout=0.05,  # three seconds
    )
    async with restaurant.pos() as pos:
        order_id = await placed(restaurant, "CREDIT")
        charge = await one_charge(restaurant, order_id)
        assert charge["billingType"] == "CREDIT_CARD"
        await customer_pays(restaurant, charge)
        messages = pos.messages()
        assert isinstance(await anext(messages), PosOrderReceived)
        cancelled = await anext(messages)
    assert isinstance(cancelled, PosOrderCancelled)
    assert cancelled.reason == "CONFIRMATION_TIMEOUT"
    await state(restaurant, order_id, ("REFUNDED", "REFUNDED"))

    (refunded,) = await restaurant.charges(order_id)
    assert refunded["status"] == "REFUNDED"
    document = await restaurant.order_document(order_id)
    assert document["cancellationReason"] == "CONFIRMATION_TIMEOUT"
    in_order(
        await conversation(restaurant, 4),
        [
            "foi recebido e está aguardando o pagamento",
            f"Recebemos o pagamento de {TOTAL}",
            "Pedimos desculpas pelo inconveniente",
            f"O reembolso de {TOTAL}",
        ],
    )


async def test_cash_order_the_restaurant_never_confirms_is_cancelled_at_its_deadline(
    restaurant: Restaurant,
) -> None:
    """Flow 3.1, manual confirmation timing out without online payment."""
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=0.05)
    async with restaurant.pos() as pos:
        order_id = await placed(restaurant, "CASH")
        messages = pos.messages()
        assert isinstance(await anext(messages), PosOrderReceived)
        cancelled = await anext(messages)
    assert isinstance(cancelled, PosOrderCancelled)
    await state(restaurant, order_id, ("CANCELLED", "NOT_APPLICABLE"))
    texts = await conversation(restaurant, 2)
    in_order(texts, ["foi recebido", "foi cancelado"])
    assert "não pôde confirmar seu pedido no momento" in texts[1]


async def test_a_store_that_turned_status_messages_off_sends_only_payment_messages(
    restaurant: Restaurant, system: System
) -> None:
    """Flow 3.2 with `notifyCustomerOnStatusChange: false`."""
    await restaurant.onboard(requiresConfirmation=False, notifyCustomerOnStatusChange=False)
    order_id = await placed(restaurant, "PIX")
    await customer_pays(restaurant, await one_charge(restaurant, order_id))
    await state(restaurant, order_id, ("CONFIRMED", "PAID"))
    # A later order's payment message marks the point by which any status message would be out.
    second = await placed(restaurant, "PIX")
    await one_charge(restaurant, second)
    texts = await conversation(
        restaurant, 3, settle=lambda found: sum("Para pagar" in text for text in found) == 2
    )
    in_order(texts, ["Para pagar", "Recebemos o pagamento", "Para pagar"])


async def test_every_service_counts_the_traffic_on_its_metrics(
    restaurant: Restaurant, system: System
) -> None:
    """An order's journey moves the counters a dashboard and the alerts read (the processes
    serve the whole module, so each counter is read before and after), and every consumer
    reports its lag."""
    expectations = {
        "order": [
            "order_orders_placed_total",
            "messages_handled_total",
            "outbox_records_published_total",
            "message_handler_seconds_count",
        ],
        "payment": ["payments_created_total", "payment_webhooks_received_total"],
        "notifier": ["notifier_notifications_total", "messages_handled_total"],
        "scheduler": ["timers_fired_total", "timers_scheduled_total"],
    }
    before = {
        (name, metric): system.processes[name].metric(metric)
        for name, metrics in expectations.items()
        for metric in metrics
    }
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=0.02)
    order_id = await placed(restaurant, "PIX")
    await customer_pays(restaurant, await one_charge(restaurant, order_id))
    await state(restaurant, order_id, ("REFUNDED", "REFUNDED"))

    moved = {key: system.processes[key[0]].metric(key[1]) - value for key, value in before.items()}
    assert all(delta > 0 for delta in moved.values()), moved
    consumers = {
        "order": {"order-commands", "order-payments", "order-timers"},
        "payment": {"payment"},
        "notifier": {"notifier"},
        "scheduler": {"scheduler"},
    }
    for name, expected in consumers.items():
        async with httpx.AsyncClient(base_url=system.processes[name].url, timeout=5) as http:
            exposition = (await http.get("/metrics")).text
        lags = {
            sample.labels["consumer"]: sample.value
            for family in text_string_to_metric_families(exposition)
            for sample in family.samples
            if sample.name == "consumer_lag_messages"
        }
        assert expected <= lags.keys(), (name, lags)
        assert all(lag >= 0 for lag in lags.values()), (name, lags)


async def test_every_line_a_service_logs_is_one_json_object_and_none_is_per_message(
    restaurant: Restaurant, system: System
) -> None:
    """What an on-call engineer's log search reads: each service's lines, the consumers'
    included, are JSON objects of that service, and a message handled writes none by itself
    (FastStream's access lines, "Received" and "Processed", are DEBUG)."""
    await restaurant.onboard(requiresConfirmation=False)
    order_id = await placed(restaurant, "CASH")
    await state(restaurant, order_id, ("CONFIRMED", "NOT_APPLICABLE"))
    await conversation(restaurant, 1)

    for name in ("order", "payment", "notifier", "scheduler", "panel"):
        lines = system.processes[name].log_path.read_text(errors="replace").splitlines()
        assert not [line for line in lines if not line.startswith("{")], name
        logged = [json.loads(line) for line in lines]
        assert all(line["service"] == name for line in logged), name
        assert not [line for line in logged if line["message"] in ("Received", "Processed")]
