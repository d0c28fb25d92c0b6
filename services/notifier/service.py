"""Use cases of the notifier: tell the customer what an event means, once, in order.

For each message an event sends: claim it in the ledger (unique id per source event and kind),
send it through Twilio (transient failures retried in-line, so the messages of one restaurant
keep their order), record the outcome with its audit event in the same write, publish the
event. Nothing happens between Twilio's answer and the record, which keeps the window where a
crash can cause a second send as small as it can be. A redelivery that finds a claim left
unfinished first looks for the message in Twilio's list of the recipient's latest messages;
only if it is not there is it sent again, counted as a possible duplicate.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx

from services.notifier.domain import CustomerEvent, CustomerMessage, messages_for
from services.notifier.domain import outside_free_form_window as is_outside_window
from services.notifier.metrics import (
    DUPLICATES_AVOIDED,
    NOTIFICATIONS,
    POSSIBLE_DUPLICATES,
    SEND_SECONDS,
    TEMPLATE_FALLBACKS,
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
)
from shared.contracts.orders import OrderPlaced
from shared.errors import is_unavailable
from shared.gateway import GatewayError, GatewayRefused
from shared.records import OutgoingRecord
from shared.retry import Backoff, retry_transient
from shared.topics import NOTIFICATIONS_EVENTS

log = logging.getLogger(__name__)

OUTSIDE_WINDOW = "63016"
RECORD_BACKOFF = Backoff(attempts=30, initial=0.1, maximum=2.0, max_elapsed=60.0)


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
        events_topic: str = NOTIFICATIONS_EVENTS,
    ) -> None:
        self._ledger = ledger
        self._messenger = messenger
        self._store_configs = store_configs
        self._clock = clock
        self._templates = dict(templates or {})
        self._window = free_form_window
        self._events_topic = events_topic

    async def notify(self, event: CustomerEvent) -> None:
        """Sends the messages `event` calls for, each once."""
        if isinstance(event, OrderPlaced):
            await self._ledger.remember_placement(event.order_id, event.occurred_at)
        config = await self._store_configs.config_for(event.client_id, event.store_id)
        for message in messages_for(event, config):
            await self._deliver(event, message)

    async def _deliver(self, event: CustomerEvent, message: CustomerMessage) -> None:
        notification_id = message.notification_id(event.event_id)
        claimed = await self._ledger.claim(
            Claim(
                notification_id=notification_id,
                source_event_id=str(event.event_id),
                kind=message.kind,
                order_id=message.order_id,
                client_id=event.client_id,
                store_id=event.store_id,
                to=message.to,
                claimed_at=self._clock(),
            )
        )
        if claimed is ClaimOutcome.DONE:
            await self._ledger.publish(notification_id)
            return
        outcome = None
        if claimed is ClaimOutcome.UNFINISHED:
            outcome = await self._sent_before(notification_id, message)
        if outcome is None:
            outcome = await self._send(message)
        report = audit_event(event, message, outcome, event_id=uuid.uuid4(), now=self._clock())
        audit = OutgoingRecord.of(self._events_topic, report)
        # Twilio has answered: a failed write here must not make the redelivery send again, so
        # an unreachable database is waited for in place.
        await retry_transient(
            lambda: self._ledger.record(notification_id, outcome, audit, self._clock()),
            is_transient=is_unavailable,
            backoff=RECORD_BACKOFF,
        )
        NOTIFICATIONS.labels(message.kind.value, outcome.state.value.lower()).inc()
        await self._ledger.publish(notification_id)

    async def _sent_before(self, notification_id: str, message: CustomerMessage) -> Outcome | None:
        """For a claim a crash left unfinished: Twilio's record of the message, if it has one."""
        claimed_at = await self._ledger.first_claimed_at(notification_id)
        sid = None
        if claimed_at is not None:
            try:
                sid = await self._messenger.find_sent(
                    message.to, message.body, claimed_at, from_=message.sender
                )
            except (GatewayError, httpx.TransportError) as error:
                log.warning(
                    "could not list Twilio messages to check %s: %s", notification_id, error
                )
        if sid is not None:
            DUPLICATES_AVOIDED.inc()
            log.info(
                "notification %s was sent before a crash (%s); not sent again", notification_id, sid
            )
            return Outcome(LedgerState.SENT, twilio_sid=sid, body=message.body)
        POSSIBLE_DUPLICATES.inc()
        log.warning(
            "notification %s was claimed before and never recorded; sending again, the "
            "customer may receive it twice",
            notification_id,
        )
        return None

    async def _send(self, message: CustomerMessage) -> Outcome:
        template_sid = message.template_sid(self._templates)
        placed_at = (
            await self._ledger.placed_at(message.order_id) if message.order_id is not None else None
        )
        outside = is_outside_window(placed_at, self._clock(), self._window)
        started = time.monotonic()
        try:
            if outside and template_sid is not None:
                TEMPLATE_FALLBACKS.labels("window").inc()
                return await self._send_template(message, template_sid)
            try:
                sid = await self._messenger.send(
                    message.to,
                    body=message.body,
                    from_=message.sender,
                    media_url=message.media_url,
                )
                return Outcome(LedgerState.SENT, twilio_sid=sid, body=message.body)
            except GatewayRefused as error:
                if error.code != OUTSIDE_WINDOW or template_sid is None:
                    raise
                TEMPLATE_FALLBACKS.labels(OUTSIDE_WINDOW).inc()
                return await self._send_template(message, template_sid)
        except GatewayError as error:
            return self._failure(message, error.code, error.description, error)
        except httpx.TransportError as error:
            return self._failure(message, "transport", type(error).__name__, error)
        finally:
            SEND_SECONDS.observe(time.monotonic() - started)

    async def _send_template(self, message: CustomerMessage, template_sid: str) -> Outcome:
        sid = await self._messenger.send(
            message.to,
            content_sid=template_sid,
            content_variables=message.template_variables,
            from_=message.sender,
        )
        return Outcome(LedgerState.SENT, twilio_sid=sid, template_sid=template_sid)

    def _failure(
        self, message: CustomerMessage, code: str, description: str, error: Exception
    ) -> Outcome:
        permanent = isinstance(error, GatewayRefused)
        log.warning(
            "%s message to %s for order %s not sent (%s, %s): %s",
            message.kind.value,
            _masked(message.to),
            message.order_id,
            code,
            "permanent" if permanent else "retries exhausted",
            description,
        )
        return Outcome(
            LedgerState.FAILED,
            body=message.body,
            error_code=code,
            error_message=description,
            permanent=permanent,
        )


def _masked(phone: str) -> str:
    """A phone number fit for logs: `+5511*****4321`."""
    return phone[:5] + "*" * max(len(phone) - 9, 0) + phone[-4:]
