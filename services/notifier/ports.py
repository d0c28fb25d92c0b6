"""What the notifier needs from storage, Twilio and the store configurations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from services.notifier.messages import CustomerEvent, CustomerMessage
from shared.consumer import ReceivedRecord
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import NotificationKind
from shared.records import OutgoingRecord


class LedgerState(StrEnum):
    SENDING = "SENDING"
    """Claimed; Twilio's answer is not recorded yet (a crash here may send twice)."""
    WAITING = "WAITING"
    """Twilio unavailable, or an earlier message of the order waits: sent by the retry loop."""
    SENT = "SENT"
    FAILED = "FAILED"
    DROPPED = "DROPPED"
    """Waited, then a later message of the order made it pointless: never sent."""
    SILENCED = "SILENCED"
    """Not due under the store's configuration when its event was handled: kept so that the
    event handled again after a change of configuration sends nothing late."""


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
    message: CustomerMessage
    cause: CustomerEvent
    """The event that called for the message (its audit event is caused by it)."""
    position: int
    """Orders the messages of one order: a later claim has a greater position."""


@dataclass(frozen=True)
class Waiting:
    """A message in the ledger's WAITING state, with what it takes to send it later."""

    notification_id: str
    message: CustomerMessage
    cause: CustomerEvent
    position: int
    claimed_at: datetime
    retry_at: datetime
    waits: int
    """How many times it was put back to wait (the backoff's step)."""
    attempt_at: datetime | None
    """When the last send whose answer is unknown began: look in Twilio before sending again."""
    last_error: str | None


@dataclass(frozen=True)
class Listed:
    """One message of Twilio's list of a recipient's latest messages."""

    sid: str
    body: str
    created_at: datetime


class ClaimOutcome(StrEnum):
    CLAIMED = "CLAIMED"
    """First time: send it."""
    UNFINISHED = "UNFINISHED"
    """Claimed before and never recorded: a crash between sending and recording, maybe."""
    DONE = "DONE"
    """Sent or failed before: nothing to send."""


@dataclass(frozen=True)
class Outcome:
    """What became of one message: Twilio's answer (WAITING: unavailable), or its drop."""

    state: LedgerState
    twilio_sid: str | None = None
    body: str | None = None
    template_sid: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    permanent: bool = False
    superseded_by: str | None = None
    """For DROPPED: the `eventId` whose message made this one pointless."""


class NotificationLedger(Protocol):
    async def claim(self, claim: Claim) -> ClaimOutcome:
        """Takes the message (unique by id); says whether it was taken before and finished."""
        ...

    async def first_claimed_at(self, notification_id: str) -> datetime | None:
        """When the message was first claimed (before it was first sent)."""
        ...

    async def record(
        self, notification_id: str, outcome: Outcome, event: OutgoingRecord, now: datetime
    ) -> bool:
        """Records the outcome and its audit event (outbox) in one write; once only. A message
        waiting is recorded only if the retry loop is not sending it (False otherwise)."""
        ...

    async def wait(
        self,
        notification_id: str,
        retry_at: datetime,
        *,
        attempt_at: datetime | None,
        error: str | None,
    ) -> None:
        """Puts the message in WAITING (or back), due at `retry_at`, its lease released."""
        ...

    async def waiting(self, order_id: str | None = None, limit: int = 1000) -> list[Waiting]:
        """The messages waiting (of one order), earliest position first."""
        ...

    async def lease(self, notification_id: str, now: datetime, until: datetime) -> bool:
        """Takes a waiting message for the retry loop until `until`, unless another holds it."""
        ...

    async def attempting(self, notification_id: str, at: datetime) -> None:
        """Notes that a send of the waiting message begins at `at` (its answer not yet known)."""
        ...

    async def held_sids(self, to: str, sids: list[str]) -> set[str]:
        """Which of these Twilio SIDs a notification of ours to `to` already holds."""
        ...

    async def publish(self, notification_id: str) -> None:
        """Publishes the entry's outbox now (a no-op when there is nothing)."""
        ...

    async def silence(self, notification_id: str, *, event_at: datetime, now: datetime) -> None:
        """Keeps a message its store's configuration leaves out as decided: a later claim of it
        finds it DONE (a no-op when it was claimed before)."""
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

    async def latest(self, to: str, from_: str | None = None) -> list[Listed]:
        """The latest messages to `to` from `from_` (else the platform's sender), newest first."""
        ...


class StoreConfigs(Protocol):
    async def config_for(
        self, client_id: str, store_id: str, event: ReceivedRecord | None = None
    ) -> StoreOrderConfig:
        """The store's latest known configuration, or the defaults: with every configuration
        published before the `event` record (the message being handled) reached the broker."""
        ...
