"""What the notifier publishes: the audit event of each message, sent, failed or dropped."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.notifier.messages import CustomerEvent, CustomerMessage
from services.notifier.ports import LedgerState, Outcome
from shared.contracts.notifications import (
    NotificationDropped,
    NotificationFailed,
    NotificationSent,
)


def audit_event(
    event: CustomerEvent,
    message: CustomerMessage,
    outcome: Outcome,
    *,
    event_id: UUID,
    now: datetime,
) -> NotificationSent | NotificationFailed | NotificationDropped:
    """What became of one message `event` called for, caused by that event."""
    about: dict[str, Any] = {
        "order_id": message.order_id,
        "source_event_id": event.event_id,
        "kind": message.kind,
        "to": message.to,
    }
    if outcome.state is LedgerState.SENT:
        assert outcome.twilio_sid is not None
        return NotificationSent.caused_by(
            event,
            event_id=event_id,
            now=now,
            **about,
            twilio_sid=outcome.twilio_sid,
            body=outcome.body,
            template_sid=outcome.template_sid,
        )
    if outcome.state is LedgerState.DROPPED:
        assert outcome.superseded_by is not None
        return NotificationDropped.caused_by(
            event, event_id=event_id, now=now, **about, superseded_by=outcome.superseded_by
        )
    return NotificationFailed.caused_by(
        event,
        event_id=event_id,
        now=now,
        **about,
        error_code=outcome.error_code or "unknown",
        message=outcome.error_message or "",
        permanent=outcome.permanent,
    )
