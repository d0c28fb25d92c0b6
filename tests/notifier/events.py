"""Input events for the notifier's tests, built with the real contracts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.contracts.orders import (
    OrderItem,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderSnapshot,
    OrderStatusChanged,
    PaymentInstructionsIssued,
    StatusHistoryEntry,
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


def order_placed(
    order_id: str,
    *,
    client_id: str = "rest-1",
    store_id: str = "store-1",
    phone: str = PHONE,
    total_cents: int = 4480,
    at: datetime | None = None,
) -> OrderPlaced:
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
        payment_method=PaymentMethod.CASH,
        payment_status=PaymentStatus.NOT_APPLICABLE,
        delivery_type=DeliveryType.DELIVERY,
        requires_confirmation=False,
        status_history=[
            StatusHistoryEntry(status=OrderStatus.PENDING, timestamp=placed, by=Actor.SYSTEM)
        ],
        created_at=placed,
        updated_at=placed,
    )
    return OrderPlaced(
        **envelope(client_id=client_id, store_id=store_id, occurred_at=placed),
        order_id=order_id,
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
    **fields: Any,
) -> OrderPaymentStatusChanged:
    return OrderPaymentStatusChanged(
        **envelope(client_id=client_id, store_id=store_id),
        order_id=order_id,
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
) -> PaymentInstructionsIssued:
    pix = method is PaymentMethod.PIX
    return PaymentInstructionsIssued(
        **envelope(client_id=client_id, store_id=store_id),
        order_id=order_id,
        payment_method=method,
        phone_number=phone,
        customer_name="Maria",
        total_cents=total_cents,
        pix_payload="00020126580014BR.GOV.BCB.PIX0136pix-key-123" if pix else None,
        pix_qr_code_image="iVBORw0KGgo=" if pix else None,
        invoice_url=None if pix else f"https://sandbox.asaas.com/i/{order_id}",
        expires_at=expires_at or now() + timedelta(minutes=15),
        order_number=order_number,
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
