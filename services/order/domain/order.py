"""The order as the service keeps it: the published snapshot plus what only the service needs."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from services.order.domain.validation import subtotal_cents
from shared.contracts.base import CamelModel, UtcDatetime
from shared.contracts.limits import MAX_PAYMENT_CHANGES
from shared.contracts.order_data import OrderSnapshot, StatusHistoryEntry
from shared.contracts.orders import PlaceOrder
from shared.contracts.payments import PaymentCustomer
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import Actor, OrderStatus, PaymentStatus

MAX_HANDLED_EVENTS = 32
"""How many of its latest events an order remembers as handled. Kafka redelivers only what a
consumer had not committed (seconds of records), and an order's whole life is about a dozen
events; an older one would be decided again."""


class OrderPolicy(CamelModel):
    """The store's rules in force when the order was placed; later config changes do not apply."""

    store_name: str | None = Field(default=None, description="Store's display name.")
    requires_confirmation: bool = Field(description="Whether the restaurant must confirm.")
    auto_confirmation_minutes: float = Field(description="`autoConfirmationTimeout` (0 = none).")
    refund_unconfirmed: bool = Field(description="`refundUnconfirmedOrders`.")
    refund_minutes: float = Field(description="`refundTimeout`.")
    payment_minutes: float = Field(description="`paymentTimeout`.")
    time_zone: str = Field(description="Store's IANA time zone.")

    @classmethod
    def of(cls, config: StoreOrderConfig) -> OrderPolicy:
        return cls(
            store_name=config.store_name,
            requires_confirmation=config.requires_confirmation,
            auto_confirmation_minutes=config.auto_confirmation_timeout,
            refund_unconfirmed=config.refund_unconfirmed_orders,
            refund_minutes=config.refund_timeout,
            payment_minutes=config.payment_timeout,
            time_zone=config.time_zone,
        )

    def confirmation_deadline(self, released_at: datetime, *, paid_online: bool) -> datetime | None:
        """When an unconfirmed order released at `released_at` is cancelled (DESIGN.md 5.3)."""
        candidates = []
        if self.auto_confirmation_minutes > 0:
            candidates.append(self.auto_confirmation_minutes)
        if paid_online and self.refund_unconfirmed:
            candidates.append(self.refund_minutes)
        if not candidates:
            return None
        return released_at + timedelta(minutes=min(candidates))


class Deadlines(CamelModel):
    """The deadlines scheduled for the order (UTC), as given to the scheduler."""

    payment: UtcDatetime | None = Field(default=None, description="Pay by, online orders.")
    confirmation: UtcDatetime | None = Field(default=None, description="Confirm by.")


class Order(OrderSnapshot):
    """An order document: the snapshot fields, plus version, deadlines and the store's policy."""

    version: int = Field(default=0, ge=0, description="Optimistic concurrency counter.")
    command_id: str = Field(description="`commandId` of the PlaceOrder that created it.")
    correlation_id: str = Field(description="The conversation turn that placed it.")
    placed_event_id: str = Field(description="`eventId` of its OrderPlaced event.")
    policy: OrderPolicy = Field(description="The store's rules at placement.")
    deadlines: Deadlines = Field(default_factory=Deadlines, description="Scheduled deadlines.")
    released_to_pos_at: UtcDatetime | None = Field(
        default=None, description="When the POS received the order."
    )
    payer: PaymentCustomer | None = Field(
        default=None, description="Who pays online (CPF included): each charge is made for them."
    )
    payment_changes: list[str] = Field(
        default_factory=list,
        max_length=MAX_PAYMENT_CHANGES,
        description="`eventId`s of the ChangePaymentMethod commands applied, oldest first.",
    )
    refund_asked_at: UtcDatetime | None = Field(
        default=None, description="When the order asked for its refund (RequestRefund)."
    )
    refund_asked_again_at: UtcDatetime | None = Field(
        default=None, description="When the money audit last asked again, unanswered."
    )
    refund_answered_at: UtcDatetime | None = Field(
        default=None,
        description="When the payment service answered the refund request (RefundRequested "
        "or RefundFailed).",
    )
    handled_events: list[str] = Field(
        default_factory=list,
        description="The events last applied to it (`<consumer>|<eventId>`), oldest first, at "
        "most MAX_HANDLED_EVENTS: a redelivered one is found here and changes nothing.",
    )

    def having_handled(self, event: str) -> Order:
        """The order with `event` among its handled events (the oldest forgotten past the cap)."""
        kept = [*self.handled_events, event][-MAX_HANDLED_EVENTS:]
        return self.model_copy(update={"handled_events": kept})

    def snapshot(self) -> OrderSnapshot:
        """The order as other services and the POS see it."""
        return OrderSnapshot.model_validate(
            self.model_dump(include=set(OrderSnapshot.model_fields))
        )

    @property
    def released(self) -> bool:
        return self.released_to_pos_at is not None

    @property
    def refund_unanswered(self) -> bool:
        """Its refund was asked for (REFUND_PENDING) and the payment service never answered."""
        return (
            self.payment_status is PaymentStatus.REFUND_PENDING
            and self.refund_asked_at is not None
            and self.refund_answered_at is None
        )

    @property
    def number(self) -> str:
        """`#<orderNumber>`, as people see it (an order placed before numbers: its id)."""
        return f"#{self.order_number or self.order_id}"

    @property
    def payment_attempt(self) -> int:
        """The charge attempt the order follows: 1, and one more after each change of method;
        payment events of any other attempt are about a charge it left behind."""
        return 1 + len(self.payment_changes)


def new_order(
    command: PlaceOrder,
    config: StoreOrderConfig,
    *,
    order_id: str,
    order_number: int,
    placed_event_id: str,
    now: datetime,
) -> Order:
    """The PENDING order a valid `command` creates, totals recomputed in centavos."""
    subtotal = subtotal_cents(command)
    fee = command.delivery.fee_cents
    online = command.payment_method.is_online
    customer = command.customer
    payer = (
        PaymentCustomer(
            name=customer.name,
            cpf=customer.cpf,
            email=customer.email,
            phone_number=customer.phone_number,
        )
        if online and customer.cpf
        else None  # a cash order is never charged: its CPF is not kept
    )
    return Order(
        order_id=order_id,
        order_number=order_number,
        client_id=command.client_id,
        store_id=command.store_id,
        customer_id=command.customer.customer_id,
        phone_number=command.customer.phone_number,
        customer_name=command.customer.name,
        status=OrderStatus.PENDING,
        items=[
            {
                "item_id": item.item_id,
                "name": item.name,
                "quantity": item.quantity,
                "unit_price_cents": item.unit_price_cents,
                "total_price_cents": item.quantity * item.unit_price_cents,
                "customizations": item.customizations,
                "notes": item.notes,
            }
            for item in command.items
        ],
        subtotal_cents=subtotal,
        delivery_fee_cents=fee,
        discount_cents=0,
        total_cents=subtotal + fee,
        payment_method=command.payment_method,
        payment_status=PaymentStatus.PENDING if online else PaymentStatus.NOT_APPLICABLE,
        delivery_type=command.delivery.type,
        delivery_address=command.delivery.address,
        customer_notes=command.delivery.notes,
        requires_confirmation=config.requires_confirmation,
        status_history=[
            StatusHistoryEntry(
                status=OrderStatus.PENDING,
                timestamp=now,
                by=Actor.CUSTOMER,
                notes="Pedido recebido pelo WhatsApp",
            )
        ],
        created_at=now,
        updated_at=now,
        command_id=command.command_id,
        correlation_id=command.correlation_id,
        placed_event_id=placed_event_id,
        policy=OrderPolicy.of(config),
        payer=payer,
    )
