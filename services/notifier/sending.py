"""The notifier's sends through Twilio: a message as free-form text or, outside WhatsApp's
24-hour window (or when Twilio answers 63016), as its approved template; and the look-up of a
message a send whose answer is unknown may have made, so that it is never sent twice."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import httpx

from services.notifier.late_messages import outside_free_form_window as is_outside_window
from services.notifier.messages import CustomerMessage
from services.notifier.metrics import DUPLICATES_AVOIDED, SEND_SECONDS, TEMPLATE_FALLBACKS
from services.notifier.ports import LedgerState, Listed, Messenger, NotificationLedger, Outcome
from shared.gateway import GatewayError, GatewayRefused

log = logging.getLogger(__name__)

OUTSIDE_WINDOW = "63016"
CLOCK_SKEW = timedelta(seconds=1)
"""Twilio's dates have whole seconds."""


class TwilioSends:
    """Sends one message, or finds the one a lost send made; never records anything."""

    def __init__(
        self,
        messenger: Messenger,
        ledger: NotificationLedger,
        clock: Callable[[], datetime],
        *,
        templates: Mapping[str, str],
        free_form_window: timedelta,
        send_span: timedelta,
    ) -> None:
        self._messenger = messenger
        self._ledger = ledger
        self._clock = clock
        self._templates = dict(templates)
        self._window = free_form_window
        self._send_span = send_span

    async def sent_before(self, message: CustomerMessage, since: datetime) -> Outcome | None:
        """Twilio's record of the message, if a send begun at `since` made one.

        A free-form message is the one with its body. A template's text is rendered by Twilio,
        so a template message is the earliest one to the recipient from the sender listed while
        that send could run (`send_span`) whose SID no notification of ours holds: our other
        messages to the customer are excluded by their recorded SIDs. Raises when Twilio cannot
        be asked.
        """
        until = since + self._send_span
        listed = [
            found
            for found in await self._messenger.latest(message.to, from_=message.sender)
            if since - CLOCK_SKEW <= found.created_at <= until + CLOCK_SKEW
        ]
        sid = next((found.sid for found in listed if found.body == message.body), None)
        if sid is not None:
            outcome = Outcome(LedgerState.SENT, twilio_sid=sid, body=message.body)
        elif (template_sid := message.template_sid(self._templates)) is not None and (
            sid := await self._unclaimed(message.to, listed)
        ) is not None:
            outcome = Outcome(LedgerState.SENT, twilio_sid=sid, template_sid=template_sid)
        else:
            return None
        DUPLICATES_AVOIDED.inc()
        log.info("a %s message was sent before (%s); not sent again", message.kind.value, sid)
        return outcome

    async def _unclaimed(self, to: str, listed: list[Listed]) -> str | None:
        if not listed:
            return None
        held = await self._ledger.held_sids(to, [found.sid for found in listed])
        unclaimed = [found for found in listed if found.sid not in held]
        return min(unclaimed, key=lambda found: found.created_at).sid if unclaimed else None

    async def send(self, message: CustomerMessage) -> Outcome:
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
        except GatewayRefused as error:
            return self._refused(message, error)
        except (GatewayError, httpx.TransportError) as error:
            log.warning(
                "%s message for order %s waits: Twilio unavailable (%s)",
                message.kind.value,
                message.order_id,
                error_code(error),
            )
            return Outcome(LedgerState.WAITING, error_code=error_code(error))
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

    def _refused(self, message: CustomerMessage, error: GatewayRefused) -> Outcome:
        log.warning(
            "%s message to %s for order %s not sent (%s, permanent): %s",
            message.kind.value,
            masked(message.to),
            message.order_id,
            error.code,
            error.description,
        )
        return Outcome(
            LedgerState.FAILED,
            body=message.body,
            error_code=error.code,
            error_message=error.description,
            permanent=True,
        )


def error_code(error: Exception) -> str:
    return error.code if isinstance(error, GatewayError) else type(error).__name__


def masked(phone: str) -> str:
    """A phone number fit for logs: `+5511*****4321`."""
    return phone[:5] + "*" * max(len(phone) - 9, 0) + phone[-4:]
