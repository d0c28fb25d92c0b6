"""A store's order configuration (the source design's `WhatsAppBotOrderConfig`) and its event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.contracts.base import (
    TYPE_NAME_DESCRIPTION,
    CamelModel,
    Envelope,
    Name,
    Reais,
    TimeZoneName,
    UtcDatetime,
    reais_to_cents,
)
from shared.contracts.limits import (
    MAX_ID_LENGTH,
    MAX_MINUTES,
    MAX_OPERATING_HOURS,
    MAX_ORDER_TOTAL_CENTS,
    MAX_PAYMENT_METHODS,
    MAX_TEMPLATE_LENGTH,
    as_reais,
)
from shared.contracts.values import DeliveryType, NotificationKind, OrderStatus, PaymentMethod

Minutes = Annotated[float, Field(ge=0, le=MAX_MINUTES, allow_inf_nan=False)]
"""A duration in minutes: non-negative, at most a week, fractions allowed (0.1 is 6 seconds)."""

Template = Annotated[str, StringConstraints(max_length=MAX_TEMPLATE_LENGTH)]
"""A status message template: at most 1000 characters."""

HourMinute = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
"""A local wall-clock time `HH:MM`, 00:00 to 23:59."""

WhatsAppSender = Annotated[str, StringConstraints(pattern=r"^whatsapp:\+[1-9]\d{7,14}$")]
"""A WhatsApp sender as Twilio names it: `whatsapp:` and an E.164 number."""

ContentSid = Annotated[str, StringConstraints(pattern=r"^HX[0-9a-fA-F]{32}$")]
"""An approved WhatsApp template as Twilio's Content API names it: `HX` and 32 hex digits."""

CONTENT_TEMPLATE_KEYS = frozenset(
    {kind.value for kind in NotificationKind}
    | {f"{NotificationKind.ORDER_STATUS.value}:{status.value}" for status in OrderStatus}
)
"""What an approved template may be chosen for: a notification kind (`PAYMENT_INSTRUCTIONS`,
`ORDER_STATUS` for any status, ...) or one status (`ORDER_STATUS:READY`)."""

TEMPLATE_PLACEHOLDERS = frozenset(
    {"order_number", "order_id", "total", "delivery_time", "store_name", "customer_name"}
)
"""The only placeholders a notification template may use."""

DEFAULT_NOTIFICATION_TEMPLATES: Mapping[OrderStatus, str] = {
    OrderStatus.PENDING: (
        "Seu pedido #{order_number} foi recebido e está aguardando confirmação do restaurante."
    ),
    OrderStatus.CONFIRMED: (
        "Seu pedido #{order_number} foi confirmado! Estamos preparando tudo com muito carinho."
    ),
    OrderStatus.PREPARING: "Seu pedido #{order_number} está sendo preparado. Logo estará pronto!",
    OrderStatus.READY: "Seu pedido #{order_number} está pronto! Em breve sairá para entrega.",
    OrderStatus.DELIVERING: (
        "Seu pedido #{order_number} saiu para entrega e chegará em aproximadamente {delivery_time}."
    ),
    OrderStatus.DELIVERED: "Seu pedido #{order_number} foi entregue. Bom apetite!",
    OrderStatus.COMPLETED: "Seu pedido #{order_number} foi concluído. Obrigado pela preferência!",
    OrderStatus.CANCELLED: "Seu pedido #{order_number} foi cancelado.",
    OrderStatus.REFUNDED: (
        "O reembolso de {total} do pedido #{order_number} foi concluído. O prazo para o valor "
        "aparecer na sua conta ou fatura depende do seu banco."
    ),
}
"""The source design's pt-BR status templates (section 5.2), naming the order by its number:
every store's defaults. REFUNDED follows the cancellation's message, which said a refund comes."""

DEFAULT_PICKUP_TEMPLATES: Mapping[OrderStatus, str] = {
    OrderStatus.READY: "Seu pedido #{order_number} está pronto para retirada! Pode vir buscar.",
    OrderStatus.DELIVERING: "",
    OrderStatus.DELIVERED: "Seu pedido #{order_number} foi retirado. Bom apetite!",
}
"""Where a pickup order's message differs: it is picked up, it never leaves for delivery."""

_DEFAULTS_OF = {
    "notification_templates": DEFAULT_NOTIFICATION_TEMPLATES,
    "pickup_notification_templates": DEFAULT_PICKUP_TEMPLATES,
}
"""What each templates field holds for the statuses a store leaves out."""

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

_DAY_NUMBERS = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}


def render_template(template: str, values: Mapping[str, str]) -> str:
    """Fill a template's `{placeholder}`s from `values`; anything else is left as written."""
    return _PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)


def _check_placeholders(status: OrderStatus, template: str) -> None:
    for name in _PLACEHOLDER.findall(template):
        if name not in TEMPLATE_PLACEHOLDERS:
            allowed = ", ".join("{" + known + "}" for known in sorted(TEMPLATE_PLACEHOLDERS))
            raise ValueError(
                f"template for {status}: unknown placeholder {{{name}}}; allowed: {allowed}"
            )


def _parse_day(value: Any) -> Any:
    if not isinstance(value, str) or value.strip().isdigit():
        return value
    try:
        return _DAY_NUMBERS[value.strip().lower()]
    except KeyError:
        day = value.strip()[:20]  # a word, not whatever was sent
        raise ValueError(f"unknown day {day!r}; use 0-6 (0 = Monday) or mon ... sun") from None


Weekday = Annotated[int, BeforeValidator(_parse_day), Field(ge=0, le=6)]
"""A day of the week: 0 = Monday ... 6 = Sunday, or its English name (`mon`, `monday`)."""


class OperatingHours(CamelModel):
    """A weekly opening range in store-local time; `closes` before `opens` runs past midnight."""

    day: Weekday = Field(
        description="Day the range opens: 0 = Monday ... 6 = Sunday (or `mon` ... `sun`)."
    )
    opens: HourMinute = Field(description="Opening time, local `HH:MM`.")
    closes: HourMinute = Field(
        description="Closing time, local `HH:MM`; earlier than `opens` means the next day, equal "
        "to `opens` means open all day."
    )

    def covers(self, local: datetime) -> bool:
        """Whether the store-local wall-clock moment `local` falls in this range."""
        opens, closes = time.fromisoformat(self.opens), time.fromisoformat(self.closes)
        day, now = local.weekday(), local.time()
        if opens == closes:
            return day == self.day
        if opens < closes:
            return day == self.day and opens <= now < closes
        next_day = (self.day + 1) % 7
        return (day == self.day and now >= opens) or (day == next_day and now < closes)


class StoreOrderConfig(CamelModel):
    """How a store takes orders; a store without one gets `default_for(...)`."""

    client_id: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, description="The restaurant (tenant) id."
    )
    store_id: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, description="The restaurant's store id."
    )
    store_name: Name | None = Field(
        default=None, description="Display name, used for `{store_name}` in templates."
    )
    requires_confirmation: bool = Field(
        default=False, description="Whether the restaurant must confirm each order."
    )
    auto_confirmation_timeout: Minutes = Field(
        default=0,
        description="Minutes the restaurant has to confirm before the order is cancelled "
        "(0 = no deadline).",
    )
    refund_unconfirmed_orders: bool = Field(
        default=True,
        description="Whether a paid order not confirmed in time is cancelled and refunded.",
    )
    refund_timeout: Minutes = Field(
        default=60,
        description="Minutes after release before an unconfirmed paid order is refunded.",
    )
    notify_customer_on_status_change: bool = Field(
        default=True, description="Whether the customer is told of each status change."
    )
    notification_templates: dict[OrderStatus, Template] = Field(
        default_factory=lambda: dict(DEFAULT_NOTIFICATION_TEMPLATES),
        description="Message per order status; statuses left out keep the default pt-BR "
        "template, an empty string sends nothing. Placeholders: {order_number}, {order_id}, "
        "{total}, {delivery_time}, {store_name}, {customer_name}.",
    )
    pickup_notification_templates: dict[OrderStatus, Template] = Field(
        default_factory=lambda: dict(DEFAULT_PICKUP_TEMPLATES),
        description="Message per order status for PICKUP orders where it differs from "
        "`notificationTemplates` (default: READY says it can be picked up, DELIVERING sends "
        "nothing, DELIVERED says it was picked up); statuses left out use "
        "`notificationTemplates`, an empty string sends nothing. Same placeholders.",
    )
    accepted_payment_methods: list[PaymentMethod] = Field(
        default_factory=lambda: list(PaymentMethod),
        min_length=1,
        max_length=MAX_PAYMENT_METHODS,
        description="Payment methods the store accepts: PIX, CREDIT, DEBIT, CASH.",
    )
    minimum_order_value: Reais = Field(
        default=Decimal("0"),
        le=as_reais(MAX_ORDER_TOTAL_CENTS),
        description="Minimum subtotal in reais (at most 2 decimals, at most 100000.00).",
    )
    operating_hours_check: bool = Field(
        default=False, description="Whether orders are refused outside `operatingHours`."
    )
    time_zone: TimeZoneName = Field(
        default="America/Sao_Paulo",
        description="IANA time zone of the store, for opening hours and Asaas due dates.",
    )
    operating_hours: list[OperatingHours] = Field(
        default_factory=list,
        max_length=MAX_OPERATING_HOURS,
        description="Weekly opening ranges; empty means always open (at most 50).",
    )
    payment_timeout: Minutes = Field(
        default=15, description="Minutes an online order waits for payment before it is cancelled."
    )
    whatsapp_sender: WhatsAppSender | None = Field(
        default=None,
        description="The store's own WhatsApp number (`whatsapp:+<E.164>`, a sender of the "
        "platform's Twilio account): messages of its orders go out from it. Unset: the "
        "platform's TWILIO_FROM.",
    )
    whatsapp_templates: dict[str, ContentSid] = Field(
        default_factory=dict,
        max_length=len(CONTENT_TEMPLATE_KEYS),
        description="The store's own approved WhatsApp templates (Twilio ContentSids `HX...`), "
        "sent instead of a text outside the 24-hour window; keyed by notification kind "
        "(`PAYMENT_INSTRUCTIONS`, `ORDER_STATUS`, ...) or `ORDER_STATUS:<status>`. When set, "
        "they replace the platform's TWILIO_CONTENT_TEMPLATES for the store's messages.",
    )
    updated_at: UtcDatetime | None = Field(
        default=None, description="When the configuration last changed (UTC)."
    )

    @field_validator("whatsapp_templates")
    @classmethod
    def _known_template_keys(cls, templates: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(templates) - CONTENT_TEMPLATE_KEYS)
        if unknown:
            shown = ", ".join(key[:40] for key in unknown[:3])
            raise ValueError(
                f"unknown template key(s) {shown}: use a notification kind or ORDER_STATUS:<status>"
            )
        return templates

    @field_validator("notification_templates", "pickup_notification_templates")
    @classmethod
    def _known_placeholders(
        cls, templates: dict[OrderStatus, str], info: ValidationInfo
    ) -> dict[OrderStatus, str]:
        for status, template in templates.items():
            _check_placeholders(status, template)
        return {**_DEFAULTS_OF[info.field_name or ""], **templates}

    @classmethod
    def default_for(cls, client_id: str, store_id: str) -> Self:
        """The source design's defaults, for a store that has no configuration."""
        return cls(client_id=client_id, store_id=store_id)

    @property
    def minimum_order_value_cents(self) -> int:
        """`minimumOrderValue` in centavos."""
        return reais_to_cents(self.minimum_order_value)

    def is_open_at(self, moment: datetime) -> bool:
        """Whether `operatingHours` cover `moment` (an aware datetime); ignores the check flag."""
        if not self.operating_hours:
            return True
        local = moment.astimezone(ZoneInfo(self.time_zone))
        return any(hours.covers(local) for hours in self.operating_hours)

    def template_for(
        self, status: OrderStatus, delivery_type: DeliveryType | None = None
    ) -> str | None:
        """The template to send for `status` (of a pickup order: its own where it has one), or
        None when no status message is due."""
        if not self.notify_customer_on_status_change:
            return None
        if delivery_type is DeliveryType.PICKUP and status in self.pickup_notification_templates:
            return self.pickup_notification_templates[status] or None
        return self.notification_templates.get(status) or None


class StoreConfigChanged(Envelope):
    """A store's order configuration was created or replaced (compacted on `stores.config`)."""

    event_type: Literal["StoreConfigChanged"] = Field(
        default="StoreConfigChanged", description=TYPE_NAME_DESCRIPTION
    )
    config: StoreOrderConfig = Field(description="The whole new configuration.")

    @model_validator(mode="after")
    def _same_store(self) -> Self:
        if (self.config.client_id, self.config.store_id) != (self.client_id, self.store_id):
            raise ValueError("config.clientId/storeId differ from the envelope's clientId/storeId")
        return self
