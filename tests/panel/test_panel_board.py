"""The board's pure rules: columns by status, what a card shows, the buttons it offers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.panel import domain
from shared.contracts.order_data import OrderSnapshot
from shared.contracts.pos import PosUpdateRejected
from shared.contracts.values import OrderStatus, PosStatus, ReasonCode

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def snapshot(status: str = "PENDING", **fields: Any) -> OrderSnapshot:
    document: dict[str, Any] = {
        "orderId": f"o-{uuid.uuid4().hex[:8]}",
        "orderNumber": 7,
        "clientId": "c1",
        "storeId": "s1",
        "customerId": "cust-1",
        "phoneNumber": "+5511987654321",
        "customerName": "Ana Maria Souza",
        "status": status,
        "items": [
            {
                "itemId": "x",
                "name": "X-Burger",
                "quantity": 2,
                "unitPriceCents": 1890,
                "totalPriceCents": 3780,
                "customizations": {"adicionar": ["bacon"], "remover": ["cebola"]},
                "notes": "bem passado",
            }
        ],
        "subtotalCents": 3780,
        "deliveryFeeCents": 700,
        "totalCents": 4480,
        "paymentMethod": "CASH",
        "paymentStatus": "NOT_APPLICABLE",
        "deliveryType": "DELIVERY",
        "deliveryAddress": {"street": "Rua A", "number": "12", "neighborhood": "Centro"},
        "requiresConfirmation": True,
        "confirmationTimeout": (T0 + timedelta(minutes=5)).isoformat(),
        "statusHistory": [],
        "createdAt": T0.isoformat(),
        "updatedAt": T0.isoformat(),
    }
    return OrderSnapshot.model_validate(document | fields)


def refused(order: OrderSnapshot, current: OrderStatus) -> PosUpdateRejected:
    return PosUpdateRejected(
        event_id=uuid.uuid4(),
        occurred_at=T0,
        correlation_id="turn-1",
        client_id="c1",
        store_id="s1",
        order_id=order.order_id,
        reason=ReasonCode.TRANSITION_NOT_ALLOWED,
        current_status=current,
    )


def test_a_card_shows_number_first_name_items_address_payment_and_total_in_reais() -> None:
    card = domain.card(snapshot())

    assert card.number == "#7"
    assert card.first_name == "Ana"
    (item,) = card.items
    assert (item.quantity, item.name, item.add, item.remove, item.notes) == (
        2,
        "X-Burger",
        ("bacon",),
        ("cebola",),
        "bem passado",
    )
    assert card.delivery == "Entrega"
    assert card.address == "Rua A, 12 - Centro"
    assert card.payment == "Dinheiro na entrega · cobrar na entrega"
    assert card.total == "R$ 44,80"


def test_a_pending_order_offers_confirm_and_reject_and_counts_down_to_its_deadline() -> None:
    card = domain.card(snapshot())

    assert card.can_confirm
    assert card.can_cancel
    assert card.confirm_by == (T0 + timedelta(minutes=5)).isoformat()
    assert card.next_statuses == ()


def test_an_unpaid_online_order_offers_nothing_the_kitchen_could_not_do() -> None:
    card = domain.card(snapshot(paymentMethod="PIX", paymentStatus="PENDING"))

    assert card.awaiting_payment
    assert (card.can_confirm, card.can_cancel, card.confirm_by) == (False, False, None)


def test_next_statuses_start_with_the_natural_next_and_a_pickup_skips_delivery() -> None:
    delivered = domain.next_statuses(snapshot("READY"))
    picked_up = domain.next_statuses(snapshot("READY", deliveryType="PICKUP"))

    assert [choice.status for choice in delivered] == [
        PosStatus.DELIVERING,
        PosStatus.DELIVERED,
        PosStatus.COMPLETED,
    ]
    assert [choice.status for choice in picked_up] == [PosStatus.COMPLETED]
    assert domain.next_statuses(snapshot("CANCELLED")) == ()


def test_a_refusal_is_shown_while_the_order_is_still_where_it_was_refused() -> None:
    order = snapshot("PREPARING")

    shown = domain.card(order, refused(order, OrderStatus.PREPARING))
    stale = domain.card(order, refused(order, OrderStatus.CONFIRMED))

    assert shown.refusal == "Mudança não permitida: o pedido está em preparo."
    assert stale.refusal is None


def test_the_board_puts_each_order_once_in_its_status_column_newest_first() -> None:
    older = snapshot("CONFIRMED", createdAt=T0.isoformat())
    newer = snapshot("CONFIRMED", createdAt=(T0 + timedelta(minutes=1)).isoformat())
    done = snapshot("COMPLETED")

    board = domain.board([older, newer, done, older])

    columns = {column.key: cards for column, cards in board.columns}
    assert [card.order_id for card in columns["confirmados"]] == [newer.order_id, older.order_id]
    assert [card.order_id for card in columns["finalizados"]] == [done.order_id]
    assert board.count == 3


def test_totals_per_status_count_orders_and_sum_their_money() -> None:
    totals = domain.totals_by_status(
        [snapshot("CONFIRMED"), snapshot("CONFIRMED"), snapshot("CANCELLED")]
    )

    assert [(line.status_label, line.count, line.total) for line in totals] == [
        ("Confirmado", 2, "R$ 89,60"),
        ("Cancelado", 1, "R$ 44,80"),
    ]


def test_a_history_search_is_an_order_number_or_a_phone_with_brazils_code_by_default() -> None:
    assert domain.search_of("#12") == domain.Search(number=12)
    assert domain.search_of(" 12 ") == domain.Search(number=12)
    assert domain.search_of("(11) 98765-4321") == domain.Search(phone="+5511987654321")
    assert domain.search_of("+351 912 345 678") == domain.Search(phone="+351912345678")
    assert domain.search_of("Ana") == domain.Search()
