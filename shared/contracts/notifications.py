"""Audit events of the notifier (`notifications.events`): what was sent to whom, or why not."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BeforeValidator, Field, model_validator

from shared.contracts.base import TYPE_NAME_DESCRIPTION, Envelope, PhoneNumber, Reference, clipped
from shared.contracts.limits import (
    MAX_MESSAGE_LENGTH,
    MAX_REFERENCE_LENGTH,
    MAX_WHATSAPP_BODY_LENGTH,
)
from shared.contracts.values import NotificationKind


def _code_as_text(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


TwilioErrorCode = Annotated[str, BeforeValidator(_code_as_text), clipped(MAX_REFERENCE_LENGTH)]
"""A Twilio error code (e.g. `63016`) or HTTP status, carried as text; integers are accepted."""


class NotificationSent(Envelope):
    """A WhatsApp message was accepted by Twilio."""

    event_type: Literal["NotificationSent"] = Field(
        default="NotificationSent", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference | None = Field(default=None, description="The order the message is about.")
    source_event_id: UUID = Field(description="`eventId` of the event that caused the message.")
    kind: NotificationKind = Field(description="What the message was about.")
    to: PhoneNumber = Field(description="Recipient's WhatsApp number (E.164, no `whatsapp:`).")
    twilio_sid: Annotated[str, clipped(MAX_REFERENCE_LENGTH)] = Field(
        description="Twilio message SID (`SM...`)."
    )
    body: Annotated[str, clipped(MAX_WHATSAPP_BODY_LENGTH)] | None = Field(
        default=None, description="The text sent, for a free-form message."
    )
    template_sid: Reference | None = Field(
        default=None, description="Twilio `ContentSid`, for an approved template message."
    )

    @model_validator(mode="after")
    def _body_or_template(self) -> Self:
        if self.body is None and self.template_sid is None:
            raise ValueError("a sent notification has a body or a templateSid")
        return self


class NotificationFailed(Envelope):
    """A WhatsApp message could not be sent."""

    event_type: Literal["NotificationFailed"] = Field(
        default="NotificationFailed", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference | None = Field(default=None, description="The order the message was about.")
    source_event_id: UUID = Field(description="`eventId` of the event that caused the message.")
    kind: NotificationKind = Field(description="What the message was about.")
    to: PhoneNumber = Field(description="Recipient's WhatsApp number (E.164, no `whatsapp:`).")
    error_code: TwilioErrorCode = Field(
        description="Twilio error code (e.g. `63016`, `21211`) or HTTP status, as text."
    )
    message: Annotated[str, clipped(MAX_MESSAGE_LENGTH)] = Field(
        description="Twilio's error message, or ours (cut at 1000 characters)."
    )
    permanent: bool = Field(
        description="True if retrying cannot help (e.g. 63024, 21211); false if retries ran out."
    )


class NotificationDropped(Envelope):
    """A WhatsApp message that waited through a Twilio outage was dropped, never sent: a later
    message of the same order made it pointless (e.g. "being prepared" after "delivered")."""

    event_type: Literal["NotificationDropped"] = Field(
        default="NotificationDropped", description=TYPE_NAME_DESCRIPTION
    )
    order_id: Reference | None = Field(default=None, description="The order the message was about.")
    source_event_id: UUID = Field(description="`eventId` of the event that caused the message.")
    kind: NotificationKind = Field(description="What the message was about.")
    to: PhoneNumber = Field(description="Recipient's WhatsApp number (E.164, no `whatsapp:`).")
    superseded_by: UUID = Field(
        description="`eventId` of the later event whose message made this one pointless."
    )
