"""Building blocks of every contract: camelCase models, the event envelope, money and time types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Self
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from shared.contracts.limits import (
    MAX_ADDRESS_PART_LENGTH,
    MAX_AMOUNT_CENTS,
    MAX_DELIVERY_TIME_LENGTH,
    MAX_EVENT_TYPE_LENGTH,
    MAX_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NOTE_LENGTH,
    MAX_ORDER_NUMBER,
    MAX_REASON_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_TIME_ZONE_LENGTH,
)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware instant, normalised to UTC (naive datetimes are refused)."""

Cents = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_CENTS)]
"""An amount of money in integer centavos, at most R$ 1 bilhão; floats are refused, even 12.0."""

OrderNumber = Annotated[StrictInt, Field(ge=1, le=MAX_ORDER_NUMBER)]
"""The number people say out loud (`#12`): per store, 1, 2, 3, ... in placement order."""

ORDER_NUMBER_DESCRIPTION = (
    "The order's number in its store (1, 2, 3, ... in placement order), what customers and "
    "kitchens see as `#<orderNumber>`; null only for an order placed before numbers existed."
)

Reais = Annotated[Decimal, Field(ge=0, max_digits=11, decimal_places=2)]
"""An amount in reais as stated by the chatbot: a decimal with at most two places (each use
states its own maximum)."""


def clipped(limit: int) -> BeforeValidator:
    """Cut text longer than `limit` instead of refusing it: for what a third party said (an
    error from Asaas or Twilio), which must not make the fact it explains unreadable."""

    def clip(value: Any) -> Any:
        return value[:limit] if isinstance(value, str) else value

    return BeforeValidator(clip)


def reais_to_cents(value: Decimal) -> int:
    """Exact conversion of a validated reais amount to centavos."""
    return int(value * 100)


def _check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like 'America/Sao_Paulo'"
        ) from None
    return name


PhoneNumber = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+[1-9]\d{7,14}$")]
"""A phone number in E.164 form, e.g. `+5511987654321`."""

Reference = Annotated[str, StringConstraints(min_length=1, max_length=MAX_REFERENCE_LENGTH)]
"""An id chosen by another system (the chatbot's, Asaas's): 1 to 200 characters."""

Name = Annotated[str, StringConstraints(max_length=MAX_NAME_LENGTH)]
"""A person's, a menu item's or a customization's name: at most 200 characters."""

Note = Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH)]
"""Notes in the customer's words: at most 1000 characters."""

Reason = Annotated[str, StringConstraints(max_length=MAX_REASON_LENGTH)]
"""A reason code or a reason in someone's words: at most 500 characters."""

AddressPart = Annotated[str, StringConstraints(max_length=MAX_ADDRESS_PART_LENGTH)]
"""One part of an address: at most 200 characters."""

DeliveryTime = Annotated[str, StringConstraints(max_length=MAX_DELIVERY_TIME_LENGTH)]
"""The restaurant's estimate, e.g. `30 minutos`: at most 100 characters."""

TimeZoneName = Annotated[
    str, StringConstraints(max_length=MAX_TIME_ZONE_LENGTH), AfterValidator(_check_time_zone)
]
"""An IANA time zone name known to `zoneinfo`, e.g. `America/Sao_Paulo`."""

TYPE_NAME_DESCRIPTION = "The message's type name: always the name of its contract class."


def format_brl(cents: int) -> str:
    """pt-BR display of an amount in centavos: 4480 -> `R$ 44,80`, 123456 -> `R$ 1.234,56`."""
    reais, centavos = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{centavos:02d}"


class CamelModel(BaseModel):
    """A contract model: camelCase on the wire, snake_case in Python, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        use_enum_values=False,
    )

    def to_json(self) -> bytes:
        """Serialise with the wire (camelCase) names."""
        return self.model_dump_json(by_alias=True).encode()

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible dict with the wire (camelCase) names."""
        return self.model_dump(mode="json", by_alias=True)


class Message(CamelModel):
    """Common base of commands and events: what every message on Kafka carries."""

    CURRENT_VERSION: ClassVar[int] = 1

    event_id: UUID = Field(description="Unique id of this message (UUID); consumers dedupe on it.")
    event_type: str = Field(
        max_length=MAX_EVENT_TYPE_LENGTH, description="The message's type name, e.g. `OrderPlaced`."
    )
    event_version: int = Field(
        default=1, ge=1, description="Schema version of this event type; starts at 1."
    )
    occurred_at: UtcDatetime = Field(
        description="When the fact happened or the command was issued (UTC)."
    )


class Envelope(Message):
    """The full envelope carried by every command and event exchanged between services."""

    correlation_id: str = Field(
        min_length=1,
        max_length=MAX_REFERENCE_LENGTH,
        description="The chatbot's id for the conversation turn, copied through every "
        "downstream event.",
    )
    causation_id: str | None = Field(
        default=None,
        max_length=MAX_REFERENCE_LENGTH,
        description="`eventId` of the message that caused this one (null for a root).",
    )
    client_id: str = Field(
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="The restaurant (tenant) id; the Kafka key.",
    )
    store_id: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, description="The restaurant's store id."
    )

    @classmethod
    def caused_by(cls, cause: Envelope, *, event_id: UUID, now: datetime, **fields: Any) -> Self:
        """A message caused by `cause`: same correlation, restaurant and store."""
        envelope: dict[str, Any] = {
            "correlation_id": cause.correlation_id,
            "causation_id": str(cause.event_id),
            "client_id": cause.client_id,
            "store_id": cause.store_id,
        }
        return cls(event_id=event_id, occurred_at=now, **(envelope | fields))
