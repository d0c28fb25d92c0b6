"""One contract for the notification ledger, run on MongoDB (FerretDB) and on the in-memory twin."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifier.adapters.in_memory_ledger import InMemoryNotificationLedger
from services.notifier.adapters.mongo_ledger import INDEXES, NOTIFICATIONS, MongoNotificationLedger
from services.notifier.ports import Claim, ClaimOutcome, LedgerState, NotificationLedger, Outcome
from shared.contracts.values import NotificationKind
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.records import OutgoingRecord
from shared.settings import OutboxSettings
from tests.sinks import RecordingSink


@dataclass
class Subject:
    ledger: NotificationLedger
    published: list[OutgoingRecord]

    async def entry(self, notification_id: str) -> dict[str, Any] | None:
        return await self.ledger.entry(notification_id)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def in_memory_ledger() -> Subject:
    sink = RecordingSink()
    return Subject(InMemoryNotificationLedger(sink), sink.records)


@pytest.fixture
async def mongo_ledger(database: Database) -> Subject:
    await ensure_indexes(database, INDEXES)
    sink = RecordingSink()
    return Subject(
        MongoNotificationLedger(database, OutboxRelay(sink, OutboxSettings())), sink.records
    )


@pytest.fixture(params=["in_memory_ledger", "mongo_ledger"])
def subject(request: pytest.FixtureRequest) -> Subject:
    """Each test runs against both ledgers (sync, so the async fixtures set up outside the loop)."""
    found: Subject = request.getfixturevalue(request.param)
    return found


def a_claim(notification_id: str | None = None) -> Claim:
    return Claim(
        notification_id=notification_id or f"{uuid.uuid4()}:ORDER_STATUS",
        source_event_id=str(uuid.uuid4()),
        kind=NotificationKind.ORDER_STATUS,
        order_id="ord-1",
        client_id="rest-1",
        store_id="store-1",
        to="+5511987654321",
        claimed_at=datetime.now(UTC),
    )


def audit_record(notification_id: str) -> OutgoingRecord:
    return OutgoingRecord(
        topic="notifications.events",
        key=b"rest-1",
        value=notification_id.encode(),
        headers={"event-type": "NotificationSent"},
        event_id=str(uuid.uuid4()),
    )


SENT = Outcome(LedgerState.SENT, twilio_sid="SM" + "0" * 32, body="Olá")


async def test_the_first_claim_wins_and_a_finished_message_is_not_claimed_again(
    subject: Subject,
) -> None:
    claim = a_claim()

    assert await subject.ledger.claim(claim) is ClaimOutcome.CLAIMED
    await subject.ledger.record(
        claim.notification_id, SENT, audit_record(claim.notification_id), datetime.now(UTC)
    )
    await subject.ledger.publish(claim.notification_id)

    assert await subject.ledger.claim(claim) is ClaimOutcome.DONE
    entry = await subject.entry(claim.notification_id)
    assert entry is not None
    assert entry["state"] == LedgerState.SENT
    assert [record.value for record in subject.published] == [claim.notification_id.encode()]


async def test_concurrent_claims_of_one_message_let_exactly_one_send(subject: Subject) -> None:
    claim = a_claim()

    outcomes = await asyncio.gather(*(subject.ledger.claim(claim) for _ in range(5)))

    assert outcomes.count(ClaimOutcome.CLAIMED) == 1


async def test_an_outcome_is_recorded_once_with_its_audit_event(subject: Subject) -> None:
    claim = a_claim()
    await subject.ledger.claim(claim)
    now = datetime.now(UTC)

    await subject.ledger.record(claim.notification_id, SENT, audit_record("first"), now)
    await subject.ledger.record(claim.notification_id, SENT, audit_record("second"), now)
    await subject.ledger.publish(claim.notification_id)
    await subject.ledger.publish(claim.notification_id)

    assert [record.value for record in subject.published] == [b"first"]


async def test_a_claim_never_recorded_is_reported_unfinished_and_marked(subject: Subject) -> None:
    claim = a_claim()
    await subject.ledger.claim(claim)

    assert await subject.ledger.claim(claim) is ClaimOutcome.UNFINISHED

    entry = await subject.entry(claim.notification_id)
    assert entry is not None
    assert entry["possibleDuplicate"] is True
    assert entry["attempts"] == 2


async def test_the_placement_of_an_order_is_remembered_once(subject: Subject) -> None:
    placed = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    await subject.ledger.remember_placement("ord-9", placed)
    await subject.ledger.remember_placement("ord-9", placed + timedelta(hours=1))

    assert await subject.ledger.placed_at("ord-9") == placed
    assert await subject.ledger.placed_at("unknown") is None


async def test_a_compacted_message_is_kept_in_the_history_and_never_claimed_again(
    database: Database,
) -> None:
    await ensure_indexes(database, INDEXES)
    ledger = MongoNotificationLedger(database, OutboxRelay(RecordingSink(), OutboxSettings()))
    claim, in_flight = a_claim(), a_claim()
    await ledger.claim(claim)
    await ledger.claim(in_flight)
    await ledger.record(
        claim.notification_id, SENT, audit_record(claim.notification_id), datetime.now(UTC)
    )
    await ledger.publish(claim.notification_id)

    assert await ledger.compact(datetime.now(UTC)) == 1

    assert await database[NOTIFICATIONS].distinct("_id") == [in_flight.notification_id]
    assert await ledger.claim(claim) is ClaimOutcome.DONE
    assert await database[NOTIFICATIONS].count_documents({}) == 1
    entry = await ledger.entry(claim.notification_id)
    assert entry is not None
    assert entry["twilioSid"] == SENT.twilio_sid
