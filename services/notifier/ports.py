"""What the notifier needs from storage, Twilio and the store configurations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import NotificationKind
from shared.records import OutgoingRecord


class LedgerState(StrEnum):
    SENDING = "SENDING"
    """Claimed; Twilio's answer is not recorded yet (a crash here may send twice)."""
    SENT = "SENT"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Claim:
    """A message about to be sent: the ledger entry that makes it happen once."""

    notification_id: str
    source_event_id: str
    kind: NotificationKind
    order_id: str | None
    client_id: str
    store_id: str
    to: str
    claimed_at: datetime


class ClaimOutcome(StrEnum):
    CLAIMED = "CLAIMED"
    """First time: send it."""
    UNFINISHED = "UNFINISHED"
    """Claimed before and never recorded: a crash between sending and recording, maybe."""
    DONE = "DONE"
    """Sent or failed before: nothing to send."""


@dataclass(frozen=True)
class Outcome:
    """Twilio's final answer for one message."""

    state: LedgerState
    twilio_sid: str | None = None
    body: str | None = None
    template_sid: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    permanent: bool = False


class NotificationLedger(Protocol):
    async def claim(self, claim: Claim) -> ClaimOutcome:
        """Takes the message (unique by id); says whether it was taken before and finished."""
        ...

    async def first_claimed_at(self, notification_id: str) -> datetime | None:
        """When the message was first claimed (before it was first sent)."""
        ...

    async def record(
        self, notification_id: str, outcome: Outcome, event: OutgoingRecord, now: datetime
    ) -> None:
        """Records the outcome and its audit event (outbox) in one write; once only."""
        ...

    async def publish(self, notification_id: str) -> None:
        """Publishes the entry's outbox now (a no-op when there is nothing)."""
        ...

    async def remember_placement(self, order_id: str, placed_at: datetime) -> None:
        """Notes when an order was placed (the start of its free-form window)."""
        ...

    async def placed_at(self, order_id: str) -> datetime | None: ...


class Messenger(Protocol):
    async def send(
        self,
        to: str,
        *,
        body: str | None = None,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
        from_: str | None = None,
        media_url: str | None = None,
    ) -> str:
        """Sends one WhatsApp message (from `from_`, else the platform's sender; with the image
        at `media_url` beside a body); returns its SID. Raises GatewayRefused/Unavailable."""
        ...

    async def find_sent(
        self, to: str, body: str, since: datetime, from_: str | None = None
    ) -> str | None:
        """The SID of a message with this body sent to `to` (from `from_`, else the platform's
        sender) since `since`, if Twilio lists one."""
        ...


class StoreConfigs(Protocol):
    async def config_for(self, client_id: str, store_id: str) -> StoreOrderConfig:
        """The store's latest known configuration, or the defaults."""
        ...
