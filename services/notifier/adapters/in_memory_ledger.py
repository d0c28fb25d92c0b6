"""The in-memory twin of the notification ledger, for unit and component tests."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from services.notifier.ports import Claim, ClaimOutcome, LedgerState, Outcome, Waiting
from shared.records import OutgoingRecord, RecordSink

RECORDABLE = (LedgerState.SENDING, LedgerState.WAITING)


class InMemoryNotificationLedger:
    def __init__(self, sink: RecordSink) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.outbox: dict[str, list[OutgoingRecord]] = {}
        self._sink = sink
        self.placements: dict[str, datetime] = {}
        self.silenced: set[str] = set()

    async def claim(self, claim: Claim) -> ClaimOutcome:
        if claim.notification_id in self.silenced:
            return ClaimOutcome.DONE
        found = self.entries.get(claim.notification_id)
        if found is None:
            self.entries[claim.notification_id] = {
                "claim": claim,
                "state": LedgerState.SENDING,
                "attempts": 1,
                "attempt_at": claim.claimed_at,
                "waits": 0,
                "leased_until": None,
            }
            return ClaimOutcome.CLAIMED
        if found["state"] is not LedgerState.SENDING:
            return ClaimOutcome.DONE
        found["possibleDuplicate"] = True
        found["attempts"] += 1
        return ClaimOutcome.UNFINISHED

    async def first_claimed_at(self, notification_id: str) -> datetime | None:
        found = self.entries.get(notification_id)
        return None if found is None else found["claim"].claimed_at

    async def record(
        self, notification_id: str, outcome: Outcome, event: OutgoingRecord, now: datetime
    ) -> bool:
        entry = self.entries[notification_id]
        if entry["state"] not in RECORDABLE:
            return False
        if outcome.state is LedgerState.DROPPED and self._leased(entry, now):
            return False
        entry |= asdict(outcome) | {"finishedAt": now, "leased_until": None}
        self.outbox.setdefault(notification_id, []).append(event)
        return True

    async def wait(
        self,
        notification_id: str,
        retry_at: datetime,
        *,
        attempt_at: datetime | None,
        error: str | None,
    ) -> None:
        entry = self.entries[notification_id]
        if entry["state"] not in RECORDABLE:
            return
        entry |= {
            "state": LedgerState.WAITING,
            "retry_at": retry_at,
            "attempt_at": attempt_at,
            "leased_until": None,
        }
        if error is not None:
            entry |= {"last_error": error, "waits": entry["waits"] + 1}

    async def waiting(self, order_id: str | None = None, limit: int = 1000) -> list[Waiting]:
        found = [
            entry
            for entry in self.entries.values()
            if entry["state"] is LedgerState.WAITING
            and (order_id is None or entry["claim"].order_id == order_id)
        ]
        found.sort(key=lambda entry: entry["claim"].position)
        return [_waiting(entry) for entry in found[:limit]]

    async def lease(self, notification_id: str, now: datetime, until: datetime) -> bool:
        entry = self.entries[notification_id]
        if entry["state"] is not LedgerState.WAITING or self._leased(entry, now):
            return False
        entry["leased_until"] = until
        return True

    async def attempting(self, notification_id: str, at: datetime) -> None:
        entry = self.entries[notification_id]
        if entry["state"] is LedgerState.WAITING:
            entry["attempt_at"] = at

    async def held_sids(self, to: str, sids: list[str]) -> set[str]:
        return {
            entry["twilio_sid"]
            for entry in self.entries.values()
            if entry["claim"].to == to and entry.get("twilio_sid") in sids
        }

    async def publish(self, notification_id: str) -> None:
        await self._sink.send(*self.outbox.pop(notification_id, []))

    async def silence(self, notification_id: str, *, event_at: datetime, now: datetime) -> None:
        if notification_id not in self.entries:
            self.silenced.add(notification_id)

    async def remember_placement(self, order_id: str, placed_at: datetime) -> None:
        self.placements.setdefault(order_id, placed_at)

    async def placed_at(self, order_id: str) -> datetime | None:
        return self.placements.get(order_id)

    async def entry(self, notification_id: str) -> dict[str, Any] | None:
        return self.entries.get(notification_id)

    @staticmethod
    def _leased(entry: dict[str, Any], now: datetime) -> bool:
        return entry["leased_until"] is not None and entry["leased_until"] > now


def _waiting(entry: dict[str, Any]) -> Waiting:
    claim: Claim = entry["claim"]
    return Waiting(
        notification_id=claim.notification_id,
        message=claim.message,
        cause=claim.cause,
        position=claim.position,
        claimed_at=claim.claimed_at,
        retry_at=entry["retry_at"],
        waits=entry["waits"],
        attempt_at=entry["attempt_at"],
        last_error=entry.get("last_error"),
    )
