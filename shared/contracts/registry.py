"""The one way to read a message: by `eventType` and `eventVersion`, upcasting older versions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from shared import topics
from shared.contracts.access import TokensRevoked
from shared.contracts.base import Message
from shared.contracts.limits import nested_deeper_than
from shared.contracts.notifications import (
    NotificationDropped,
    NotificationFailed,
    NotificationSent,
)
from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPaymentStatusChanged,
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    PaymentInstructionsIssued,
    PlaceOrder,
)
from shared.contracts.payments import (
    CancelPayment,
    PaymentCancelled,
    PaymentChargebackReported,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    RefundFailed,
    RefundRequested,
    RequestPayment,
    RequestRefund,
)
from shared.contracts.pos import (
    PosOrderCancelled,
    PosOrderConfirmed,
    PosOrderReceived,
    PosOrderRejected,
    PosOrderStatusUpdated,
    PosUpdate,
    PosUpdateRejected,
)
from shared.contracts.scheduler import CancelTimer, ScheduleTimer, TimerFired
from shared.contracts.stores import StoreConfigChanged

M = TypeVar("M", bound=Message)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the wire dict of version n of a message into the wire dict of version n + 1."""

MAX_PROBLEM = 500
"""ContractError messages are cut here: they travel in DLQ headers, logs and OrderRejected."""
MAX_QUOTED = 60
"""How much of a sender's own value (an unknown eventType) an error message quotes."""


class ContractError(ValueError):
    """A message that does not fit its contract: unreadable, unknown, too new or invalid."""

    def __init__(
        self,
        message: str,
        *,
        event_type: str | None = None,
        event_version: int | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(_cut(message, MAX_PROBLEM))
        self.event_type = event_type
        """The message's `eventType`, if it could be read."""
        self.event_version = event_version
        """The message's `eventVersion`, if it could be read."""
        self.errors = tuple(errors)
        """Pydantic's error details when validation failed; empty otherwise."""
        self.payload = payload
        """The decoded JSON object, if the bytes were JSON: lets a caller salvage ids."""


class Registry:
    """Message classes by `eventType`, with the upcasters that bring old versions up to date."""

    def __init__(
        self,
        message_types: Iterable[type[Message]],
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._types: dict[str, type[Message]] = {}
        for message_type in message_types:
            name = message_type.model_fields["event_type"].default
            if not isinstance(name, str) or name != message_type.__name__:
                raise TypeError(f"{message_type.__name__} needs event_type = its class name")
            if name in self._types:
                raise TypeError(f"event type {name} is registered twice")
            self._types[name] = message_type
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        for (event_type, from_version), upcaster in (upcasters or {}).items():
            self.register_upcaster(event_type, from_version, upcaster)

    @property
    def message_types(self) -> Mapping[str, type[Message]]:
        """Every registered class, by `eventType`."""
        return dict(self._types)

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """Make `upcaster` turn version `from_version` of `event_type` into the next version."""
        message_type = self._types.get(event_type)
        if message_type is None:
            raise ValueError(f"unknown event type {event_type!r}")
        if not 1 <= from_version < message_type.CURRENT_VERSION:
            raise ValueError(
                f"{event_type} is at version {message_type.CURRENT_VERSION}; "
                f"no upcaster from version {from_version} can apply"
            )
        if (event_type, from_version) in self._upcasters:
            raise ValueError(f"{event_type} already has an upcaster from version {from_version}")
        self._upcasters[event_type, from_version] = upcaster

    def decode(self, data: bytes | str | Mapping[str, Any]) -> Message:
        """Read any registered message, upcast to its current version; ContractError otherwise."""
        return self._decode(data, ())

    def decode_as(self, data: bytes | str | Mapping[str, Any], *types: type[M]) -> M:
        """Like `decode`, but refuse a message that is none of `types` (or their subclasses)."""
        if not types:
            raise TypeError("decode_as needs at least one message type")
        return cast(M, self._decode(data, types))  # _decode checked the type

    def _decode(
        self, data: bytes | str | Mapping[str, Any], types: tuple[type[Message], ...]
    ) -> Message:
        payload = _as_object(data)
        event_type = payload.get("eventType")
        if not isinstance(event_type, str) or not event_type:
            raise ContractError("message has no eventType", payload=payload)
        message_type = self._types.get(event_type)
        if message_type is None:
            raise ContractError(
                f"unknown eventType {_quoted(event_type)}", event_type=event_type, payload=payload
            )
        if types and not issubclass(message_type, types):
            expected = ", ".join(sorted(t.__name__ for t in types))
            raise ContractError(
                f"{event_type} is not expected here (expected: {expected})",
                event_type=event_type,
                payload=payload,
            )
        version = self._version_of(payload, message_type)
        upcast = self._upcast(payload, event_type, version, message_type.CURRENT_VERSION)
        try:
            return message_type.model_validate(upcast)
        except ValidationError as error:
            raise ContractError(
                f"invalid {event_type} v{version}: {describe_validation(error)}",
                event_type=event_type,
                event_version=version,
                errors=error.errors(include_url=False, include_context=False, include_input=False),
                payload=payload,
            ) from None

    def _version_of(self, payload: Mapping[str, Any], message_type: type[Message]) -> int:
        event_type = message_type.__name__
        version = payload.get("eventVersion")
        if version is None and issubclass(message_type, PosUpdate):
            return 1  # the POS may omit every envelope field but eventType, eventId, occurredAt
        if version is None:
            raise ContractError(
                f"{event_type} has no eventVersion", event_type=event_type, payload=payload
            )
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ContractError(
                f"{event_type} has an invalid eventVersion {_quoted(version)} (a positive integer)",
                event_type=event_type,
                payload=payload,
            )
        if version > message_type.CURRENT_VERSION:
            raise ContractError(
                f"{event_type} v{version} is newer than the known "
                f"v{message_type.CURRENT_VERSION}; upgrade this consumer",
                event_type=event_type,
                event_version=version,
                payload=payload,
            )
        return version

    def _upcast(
        self, payload: Mapping[str, Any], event_type: str, version: int, current: int
    ) -> dict[str, Any]:
        upcast = dict(payload)
        for from_version in range(version, current):
            upcaster = self._upcasters.get((event_type, from_version))
            if upcaster is None:
                raise ContractError(
                    f"{event_type} v{version} is older than v{current} and no upcaster "
                    f"from v{from_version} is registered",
                    event_type=event_type,
                    event_version=version,
                    payload=payload,
                )
            upcast = upcaster(upcast) | {"eventVersion": from_version + 1}
        return upcast


def describe_validation(error: ValidationError) -> str:
    """Pydantic's errors as `field.path: message`, never the offending input (personal data)."""
    problems = [
        f"{'.'.join(_cut(str(part), MAX_QUOTED) for part in detail['loc']) or '(message)'}: "
        f"{detail['msg']}"
        for detail in error.errors(include_url=False, include_context=False, include_input=False)
    ]
    return _cut("; ".join(problems), MAX_PROBLEM)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quoted(value: object) -> str:
    """A sender's value in an error message, only when it is short (never a whole body)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= MAX_QUOTED else f"(a text of {len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**MAX_QUOTED:
        return repr(value)
    return f"(a {type(value).__name__})"


def _as_object(data: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(data, Mapping):
        return dict(data)
    try:
        # Decimal keeps stated reais exact; float money is still refused by the Cents fields.
        parsed = json.loads(data, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ContractError(f"message is not JSON: {error}") from None
    except RecursionError:
        raise ContractError("message is not readable JSON: nested too deeply") from None
    except ValueError as error:  # e.g. an integer beyond Python's int-str digit limit
        raise ContractError(f"message is not readable JSON: {error}") from None
    if nested_deeper_than(parsed):
        raise ContractError("message is not readable JSON: nested too deeply")
    if not isinstance(parsed, dict):
        raise ContractError(f"message is not a JSON object but {type(parsed).__name__}")
    return parsed


ORDER_COMMANDS: tuple[type[Message], ...] = (PlaceOrder, CancelOrder, ChangePaymentMethod)
ORDER_EVENTS: tuple[type[Message], ...] = (
    OrderPlaced,
    OrderRejected,
    OrderStatusChanged,
    OrderPaymentStatusChanged,
    PaymentInstructionsIssued,
)
PAYMENT_COMMANDS: tuple[type[Message], ...] = (RequestPayment, CancelPayment, RequestRefund)
PAYMENT_EVENTS: tuple[type[Message], ...] = (
    PaymentCreated,
    PaymentCreationFailed,
    PaymentSucceeded,
    PaymentFailed,
    PaymentCancelled,
    RefundRequested,
    PaymentRefunded,
    RefundFailed,
    PaymentChargebackReported,
)
SCHEDULER_COMMANDS: tuple[type[Message], ...] = (ScheduleTimer, CancelTimer)
SCHEDULER_EVENTS: tuple[type[Message], ...] = (TimerFired,)
STORE_CONFIG_EVENTS: tuple[type[Message], ...] = (StoreConfigChanged,)
NOTIFICATION_EVENTS: tuple[type[Message], ...] = (
    NotificationSent,
    NotificationFailed,
    NotificationDropped,
)
ACCESS_EVENTS: tuple[type[Message], ...] = (TokensRevoked,)
POS_ORDER_MESSAGES: tuple[type[Message], ...] = (
    PosOrderReceived,
    PosOrderCancelled,
    PosUpdateRejected,
)
"""What travels on `pos.<clientId>.<storeId>.orders`."""
POS_UPDATE_MESSAGES: tuple[type[Message], ...] = (
    PosOrderConfirmed,
    PosOrderRejected,
    PosOrderStatusUpdated,
)
"""What travels on `pos.<clientId>.<storeId>.updates`."""

TOPIC_MESSAGES: Mapping[str, tuple[type[Message], ...]] = {
    topics.ORDERS_COMMANDS: ORDER_COMMANDS,
    topics.ORDERS_EVENTS: ORDER_EVENTS,
    topics.PAYMENTS_COMMANDS: PAYMENT_COMMANDS,
    topics.PAYMENTS_EVENTS: PAYMENT_EVENTS,
    topics.SCHEDULER_COMMANDS: SCHEDULER_COMMANDS,
    topics.SCHEDULER_EVENTS: SCHEDULER_EVENTS,
    topics.STORES_CONFIG: STORE_CONFIG_EVENTS,
    topics.NOTIFICATIONS_EVENTS: NOTIFICATION_EVENTS,
    topics.AUTH_REVOCATIONS: ACCESS_EVENTS,
}
"""The messages allowed on each fixed topic (POS topics are per store: see `messages_for_topic`)."""

REGISTRY = Registry(
    [
        *(message_type for group in TOPIC_MESSAGES.values() for message_type in group),
        *POS_ORDER_MESSAGES,
        *POS_UPDATE_MESSAGES,
    ]
)
"""The registry of every message of the system."""

MESSAGE_TYPES: Mapping[str, type[Message]] = REGISTRY.message_types
"""Every message class, by `eventType`."""


def messages_for_topic(topic: str) -> tuple[type[Message], ...]:
    """The message classes allowed on `topic`, per-store POS topics included."""
    if topic in TOPIC_MESSAGES:
        return TOPIC_MESSAGES[topic]
    topics.store_of_pos_topic(topic)  # raises TopicNameError for anything else
    return POS_ORDER_MESSAGES if topic.endswith(".orders") else POS_UPDATE_MESSAGES


def decode(data: bytes | str | Mapping[str, Any]) -> Message:
    """Read any message of the system; a ContractError says why it cannot be read."""
    return REGISTRY.decode(data)


def decode_as(data: bytes | str | Mapping[str, Any], *types: type[M]) -> M:
    """Read a message that must be one of `types` (or a subclass, e.g. `PosUpdate`)."""
    return REGISTRY.decode_as(data, *types)


def decode_from(topic: str, data: bytes | str | Mapping[str, Any]) -> Message:
    """Read a message that arrived on `topic`, refusing types that do not belong there."""
    return REGISTRY.decode_as(data, *messages_for_topic(topic))


def register_upcaster(event_type: str, from_version: int, upcaster: Upcaster) -> None:
    """Register, on the system registry, the upcaster of `event_type` from `from_version`."""
    REGISTRY.register_upcaster(event_type, from_version, upcaster)
