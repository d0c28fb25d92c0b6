"""What the order service answers a sender it refuses: the chatbot's commands (OrderRejected) and
a POS's reports (PosUpdateRejected), each logged and counted, sent at once (not in an outbox:
a refusal changes no order)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.order import metrics
from services.order.domain.decisions import PosReport
from services.order.domain.errors import OrderError
from services.order.domain.order import Order
from services.order.domain.validation import Rejection
from services.order.outgoing import (
    pos_update_refused,
    records_of,
    rejected,
    unreadable,
    unreadable_pos_update,
)
from shared.contracts.orders import CancelOrder, ChangePaymentMethod, PlaceOrder
from shared.contracts.pos import PosUpdateRejected
from shared.records import RecordSink

log = logging.getLogger(__name__)

REFUSAL_ID_NAMESPACE = UUID("19c084f4-10a6-4097-b2af-60fc8e50385c")

OrderCommand = CancelOrder | ChangePaymentMethod
"""The customer's commands on an existing order."""


def refusal_id_for(command: PlaceOrder | OrderCommand) -> UUID:
    """The id of the OrderRejected refusing a command: a redelivered command decided again is
    refused by the same event, which its readers skip as one they handled."""
    return uuid.uuid5(REFUSAL_ID_NAMESPACE, str(command.event_id))


class Refusals:
    """Answers refused commands and POS reports on the sender's topic."""

    def __init__(
        self, sink: RecordSink, *, clock: Callable[[], datetime], new_id: Callable[[], UUID]
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._new_id = new_id

    async def command(
        self,
        command: PlaceOrder | OrderCommand,
        rejection: Rejection,
        order: Order | None = None,
    ) -> None:
        answer = rejected(
            command, rejection, order, event_id=refusal_id_for(command), now=self._clock()
        )
        log.info("%s %s refused: %s", command.event_type, command.event_id, rejection.reason_code)
        metrics.COMMANDS_REJECTED.labels(command.event_type, rejection.reason_code).inc()
        await self._sink.send(*records_of([answer]))

    async def unreadable_command(
        self,
        payload: Mapping[str, Any],
        problem: str,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Tells the chatbot its command was unreadable, when it named whom to tell."""
        answer = unreadable(payload, problem, errors, event_id=self._new_id(), now=self._clock())
        if answer is None:
            log.warning("unreadable command names no usable clientId/correlationId; dead-lettered")
            return
        # The label is a known command type: a hostile eventType must not become a time series.
        event_type = payload.get("eventType")
        known = (PlaceOrder.__name__, CancelOrder.__name__, ChangePaymentMethod.__name__)
        label = event_type if event_type in known else "other"
        metrics.COMMANDS_REJECTED.labels(label, answer.reason_code).inc()
        await self._sink.send(*records_of([answer]))

    async def pos_update(
        self, update: PosReport, error: OrderError, seen: Order | None, store: tuple[str, str]
    ) -> None:
        """Tells the store's POS why its report was refused (`seen`: the order it named, if
        found)."""
        await self._send(
            pos_update_refused(
                update, error, seen, store, event_id=self._new_id(), now=self._clock()
            )
        )

    async def unreadable_pos_update(
        self, payload: Mapping[str, Any], problem: str, store: tuple[str, str]
    ) -> None:
        """Tells the store's POS that an update it sent could not be read."""
        await self._send(
            unreadable_pos_update(
                payload, problem, store, event_id=self._new_id(), now=self._clock()
            )
        )

    async def _send(self, answer: PosUpdateRejected) -> None:
        log.info(
            "POS update %s of %s/%s refused: %s",
            answer.refused_event_id,
            answer.client_id,
            answer.store_id,
            answer.reason,
        )
        metrics.POS_UPDATES_REFUSED.labels(answer.reason).inc()
        await self._sink.send(*records_of([answer]))
