"""Input events for the notifier's tests, built with the real contracts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.contracts.order_data import OrderItem, OrderSnapshot, StatusHistoryEntry
from shared.contracts.orders import (
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PaymentInstructionsIssued,
)
from shared.contracts.stores import StoreConfigChanged, StoreOrderConfig
from shared.contracts.values import (
    Actor,
    DeliveryType,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    ReasonCode,
)
from tests.builders import PHONE, envelope, now

INVOICE_URL = "https://sandbox.asaas.com/i/k6tqhmnr4bq2"
"""Asaas's hosted payment page of a card charge (named by the charge, not the order)."""


def order_placed(
    order_id: str,
    *,
    client_id: str = "rest-1",
    store_id: str = "store-1",
    phone: str = PHONE,
    total_cents: int = 4480,
    at: datetime | None = None,
    method: PaymentMethod = PaymentMethod.CASH,
    requires_confirmation: bool = True,
    order_number: int | None = None,
) -> OrderPlaced:
    """A new order; by default one whose placement is told: cash, the restaurant confirms."""
    placed = at or now()
    snapshot = OrderSnapshot(
        order_id=order_id,
        client_id=client_id,
        store_id=store_id,
        customer_id="cust-1",
        phone_number=phone,
        customer_name="Maria",
        status=OrderStatus.PENDING,
        items=[
            OrderItem(
                item_id="x-burger",
                name="X-Burger",
                quantity=1,
                unit_price_cents=total_cents,
                total_price_cents=total_cents,
            )
        ],
        subtotal_cents=total_cents,
        delivery_fee_cents=0,
        total_cents=total_cents,
        order_number=order_number,
        payment_method=method,
        payment_status=PaymentStatus.PENDING if method.is_online else PaymentStatus.NOT_APPLICABLE,
        delivery_type=DeliveryType.DELIVERY,
        requires_confirmation=requires_confirmation,
        status_history=[
            StatusHistoryEntry(status=OrderStatus.PENDING, timestamp=placed, by=Actor.SYSTEM)
        ],
        created_at=placed,
        updated_at=placed,
    )
    return OrderPlaced(
        **envelope(client_id=client_id, store_id=store_id, occurred_at=placed),
        order_id=order_id,
        order_number=order_number,
        command_id=f"cmd-{order_id}",
        order=snapshot,
    )


def status_changed(
    order_id: str,
    to_status: OrderStatus,
    *,
    client_id: str = "rest-1",
    store_id: str = "store-1",
    phone: str = PHONE,
    total_cents: int = 4480,
    delivery_time: str | None = None,
    reason: str | None = None,
    reason_code: ReasonCode | None = None,
    store_name: str | None = None,
    order_number: int | None = None,
    delivery_type: DeliveryType | None = DeliveryType.DELIVERY,
    payment_status: PaymentStatus | None = None,
) -> OrderStatusChanged:
    return OrderStatusChanged(
        **envelope(client_id=client_id, store_id=store_id),
        order_id=order_id,
        order_number=order_number,
        from_status=OrderStatus.PENDING,
        to_status=to_status,
        by=Actor.RESTAURANT,
        reason=reason,
        reason_code=reason_code,
        at=now(),
        phone_number=phone,
        customer_name="Maria",
        total_cents=total_cents,
        delivery_time=delivery_time,
        store_name=store_name,
        delivery_type=delivery_type,
        payment_status=payment_status,
    )


def payment_status_changed(
    order_id: str,
    to_status: PaymentStatus,
    *,
    client_id: str = "rest-1",
    store_id: str = "store-1",
    phone: str = PHONE,
    total_cents: int = 4480,
    reason: str | None = None,
    order_number: int | None = None,
    order_status: OrderStatus | None = OrderStatus.PENDING,
    requires_confirmation: bool | None = False,
    **fields: Any,
) -> OrderPaymentStatusChanged:
    return OrderPaymentStatusChanged(
        **envelope(client_id=client_id, store_id=store_id),
        order_id=order_id,
        order_number=order_number,
        order_status=order_status,
        requires_confirmation=requires_confirmation,
        to_status=to_status,
        reason=reason,
        at=now(),
        phone_number=phone,
        customer_name="Maria",
        total_cents=total_cents,
        **({"from_status": PaymentStatus.PENDING} | fields),
    )


def instructions(
    order_id: str,
    method: PaymentMethod,
    *,
    client_id: str = "rest-1",
    store_id: str = "store-1",
    phone: str = PHONE,
    total_cents: int = 123450,
    expires_at: datetime | None = None,
    order_number: int | None = None,
    qr_code_url: str | None = None,
) -> PaymentInstructionsIssued:
    pix = method is PaymentMethod.PIX
    return PaymentInstructionsIssued(
        **envelope(client_id=client_id, store_id=store_id),
        order_id=order_id,
        order_number=order_number,
        pix_qr_code_url=qr_code_url if pix else None,
        payment_method=method,
        phone_number=phone,
        customer_name="Maria",
        total_cents=total_cents,
        pix_payload="00020126580014BR.GOV.BCB.PIX0136pix-key-123" if pix else None,
        pix_qr_code_image="iVBORw0KGgo=" if pix else None,
        invoice_url=None if pix else INVOICE_URL,
        expires_at=expires_at or now() + timedelta(minutes=15),
    )


def rejected(
    *, client_id: str = "rest-1", store_id: str = "store-1", phone: str | None = PHONE
) -> OrderRejected:
    return OrderRejected(
        **envelope(client_id=client_id, store_id=store_id),
        command_id="cmd-x",
        reason_code=ReasonCode.STORE_CLOSED,
        message="A loja está fechada agora. Funcionamos das 18h às 23h.",
        phone_number=phone,
        customer_name="Maria",
    )


def config_changed(config: StoreOrderConfig) -> StoreConfigChanged:
    return StoreConfigChanged(
        **envelope(client_id=config.client_id, store_id=config.store_id), config=config
    )
