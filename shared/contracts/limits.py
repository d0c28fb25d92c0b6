"""Every limit of the contracts in one place: ids, text, lists, quantities and money.

Each bound is far beyond what a real order, store or payment holds, so that only the absurd is
refused; each says why it is big enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

# Identifiers

MAX_ID_LENGTH = 100
"""`clientId`, `storeId`: what a Kafka topic name can embed (see `shared.topics`)."""
MAX_REFERENCE_LENGTH = 200
"""Ids chosen by others: `correlationId`, `commandId`, `customerId`, `itemId`, `orderId`,
`paymentId`, `timerId`, Twilio SIDs, error codes, Asaas event names (UUIDs are 36)."""
MAX_EVENT_TYPE_LENGTH = 100
"""A message's `eventType` (class names are under 30)."""

# Free text

MAX_NAME_LENGTH = 200
"""A person, a menu item, a customization, a store."""
MAX_NOTE_LENGTH = 1000
"""A customer's notes on an item or on the order, a status-history note."""
MAX_ADDRESS_PART_LENGTH = 200
"""One part of an address (street, complement, reference, ...)."""
MAX_EMAIL_LENGTH = 254
"""The longest e-mail address SMTP carries (RFC 5321)."""
MAX_CPF_LENGTH = 20
"""A CPF is 11 digits, 14 characters with its punctuation."""
MAX_REASON_LENGTH = 500
"""A restaurant's or customer's reason, told to the customer on WhatsApp."""
MAX_DELIVERY_TIME_LENGTH = 100
"""The restaurant's estimate as it puts it: `30 minutos`, `entre 19h30 e 20h`."""
MAX_MESSAGE_LENGTH = 1000
"""An explanation in words: a refusal, a payment provider's or Twilio's error."""
MAX_TEMPLATE_LENGTH = 1000
"""A status message template; Twilio takes at most 1600 characters of WhatsApp body, and the
placeholders need room."""
MAX_WHATSAPP_BODY_LENGTH = 4096
"""The longest WhatsApp text message."""
MAX_DESCRIPTION_LENGTH = 500
"""A charge description shown to the payer (`Pedido #...`)."""
MAX_URL_LENGTH = 2048
"""A payment page or webhook URL."""
MAX_PIX_PAYLOAD_LENGTH = 4096
"""A PIX copy-and-paste code (an EMV BR Code is a few hundred characters)."""
MAX_QR_IMAGE_LENGTH = 512 * 1024
"""A base64 PNG of a PIX QR code (a few kilobytes), well under Kafka's 1 MB message."""
MAX_TIME_ZONE_LENGTH = 64
"""An IANA time zone name."""

# Lists

MAX_ITEMS = 100
"""Lines per order: more than any restaurant order has; a bigger command is a chatbot bug."""
MAX_CUSTOMIZATIONS = 50
"""Additions, and removals, per item."""
MAX_STATUS_HISTORY = 100
"""Status changes of one order (the transition table allows about ten)."""
MAX_OPERATING_HOURS = 50
"""Weekly opening ranges of a store (seven days, a few ranges each)."""
MAX_PAYMENT_METHODS = 10
"""Entries of `acceptedPaymentMethods` (four methods exist)."""
MAX_TIMER_PAYLOAD_ENTRIES = 20
"""Opaque strings a timer hands back."""
MAX_PAYMENT_CHANGES = 5
"""ChangePaymentMethod commands one order accepts: each makes (and deletes) an Asaas charge, so a
chatbot caught in a loop must not make dozens within the payment deadline."""
MAX_PAYMENT_ATTEMPT = 1 + MAX_PAYMENT_CHANGES
"""The highest charge attempt of an order: its first charge and one per change of method."""

# Quantities and money (centavos)

MAX_QUANTITY = 999
"""Units of one item."""
MAX_UNIT_PRICE_CENTS = 1_000_000
"""R$ 10.000,00 for one unit: a banquet tray is a few hundred reais."""
MAX_DELIVERY_FEE_CENTS = 100_000
"""R$ 1.000,00 of delivery fee: a city delivery is a few reais to a few tens."""
MAX_ORDER_TOTAL_CENTS = 10_000_000
"""R$ 100.000,00 for one order (items and fee), the most one Asaas charge is asked for: a party's
catering is a few thousand reais."""
MAX_AMOUNT_CENTS = 100_000_000_000
"""R$ 1 bilhão: the bound of any amount in centavos, so that no sum of them nears int64 (MongoDB)
and each stays exact as a JSON double (2^53)."""
MAX_ORDER_NUMBER = 2**53 - 1
"""The highest order number: exact as a JSON double, a store placing a million orders a day
would reach it in 24 million years."""
MAX_MINUTES = 7 * 24 * 60
"""A week, the longest timeout of a store (DESIGN.md section 4)."""


MAX_JSON_DEPTH = 32
"""Nesting of a message or request body (an order nests 5 deep). Python 3.11 cannot read about
1000 levels and later versions read many more, so the limit is the system's own."""


def nested_deeper_than(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests objects and arrays more than `limit` deep (walked without
    recursion, so any depth Python could parse is measured)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in node)
    return False


def as_reais(cents: int) -> Decimal:
    """A limit in centavos as the reais a command states: 1_000_000 -> Decimal('10000.00')."""
    return Decimal(cents).scaleb(-2)


LIMIT_ERROR_TYPES = frozenset(
    {
        "less_than_equal",
        "less_than",
        "string_too_long",
        "too_long",
        "decimal_max_digits",
        "decimal_whole_digits",
    }
)
"""pydantic's error types that mean "beyond a limit" (as opposed to missing, of the wrong type or
malformed)."""


def only_limits_exceeded(errors: Iterable[Mapping[str, Any]]) -> bool:
    """Whether pydantic's `errors` are all limits exceeded (and there is at least one)."""
    types = [error.get("type") for error in errors]
    return bool(types) and all(kind in LIMIT_ERROR_TYPES for kind in types)


def error_fields(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """The dotted paths of pydantic's `errors` (`items.0.quantity`), never their input."""
    return [".".join(str(part) for part in error.get("loc", ())) for error in errors]
