"""Use cases of the notifier: tell the customer what an event means, once, in order.

For each message an event sends: claim it in the ledger (unique id per source event and kind),
send it through Twilio (a short in-line retry), record the outcome with its audit event in the
same write, publish the event. When Twilio is unavailable, or an earlier message of the order
still waits, the message waits in the ledger and the consumer moves on; the retry loop sends the
first waiting message of each order until it goes or its window ends. A later message of the
order may make a waiting one pointless: it is dropped, never sent late. See
docs/notifications.md for the waiting window and how a lost answer is looked up in Twilio.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from services.notifier.domain import messages_for, silenced
from services.notifier.late_messages import supersedes
from services.notifier.messages import CustomerEvent, CustomerMessage, notification_id
from services.notifier.metrics import (
    NOTIFICATIONS,
    OLDEST_WAITING,
    POSSIBLE_DUPLICATES,
    WAITED,
    WAITING,
)
from services.notifier.outgoing import audit_event
from services.notifier.ports import (
    Claim,
    ClaimOutcome,
    LedgerState,
    Messenger,
    NotificationLedger,
    Outcome,
    StoreConfigs,
    Waiting,
)
from services.notifier.sending import TwilioSends, error_code, masked
from shared.consumer import ReceivedRecord
from shared.contracts.orders import OrderPlaced
from shared.errors import is_unavailable
from shared.gateway import GatewayError
from shared.records import OutgoingRecord
from shared.retry import Backoff, retry_transient
from shared.topics import NOTIFICATIONS_EVENTS

log = logging.getLogger(__name__)

RECORD_BACKOFF = Backoff(attempts=30, initial=0.1, maximum=2.0, max_elapsed=60.0)


@dataclass(frozen=True)
class WaitingPolicy:
    """How messages wait through a Twilio outage."""

    window: timedelta = timedelta(hours=6)
    """How long after its claim a message may still be sent; then it is FAILED."""
    backoff: Backoff = field(default_factory=lambda: Backoff(initial=5.0, maximum=300.0))
    """The waits between the retry loop's tries of one message."""
    send_span: timedelta = timedelta(seconds=60)
    """The longest one send (with its in-line retries) may take: the retry loop's lease, and
    how long after a send began Twilio may list the message it made."""
    poll: timedelta = timedelta(seconds=1)
    """How often the retry loop looks for messages due."""


class NotificationService:
    def __init__(
        self,
        ledger: NotificationLedger,
        messenger: Messenger,
        store_configs: StoreConfigs,
        clock: Callable[[], datetime],
        *,
        templates: Mapping[str, str] | None = None,
        free_form_window: timedelta = timedelta(hours=24),
        waiting: WaitingPolicy | None = None,
        events_topic: str = NOTIFICATIONS_EVENTS,
    ) -> None:
        self._ledger = ledger
        self._store_configs = store_configs
        self._clock = clock
        self._policy = waiting or WaitingPolicy()
        self._twilio = TwilioSends(
            messenger,
            ledger,
            clock,
            templates=templates or {},
            free_form_window=free_form_window,
            send_span=self._policy.send_span,
        )
        self._events_topic = events_topic
        self._last_position = 0
        self._unavailable_until: datetime | None = None
        """Until then new messages wait without a try: Twilio failed a moment ago."""
        self._answered = False
        """Twilio answered the last send this process made: it is up, so every waiting
        message goes at once rather than at the end of its backoff."""

    async def notify(self, event: CustomerEvent, record: ReceivedRecord | None = None) -> None:
        """Sends the messages `event` (read from `record`) calls for, each once, or leaves them
        waiting."""
        if isinstance(event, OrderPlaced):
            await self._ledger.remember_placement(event.order_id, event.occurred_at)
        config = await self._store_configs.config_for(event.client_id, event.store_id, record)
        for message in messages_for(event, config):
            await self._deliver(event, message)
        # The ledger, not a processed-event record, takes each event once (handlers.takes_once):
        # what the configuration left out is kept too, so a change of it before the event comes
        # again (a crash before the commit) sends nothing late.
        for kind in silenced(event, config):
            await self._ledger.silence(
                notification_id(event.event_id, kind), event_at=event.occurred_at, now=self._clock()
            )

    async def _deliver(self, event: CustomerEvent, message: CustomerMessage) -> None:
        notification_id = message.notification_id(event.event_id)
        now = self._clock()
        claimed = await self._ledger.claim(
            Claim(
                notification_id=notification_id,
                source_event_id=str(event.event_id),
                kind=message.kind,
                order_id=message.order_id,
                client_id=event.client_id,
                store_id=event.store_id,
                to=message.to,
                claimed_at=now,
                message=message,
                cause=event,
                position=self._next_position(now),
            )
        )
        if claimed is ClaimOutcome.DONE:
            await self._ledger.publish(notification_id)
            return
        since = None
        if claimed is ClaimOutcome.UNFINISHED:
            since = await self._ledger.first_claimed_at(notification_id) or now
        ahead = await self._drop_superseded(event, message, notification_id)
        if ahead or self._twilio_failed_lately(now):
            # Behind a waiting message of its order, or Twilio just failed: the loop sends it
            # (looking first for what an unfinished claim may have sent).
            WAITED.labels("queued" if ahead else "unavailable").inc()
            await self._ledger.wait(notification_id, now, attempt_at=since, error=None)
            return
        outcome = None
        if since is not None:
            try:
                outcome = await self._twilio.sent_before(message, since)
            except (GatewayError, httpx.TransportError) as error:
                await self._wait(notification_id, 0, since, error_code(error))
                return
            if outcome is None:
                POSSIBLE_DUPLICATES.inc()
                log.warning(
                    "notification %s was claimed before, never recorded and Twilio does not "
                    "list it; sending again",
                    notification_id,
                )
        if outcome is None:
            outcome = await self._twilio.send(message)
        if outcome.state is LedgerState.WAITING:
            await self._wait(notification_id, 0, now, outcome.error_code)
            return
        self._answered = True
        await self._finish(event, message, notification_id, outcome)

    async def send_waiting(self) -> int:
        """One pass of the retry loop: tries the first waiting message of each order when it
        is due; returns how many were settled (sent, failed)."""
        waiting = await self._ledger.waiting()
        now = self._clock()
        WAITING.set(len(waiting))
        oldest = min((entry.claimed_at for entry in waiting), default=now)
        OLDEST_WAITING.set((now - oldest).total_seconds())
        orders: dict[tuple[str, str], list[Waiting]] = {}
        for entry in waiting:
            order = entry.message.order_id or entry.notification_id
            orders.setdefault((entry.cause.client_id, order), []).append(entry)
        settled = 0
        for head, *behind in orders.values():
            # Once Twilio answers again, the messages that waited through its outage go at
            # once, not each at the end of its own backoff (minutes, after a long outage).
            due = head.retry_at <= now or self._answered
            if await self._drop_passed(head, behind) or (due and await self._retry(head)):
                settled += 1
        return settled

    async def keep_sending_waiting(self) -> None:
        """The retry loop, forever (a background loop); failures are logged."""
        while True:
            try:
                settled = await self.send_waiting()
            except Exception:
                log.exception("sending the waiting notifications failed")
                settled = 0
            if not settled:
                await asyncio.sleep(self._policy.poll.total_seconds())

    async def _retry(self, head: Waiting) -> bool:
        now = self._clock()
        notification_id, message = head.notification_id, head.message
        if not await self._ledger.lease(notification_id, now, now + self._policy.send_span):
            return False  # another replica is sending it
        if now - head.claimed_at > self._policy.window:
            log.error(
                "%s message to %s for order %s not sent: Twilio unavailable for the whole "
                "waiting window (%s, last %s); recorded FAILED",
                message.kind.value,
                masked(message.to),
                message.order_id,
                self._policy.window,
                head.last_error,
            )
            failed = Outcome(
                LedgerState.FAILED,
                body=message.body,
                error_code=head.last_error or "unavailable",
                error_message=f"Twilio unavailable for the whole waiting window of "
                f"{self._policy.window}",
            )
            await self._finish(head.cause, message, notification_id, failed)
            return True
        outcome = None
        if head.attempt_at is not None:
            try:
                outcome = await self._twilio.sent_before(message, head.attempt_at)
            except (GatewayError, httpx.TransportError) as error:
                await self._wait(notification_id, head.waits, head.attempt_at, error_code(error))
                return False
        if outcome is None:
            await self._ledger.attempting(notification_id, now)
            outcome = await self._twilio.send(message)
        if outcome.state is LedgerState.WAITING:
            await self._wait(notification_id, head.waits, now, outcome.error_code)
            return False
        self._unavailable_until = None
        self._answered = True
        await self._finish(head.cause, message, notification_id, outcome)
        return True

    async def _drop_passed(self, head: Waiting, behind: list[Waiting]) -> bool:
        """Drops the first waiting message of an order when one queued behind it makes it
        pointless: that one's own drop was refused while this loop held the first (a send
        in flight), and it queued instead."""
        passing = next((later for later in behind if supersedes(later.message, head.message)), None)
        return passing is not None and await self._drop(head, passing.cause, passing.message)

    async def _drop_superseded(
        self, event: CustomerEvent, message: CustomerMessage, notification_id: str
    ) -> list[Waiting]:
        """Drops the order's waiting messages `message` makes pointless; returns the others."""
        if message.order_id is None:
            return []
        ahead = []
        for waiting in await self._ledger.waiting(message.order_id):
            if waiting.notification_id == notification_id or (
                waiting.cause.client_id != event.client_id
            ):
                continue
            if supersedes(message, waiting.message) and await self._drop(waiting, event, message):
                continue
            ahead.append(waiting)
        return ahead

    async def _drop(self, waiting: Waiting, by: CustomerEvent, message: CustomerMessage) -> bool:
        """Records `waiting` dropped, made pointless by `message` of event `by`; False when it
        cannot be (settled already, or held by a send in flight)."""
        dropped = Outcome(
            LedgerState.DROPPED, body=waiting.message.body, superseded_by=str(by.event_id)
        )
        if not await self._finish(waiting.cause, waiting.message, waiting.notification_id, dropped):
            return False
        log.info(
            "%s message for order %s dropped: %s made it pointless",
            waiting.message.kind.value,
            waiting.message.order_id,
            message.kind.value,
        )
        return True

    async def _wait(
        self, notification_id: str, waits: int, attempt_at: datetime | None, error: str | None
    ) -> None:
        """Twilio unavailable: the message waits for the retry loop, after a backoff."""
        now = self._clock()
        self._unavailable_until = now + timedelta(seconds=self._policy.backoff.initial)
        self._answered = False
        WAITED.labels("unavailable").inc()
        retry_at = now + timedelta(seconds=self._policy.backoff.delay(waits))
        await self._ledger.wait(
            notification_id, retry_at, attempt_at=attempt_at, error=error or "unavailable"
        )

    async def _finish(
        self,
        cause: CustomerEvent,
        message: CustomerMessage,
        notification_id: str,
        outcome: Outcome,
    ) -> bool:
        """Records the outcome with its audit event and publishes it; False if not recorded."""
        report = audit_event(cause, message, outcome, event_id=uuid.uuid4(), now=self._clock())
        audit = OutgoingRecord.of(self._events_topic, report)
        # Twilio has answered: a failed write here must not make the redelivery send again, so
        # an unreachable database is waited for in place.
        recorded = await retry_transient(
            lambda: self._ledger.record(notification_id, outcome, audit, self._clock()),
            is_transient=is_unavailable,
            backoff=RECORD_BACKOFF,
        )
        if recorded:
            NOTIFICATIONS.labels(message.kind.value, outcome.state.value.lower()).inc()
            await self._ledger.publish(notification_id)
        return recorded

    def _twilio_failed_lately(self, now: datetime) -> bool:
        return self._unavailable_until is not None and now < self._unavailable_until

    def _next_position(self, now: datetime) -> int:
        """Microseconds since the epoch, strictly increasing within this process."""
        self._last_position = max(int(now.timestamp() * 1_000_000), self._last_position + 1)
        return self._last_position
