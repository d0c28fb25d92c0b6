"""The in-memory twin of the notification ledger, for unit and component tests."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.notifier.ports import Claim, ClaimOutcome, LedgerState, Outcome
from shared.records import OutgoingRecord, RecordSink


class InMemoryNotificationLedger:
    def __init__(self, sink: RecordSink) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.outbox: dict[str, list[OutgoingRecord]] = {}
        self._sink = sink
        self.placements: dict[str, datetime] = {}

    async def claim(self, claim: Claim) -> ClaimOutcome:
        found = self.entries.get(claim.notification_id)
        if found is None:
            self.entries[claim.notification_id] = asdict(claim) | {
                "state": LedgerState.SENDING,
                "attempts": 1,
            }
            return ClaimOutcome.CLAIMED
        if found["state"] is not LedgerState.SENDING:
            return ClaimOutcome.DONE
        found["possibleDuplicate"] = True
        found["attempts"] += 1
        return ClaimOutcome.UNFINISHED

    async def first_claimed_at(self, notification_id: str) -> datetime | None:
        found = self.entries.get(notification_id)
        return None if found is None else found["claimed_at"]

    async def record(
        self, notification_id: str, outcome: Outcome, event: OutgoingRecord, now: datetime
    ) -> None:
        entry = self.entries[notification_id]
        if entry["state"] is not LedgerState.SENDING:
            return
        entry |= asdict(outcome) | {"finishedAt": now}
        self.outbox.setdefault(notification_id, []).append(event)

    async def publish(self, notification_id: str) -> None:
        await self._sink.send(*self.outbox.pop(notification_id, []))

    async def remember_placement(self, order_id: str, placed_at: datetime) -> None:
        self.placements.setdefault(order_id, placed_at)

    async def placed_at(self, order_id: str) -> datetime | None:
        return self.placements.get(order_id)

    async def entry(self, notification_id: str) -> dict[str, Any] | None:
        return self.entries.get(notification_id)
