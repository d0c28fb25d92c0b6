"""One contract for the notification ledger, run on MongoDB (FerretDB) and on the in-memory twin."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notifier.adapters.in_memory_ledger import InMemoryNotificationLedger
from services.notifier.adapters.mongo_ledger import (
    ARCHIVED_AFTER,
    HISTORY,
    INDEXES,
    NOTIFICATIONS,
    ORDER_WINDOWS,
    MongoNotificationLedger,
)
from services.notifier.domain import messages_for
from services.notifier.ports import Claim, ClaimOutcome, LedgerState, NotificationLedger, Outcome
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import NotificationKind, OrderStatus
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.records import OutgoingRecord
from shared.settings import OutboxSettings
from tests.notifier.events import status_changed
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


def a_claim(
    notification_id: str | None = None,
    *,
    order_id: str = "ord-1",
    position: int = 1,
    event_age: timedelta = timedelta(0),
) -> Claim:
    event = status_changed(order_id, OrderStatus.READY, client_id="rest-1", store_id="store-1")
    event = event.model_copy(update={"occurred_at": event.occurred_at - event_age})
    [message] = messages_for(event, StoreOrderConfig.default_for("rest-1", "store-1"))
    return Claim(
        notification_id=notification_id or message.notification_id(event.event_id),
        source_event_id=str(event.event_id),
        kind=NotificationKind.ORDER_STATUS,
        order_id=order_id,
        client_id="rest-1",
        store_id="store-1",
        to=message.to,
        claimed_at=datetime.now(UTC),
        message=message,
        cause=event,
        position=position,
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


async def test_a_silenced_message_is_never_claimed_and_a_claimed_one_never_silenced(
    subject: Subject,
) -> None:
    silent, sent = a_claim(), a_claim()
    at = datetime.now(UTC)
    await subject.ledger.claim(sent)
    await subject.ledger.record(sent.notification_id, SENT, audit_record("x"), at)

    for claim in (silent, sent):
        await subject.ledger.silence(claim.notification_id, event_at=at, now=at)

    assert await subject.ledger.claim(silent) is ClaimOutcome.DONE
    assert await subject.ledger.claim(sent) is ClaimOutcome.DONE
    entry = await subject.entry(sent.notification_id)
    assert entry is not None
    assert entry["state"] == LedgerState.SENT


async def test_the_placement_of_an_order_is_remembered_once(subject: Subject) -> None:
    placed = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    await subject.ledger.remember_placement("ord-9", placed)
    await subject.ledger.remember_placement("ord-9", placed + timedelta(hours=1))

    assert await subject.ledger.placed_at("ord-9") == placed
    assert await subject.ledger.placed_at("unknown") is None


async def test_waiting_messages_are_listed_by_position_with_what_it_takes_to_send_them(
    subject: Subject,
) -> None:
    later, first, other = a_claim(position=20), a_claim(position=10), a_claim(order_id="ord-2")
    now = datetime.now(UTC)
    for claim in (later, first, other):
        await subject.ledger.claim(claim)
    await subject.ledger.wait(later.notification_id, now, attempt_at=None, error=None)
    await subject.ledger.wait(first.notification_id, now, attempt_at=now, error="20503")

    waiting = await subject.ledger.waiting("ord-1")

    assert [entry.notification_id for entry in waiting] == [
        first.notification_id,
        later.notification_id,
    ]
    assert waiting[0].message == first.message
    assert waiting[0].cause == first.cause
    assert (waiting[0].waits, waiting[0].last_error) == (1, "20503")
    assert (waiting[1].waits, waiting[1].attempt_at) == (0, None)
    assert await subject.ledger.claim(first) is ClaimOutcome.DONE  # the retry loop has it


async def test_a_leased_message_is_neither_leased_again_nor_dropped(subject: Subject) -> None:
    claim = a_claim()
    now = datetime.now(UTC)
    await subject.ledger.claim(claim)
    await subject.ledger.wait(claim.notification_id, now, attempt_at=None, error="20503")

    assert await subject.ledger.lease(claim.notification_id, now, now + timedelta(minutes=1))
    assert not await subject.ledger.lease(claim.notification_id, now, now + timedelta(minutes=1))
    dropped = Outcome(LedgerState.DROPPED, body="Olá", superseded_by=str(uuid.uuid4()))
    assert not await subject.ledger.record(
        claim.notification_id, dropped, audit_record("dropped"), now
    )
    assert await subject.ledger.record(claim.notification_id, SENT, audit_record("sent"), now)
    assert await subject.ledger.waiting() == []


async def test_the_twilio_sids_a_recipient_s_notifications_hold_are_known(
    subject: Subject,
) -> None:
    claim = a_claim()
    await subject.ledger.claim(claim)
    await subject.ledger.record(claim.notification_id, SENT, audit_record("x"), datetime.now(UTC))
    other_sid = "SM" + "1" * 32

    held = await subject.ledger.held_sids(claim.to, [SENT.twilio_sid or "", other_sid])

    assert held == {SENT.twilio_sid}
    assert await subject.ledger.held_sids("+5511900000000", [SENT.twilio_sid or ""]) == set()


async def mongo_ledger_on(database: Database) -> MongoNotificationLedger:
    await ensure_indexes(database, INDEXES)
    return MongoNotificationLedger(database, OutboxRelay(RecordingSink(), OutboxSettings()))


async def finished(ledger: MongoNotificationLedger, claim: Claim, at: datetime) -> None:
    await ledger.claim(claim)
    await ledger.record(claim.notification_id, SENT, audit_record(claim.notification_id), at)
    await ledger.publish(claim.notification_id)


async def test_a_compacted_message_is_kept_in_the_history_and_never_claimed_again(
    database: Database,
) -> None:
    ledger = await mongo_ledger_on(database)
    claim, in_flight = a_claim(event_age=2 * ARCHIVED_AFTER), a_claim()
    await finished(ledger, claim, datetime.now(UTC) - ARCHIVED_AFTER)
    await ledger.claim(in_flight)

    assert await ledger.compact(datetime.now(UTC)) == 1

    assert await database[NOTIFICATIONS].distinct("_id") == [in_flight.notification_id]
    assert await ledger.claim(claim) is ClaimOutcome.DONE
    assert await database[NOTIFICATIONS].count_documents({}) == 1
    entry = await ledger.entry(claim.notification_id)
    assert entry is not None
    assert entry["twilioSid"] == SENT.twilio_sid
    assert "cause" not in entry  # what it took to send it later is not archived


async def test_a_finished_entry_stays_in_the_working_collection_until_its_event_is_old_enough(
    database: Database,
) -> None:
    # A claim of an event younger than half of ARCHIVED_AFTER skips the history: its entry,
    # however long ago it finished, must still be where the claim's insert meets it.
    ledger = await mongo_ledger_on(database)
    claim = a_claim()
    await finished(ledger, claim, datetime.now(UTC) - 2 * ARCHIVED_AFTER)

    assert await ledger.compact(datetime.now(UTC)) == 0
    assert await ledger.claim(claim) is ClaimOutcome.DONE
    assert await ledger.compact(datetime.now(UTC) + ARCHIVED_AFTER) == 1
    assert await database[HISTORY].distinct("_id") == [claim.notification_id]


async def test_a_claim_a_crash_left_beside_its_archived_entry_is_done_not_sent_again(
    database: Database,
) -> None:
    ledger = await mongo_ledger_on(database)
    claim = a_claim(event_age=2 * ARCHIVED_AFTER)
    await finished(ledger, claim, datetime.now(UTC) - ARCHIVED_AFTER)
    await ledger.compact(datetime.now(UTC))
    # A redelivery's fresh claim, its process killed before it saw the history.
    await database[NOTIFICATIONS].insert_one(
        {"_id": claim.notification_id, "state": "SENDING", "claimedAt": datetime.now(UTC)}
    )

    assert await ledger.claim(claim) is ClaimOutcome.DONE

    assert await database[NOTIFICATIONS].count_documents({}) == 0
    entry = await ledger.entry(claim.notification_id)
    assert entry is not None
    assert entry["state"] == LedgerState.SENT


async def test_a_placement_stored_or_read_once_is_known_without_reading_it_again(
    database: Database,
) -> None:
    placed = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    replica, other_replica = await mongo_ledger_on(database), await mongo_ledger_on(database)
    await replica.remember_placement("ord-9", placed)

    assert await other_replica.placed_at("ord-9") == placed
    await database[ORDER_WINDOWS].delete_many({})
    assert await replica.placed_at("ord-9") == placed
    assert await other_replica.placed_at("ord-9") == placed
    assert await replica.placed_at("unknown") is None
