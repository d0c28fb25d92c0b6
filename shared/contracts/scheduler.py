"""Durable timer commands (`scheduler.commands`) and their firing (`scheduler.events`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.contracts.base import TYPE_NAME_DESCRIPTION, Envelope, Reference, UtcDatetime
from shared.contracts.limits import MAX_REFERENCE_LENGTH, MAX_TIMER_PAYLOAD_ENTRIES

PayloadText = Annotated[str, StringConstraints(max_length=MAX_REFERENCE_LENGTH)]
"""A key or value of a timer's payload: at most 200 characters."""


class TimerPurpose(StrEnum):
    """What a timer is for, so that its consumer knows what to do when it fires."""

    CONFIRMATION_DEADLINE = "CONFIRMATION_DEADLINE"
    PAYMENT_DEADLINE = "PAYMENT_DEADLINE"


class ScheduleTimer(Envelope):
    """Create or replace (upsert by `timerId`) a timer due at `dueAt`."""

    event_type: Literal["ScheduleTimer"] = Field(
        default="ScheduleTimer", description=TYPE_NAME_DESCRIPTION
    )
    timer_id: Reference = Field(
        description="Caller-chosen id, e.g. `<orderId>:confirmation`; the upsert key."
    )
    due_at: UtcDatetime = Field(description="When the timer fires (UTC).")
    purpose: TimerPurpose = Field(description="What the timer is for.")
    order_id: Reference | None = Field(
        default=None, description="The order the timer concerns, if any."
    )
    payload: dict[PayloadText, PayloadText] = Field(
        default_factory=dict,
        max_length=MAX_TIMER_PAYLOAD_ENTRIES,
        description="Opaque strings handed back in `TimerFired` (at most 20).",
    )


class CancelTimer(Envelope):
    """Remove a timer; cancelling an unknown or fired timer is a no-op."""

    event_type: Literal["CancelTimer"] = Field(
        default="CancelTimer", description=TYPE_NAME_DESCRIPTION
    )
    timer_id: Reference = Field(description="The timer to remove.")


class TimerFired(Envelope):
    """A timer reached its due time (at least once: consumers must be idempotent)."""

    event_type: Literal["TimerFired"] = Field(
        default="TimerFired", description=TYPE_NAME_DESCRIPTION
    )
    timer_id: Reference = Field(description="The timer that fired.")
    purpose: TimerPurpose = Field(description="What the timer is for.")
    order_id: Reference | None = Field(
        default=None, description="The order the timer concerns, if any."
    )
    due_at: UtcDatetime = Field(description="When the timer was due (UTC).")
    fired_at: UtcDatetime = Field(description="When it actually fired (UTC).")
    payload: dict[PayloadText, PayloadText] = Field(
        default_factory=dict,
        max_length=MAX_TIMER_PAYLOAD_ENTRIES,
        description="The payload given in `ScheduleTimer`.",
    )
