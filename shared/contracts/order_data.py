"""The data an order is made of: its customer, items and delivery as the chatbot states them, and
the order snapshot the order service publishes."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictInt, model_validator

from shared.contracts.base import (
    ORDER_NUMBER_DESCRIPTION,
    AddressPart,
    CamelModel,
    Cents,
    DeliveryTime,
    Name,
    Note,
    OrderNumber,
    PhoneNumber,
    Reais,
    Reason,
    Reference,
    UtcDatetime,
    reais_to_cents,
)
from shared.contracts.limits import (
    MAX_CPF_LENGTH,
    MAX_CUSTOMIZATIONS,
    MAX_DELIVERY_FEE_CENTS,
    MAX_EMAIL_LENGTH,
    MAX_ID_LENGTH,
    MAX_ITEMS,
    MAX_QUANTITY,
    MAX_STATUS_HISTORY,
    MAX_UNIT_PRICE_CENTS,
    as_reais,
)
from shared.contracts.payments import PaymentInstructions
from shared.contracts.values import (
    Actor,
    DeliveryType,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
)

Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]
"""A number of units of an item: an integer from 1 to 999."""


class Customer(CamelModel):
    """The customer placing the order, as the chatbot knows them."""

    customer_id: Reference = Field(description="The chatbot's id for the customer.")
    phone_number: PhoneNumber = Field(
        description="Customer's WhatsApp number in E.164 form, e.g. `+5511987654321`."
    )
    name: Name = Field(min_length=1, description="Customer's name.")
    email: str | None = Field(
        default=None, max_length=MAX_EMAIL_LENGTH, description="Customer's e-mail, if known."
    )
    cpf: str | None = Field(
        default=None,
        max_length=MAX_CPF_LENGTH,
        description="Customer's CPF (11 digits, punctuation allowed); required to pay online.",
    )


class Customizations(CamelModel):
    """What the customer asked to add to or remove from an item."""

    adicionar: list[Name] = Field(
        default_factory=list, max_length=MAX_CUSTOMIZATIONS, description="Things to add."
    )
    remover: list[Name] = Field(
        default_factory=list, max_length=MAX_CUSTOMIZATIONS, description="Things to leave out."
    )


class PlaceOrderItem(CamelModel):
    """An item as the chatbot states it, with its unit price in reais."""

    item_id: Reference = Field(description="Menu item id.")
    name: Name = Field(min_length=1, description="Menu item name.")
    quantity: Quantity = Field(description="How many units (integer, 1 to 999).")
    unit_price: Reais = Field(
        le=as_reais(MAX_UNIT_PRICE_CENTS),
        description="Price of one unit in reais, customizations included (at most 2 decimals, "
        "at most 10000.00).",
    )
    customizations: Customizations = Field(
        default_factory=Customizations, description="Additions and removals."
    )
    notes: Note | None = Field(default=None, description="Customer's notes on this item.")

    @property
    def unit_price_cents(self) -> int:
        """The unit price in centavos."""
        return reais_to_cents(self.unit_price)


class Address(CamelModel):
    """A Brazilian delivery address; every part is optional, unknown parts are ignored."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    street: AddressPart | None = Field(default=None, description="Street (logradouro).")
    number: AddressPart | None = Field(default=None, description="Building number.")
    complement: AddressPart | None = Field(default=None, description="Apartment, block, etc.")
    neighborhood: AddressPart | None = Field(default=None, description="Neighbourhood (bairro).")
    city: AddressPart | None = Field(default=None, description="City.")
    state: AddressPart | None = Field(default=None, description="State (UF), e.g. `SP`.")
    zip_code: AddressPart | None = Field(default=None, description="Postal code (CEP).")
    reference: AddressPart | None = Field(
        default=None, description="Landmark (ponto de referência)."
    )


class Delivery(CamelModel):
    """How the order reaches the customer, and the fee the chatbot stated."""

    type: DeliveryType = Field(description="DELIVERY or PICKUP.")
    address: Address | None = Field(
        default=None, description="Delivery address; an empty object is read as none."
    )
    notes: Note | None = Field(default=None, description="Customer's notes on the order.")
    fee: Reais = Field(
        default=Decimal("0"),
        le=as_reais(MAX_DELIVERY_FEE_CENTS),
        description="Delivery fee in reais (at most 2 decimals, at most 1000.00).",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_address_is_none(cls, data: Any) -> Any:
        # The source chatbot sends `address: {}` for pickups.
        if isinstance(data, dict) and data.get("address") == {}:
            return {**data, "address": None}
        return data

    @property
    def fee_cents(self) -> int:
        """The delivery fee in centavos."""
        return reais_to_cents(self.fee)


class StatusHistoryEntry(CamelModel):
    """One change of an order's status."""

    status: OrderStatus = Field(description="The status entered.")
    timestamp: UtcDatetime = Field(description="When it was entered (UTC).")
    by: Actor = Field(description="Who made the change.")
    notes: Note | None = Field(default=None, description="Why, in words.")


class OrderItem(CamelModel):
    """An order line with amounts in centavos, as recorded by the order service."""

    item_id: Reference = Field(description="Menu item id.")
    name: Name = Field(description="Menu item name.")
    quantity: Quantity = Field(description="How many units.")
    unit_price_cents: Cents = Field(
        le=MAX_UNIT_PRICE_CENTS, description="Price of one unit, in centavos."
    )
    total_price_cents: Cents = Field(description="`quantity x unitPriceCents`, in centavos.")
    customizations: Customizations = Field(
        default_factory=Customizations, description="Additions and removals."
    )
    notes: Note | None = Field(default=None, description="Customer's notes on this item.")


class OrderSnapshot(CamelModel):
    """The order document as published to other services and to the POS."""

    order_id: Reference = Field(description="Order id.")
    order_number: OrderNumber | None = Field(default=None, description=ORDER_NUMBER_DESCRIPTION)
    client_id: str = Field(max_length=MAX_ID_LENGTH, description="The restaurant (tenant) id.")
    store_id: str = Field(max_length=MAX_ID_LENGTH, description="The restaurant's store id.")
    customer_id: Reference = Field(description="The chatbot's id for the customer.")
    phone_number: PhoneNumber = Field(description="Customer's WhatsApp number (E.164).")
    customer_name: Name = Field(description="Customer's name.")
    status: OrderStatus = Field(description="Current order status.")
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_ITEMS, description="Order lines.")
    subtotal_cents: Cents = Field(description="Sum of the lines' totals, in centavos.")
    delivery_fee_cents: Cents = Field(
        le=MAX_DELIVERY_FEE_CENTS, description="Delivery fee, in centavos."
    )
    discount_cents: Cents = Field(default=0, description="Discount, in centavos.")
    total_cents: Cents = Field(description="`subtotal + deliveryFee - discount`, in centavos.")
    payment_method: PaymentMethod = Field(description="PIX, CREDIT, DEBIT or CASH.")
    payment_status: PaymentStatus = Field(description="Payment status (NOT_APPLICABLE for cash).")
    payment_id: Reference | None = Field(
        default=None, description="Asaas payment id, once charged."
    )
    payment_details: PaymentInstructions | None = Field(
        default=None, description="How to pay (PIX code, card page), once charged."
    )
    delivery_type: DeliveryType = Field(description="DELIVERY or PICKUP.")
    delivery_address: Address | None = Field(default=None, description="Delivery address.")
    delivery_time: DeliveryTime | None = Field(
        default=None, description="Estimated delivery or pick-up time, as the restaurant put it."
    )
    customer_notes: Note | None = Field(default=None, description="Customer's notes on the order.")
    requires_confirmation: bool = Field(
        description="Whether the restaurant must confirm the order manually."
    )
    confirmation_timeout: UtcDatetime | None = Field(
        default=None, description="Confirmation deadline (UTC), if one is scheduled."
    )
    refund_timeout: UtcDatetime | None = Field(
        default=None, description="Deadline after which an unconfirmed paid order is refunded."
    )
    status_history: list[StatusHistoryEntry] = Field(
        max_length=MAX_STATUS_HISTORY, description="Every status change, oldest first."
    )
    cancellation_reason: Reason | None = Field(
        default=None, description="Why the order was cancelled (reason code or the words given)."
    )
    created_at: UtcDatetime = Field(description="When the order was created (UTC).")
    updated_at: UtcDatetime = Field(description="When the order last changed (UTC).")
    source: Literal["WHATSAPP_BOT"] = Field(
        default="WHATSAPP_BOT", description="Where the order came from."
    )
