"""One contract for the payment service's storage, run against MongoDB (FerretDB) and the
in-memory twins."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.payment.adapters.in_memory import (
    InMemoryCredentialsRepository,
    InMemoryJobQueue,
    InMemoryPaymentRepository,
    InMemoryPixImageStore,
    InMemoryWebhookInbox,
)
from services.payment.adapters.mongo import (
    INDEXES,
    MongoCredentialsRepository,
    MongoPaymentRepository,
    MongoPixImageStore,
    MongoWebhookInbox,
)
from services.payment.adapters.mongo_jobs import MongoJobQueue
from services.payment.domain import ChargeStatus, Payment
from services.payment.ports import (
    WEBHOOK_JOB,
    CreationState,
    CredentialsRepository,
    Job,
    JobQueue,
    PaymentRecord,
    PaymentRepository,
    PixImage,
    PixImageStore,
    RefundState,
    StaleRecord,
    StoredCredentials,
    WebhookInbox,
)
from shared.contracts.payments import PaymentCancelled
from shared.contracts.values import PaymentMethod
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.records import OutgoingRecord
from shared.settings import OutboxSettings
from shared.topics import PAYMENTS_EVENTS
from tests.sinks import RecordingSink

NOW = datetime(2026, 11, 29, 12, 0, 0, 123000, tzinfo=UTC)


@dataclass
class Storage:
    payments: PaymentRepository
    jobs: JobQueue
    inbox: WebhookInbox
    credentials: CredentialsRepository
    images: PixImageStore
    sink: RecordingSink


@pytest.fixture(params=["mongo", "memory"])
async def storage(request: pytest.FixtureRequest, database: Database) -> AsyncIterator[Storage]:
    sink = RecordingSink()
    if request.param == "memory":
        yield Storage(
            InMemoryPaymentRepository(sink),
            InMemoryJobQueue(),
            InMemoryWebhookInbox(),
            InMemoryCredentialsRepository(),
            InMemoryPixImageStore(),
            sink,
        )
        return
    await ensure_indexes(database, INDEXES)
    yield Storage(
        MongoPaymentRepository(database, OutboxRelay(sink, OutboxSettings())),
        MongoJobQueue(database),
        MongoWebhookInbox(database),
        MongoCredentialsRepository(database),
        MongoPixImageStore(database),
        sink,
    )


def a_record(**payment_changes: Any) -> PaymentRecord:
    payment = Payment(
        order_id=f"o-{uuid.uuid4().hex[:8]}",
        client_id="c-1",
        store_id="s-1",
        method=PaymentMethod.CREDIT,
        amount_cents=4480,
        status=ChargeStatus.PENDING,
        created_at=NOW,
        payment_id=f"pay_{uuid.uuid4().hex[:8]}",
    )
    return PaymentRecord(
        payment=replace(payment, **payment_changes),
        correlation_id="turn-1",
        causation_id=str(uuid.uuid4()),
        time_zone="America/Sao_Paulo",
        instructions={"invoiceUrl": "https://example.test/i/1"},
    )


def an_event(record: PaymentRecord) -> OutgoingRecord:
    event = PaymentCancelled(
        event_id=uuid.uuid4(),
        occurred_at=NOW,
        correlation_id=record.correlation_id,
        client_id=record.payment.client_id,
        store_id=record.payment.store_id,
        order_id=record.payment.order_id,
        payment_id=record.payment.payment_id or "",
    )
    return OutgoingRecord.of(PAYMENTS_EVENTS, event)


async def test_a_record_is_stored_once_and_read_back_whole(storage: Storage) -> None:
    record = a_record(paid_at=NOW, chargebacks=("PAYMENT_CHARGEBACK_REQUESTED",))
    record = replace(
        record, refund=RefundState("turn-2", "cause-2", NOW, attempts=2, last_error="x")
    )
    assert await storage.payments.insert(record, [])
    assert not await storage.payments.insert(record, [])

    assert await storage.payments.get(record.record_id) == replace(record, version=1)
    found = await storage.payments.find_by_payment_id("c-1", record.payment.payment_id or "")
    assert found == replace(record, version=1)
    assert await storage.payments.get("c-1:nothing") is None


async def test_each_charge_attempt_of_an_order_is_a_record_of_its_own(storage: Storage) -> None:
    first = a_record()
    second = a_record(order_id=first.payment.order_id, attempt=2)
    assert await storage.payments.insert(first, [])
    assert await storage.payments.insert(second, [])

    assert second.record_id == f"c-1:{first.payment.order_id}:2"
    assert await storage.payments.get(first.record_id) == replace(first, version=1)
    assert await storage.payments.get(second.record_id) == replace(second, version=1)


async def test_a_save_is_refused_when_someone_saved_first(storage: Storage) -> None:
    record = a_record()
    await storage.payments.insert(record, [])
    read = replace(record, version=1)
    paid = replace(read, payment=replace(read.payment, status=ChargeStatus.PAID))
    await storage.payments.save(paid, [])

    with pytest.raises(StaleRecord):
        await storage.payments.save(paid, [])
    stored = await storage.payments.get(record.record_id)
    assert stored is not None
    assert (stored.version, stored.payment.status) == (2, ChargeStatus.PAID)


async def test_saved_events_are_published_once_in_order(storage: Storage) -> None:
    record = a_record()
    first, second = an_event(record), an_event(record)
    await storage.payments.insert(record, [first])
    await storage.payments.save(replace(record, version=1), [second])

    await storage.payments.publish(record.record_id)
    await storage.payments.publish(record.record_id)
    assert [r.event_id for r in storage.sink.records] == [first.event_id, second.event_id]


async def test_jobs_are_added_once_replaced_on_put_and_taken_when_due(storage: Storage) -> None:
    jobs = storage.jobs
    assert await jobs.add(Job("refund", "a", NOW, data={"n": 1}))
    assert not await jobs.add(Job("refund", "a", NOW - timedelta(hours=1)))
    await jobs.put(Job("refund", "b", NOW - timedelta(seconds=5), attempts=3))
    await jobs.put(Job("refund", "later", NOW + timedelta(seconds=5)))
    await jobs.put(Job("webhook", "a", NOW))

    due = await jobs.due("refund", NOW, limit=10)
    assert [(j.key, j.attempts) for j in due] == [("b", 3), ("a", 0)]
    assert due[1].data == {"n": 1}
    assert len(await jobs.due("refund", NOW, limit=1)) == 1
    await jobs.put(Job("refund", "b", NOW + timedelta(minutes=1)))
    await jobs.remove("refund", "a")
    assert await jobs.due("refund", NOW, limit=10) == []


async def test_the_jobs_of_restaurants_the_runner_has_enough_of_are_left_out(
    storage: Storage,
) -> None:
    jobs = storage.jobs
    for n, client in enumerate(("busy", "free", "busy", "other")):
        await jobs.put(
            Job("charge", f"{client}:o-{n}", NOW - timedelta(seconds=10 - n), client_id=client)
        )

    due = await jobs.due("charge", NOW, limit=10, skip_clients={"busy"})
    assert [(job.key, job.client_id) for job in due] == [
        ("free:o-1", "free"),
        ("other:o-3", "other"),
    ]
    assert len(await jobs.due("charge", NOW, limit=10)) == 4


async def test_the_creation_of_a_charge_is_stored_with_its_record(storage: Storage) -> None:
    record = replace(
        a_record(status=ChargeStatus.CREATING, payment_id=None),
        creation=CreationState(
            {"orderId": "o-1", "customer": {"cpf": "52998224725"}},
            NOW,
            attempts=2,
            last_error="Asaas could not be reached: ReadTimeout",
            unclear=True,
        ),
    )
    assert await storage.payments.insert(record, [])
    assert await storage.payments.get(record.record_id) == replace(record, version=1)
    done = replace(record, version=1, creation=None)
    await storage.payments.save(done, [])
    assert await storage.payments.get(record.record_id) == replace(done, version=2)


async def test_a_webhook_event_is_stored_once_marked_processed_and_forgotten_after_retention(
    storage: Storage,
) -> None:
    event = {"clientId": "c-1", "event": "PAYMENT_RECEIVED", "receivedAt": NOW}
    job = Job(WEBHOOK_JOB, "c-1:evt_1", NOW, data={"event": "PAYMENT_RECEIVED"}, client_id="c-1")
    assert await storage.inbox.add(job, event)
    assert not await storage.inbox.add(replace(job, due_at=NOW + timedelta(seconds=1)), event)
    assert await storage.inbox.due(WEBHOOK_JOB, NOW, 10) == [job]
    await storage.inbox.mark("c-1:evt_1", "applied", NOW)
    assert await storage.inbox.due(WEBHOOK_JOB, NOW + timedelta(days=1), 10) == []
    await storage.inbox.put(job)  # a run that ended after another marked it
    assert await storage.inbox.due(WEBHOOK_JOB, NOW + timedelta(days=1), 10) == []
    assert await storage.inbox.prune(NOW) == 0
    assert await storage.inbox.prune(NOW + timedelta(days=31)) == 1
    assert await storage.inbox.add(job, event)


async def test_a_stored_webhook_event_is_due_at_its_job_time_and_again_when_put_off(
    storage: Storage,
) -> None:
    later = NOW + timedelta(minutes=2)
    hidden = Job(
        WEBHOOK_JOB, "c-2:evt_1", later, data={"event": "PAYMENT_RECEIVED"}, client_id="c-2"
    )
    other = Job(WEBHOOK_JOB, "c-3:evt_1", NOW, client_id="c-3")
    assert await storage.inbox.add(hidden, {"clientId": "c-2", "receivedAt": NOW})
    assert await storage.inbox.add(other, {"clientId": "c-3", "receivedAt": NOW})
    assert await storage.inbox.due(WEBHOOK_JOB, NOW, 10) == [other]
    assert await storage.inbox.due(WEBHOOK_JOB, later, 10, skip_clients={"c-3"}) == [hidden]

    retried = hidden.again_at(NOW + timedelta(minutes=5))
    await storage.inbox.put(retried)
    assert await storage.inbox.due(WEBHOOK_JOB, later, 10, skip_clients={"c-3"}) == []
    assert await storage.inbox.due(WEBHOOK_JOB, retried.due_at, 10, skip_clients={"c-3"}) == [
        retried
    ]


async def test_credentials_are_replaced_by_a_second_put(storage: Storage) -> None:
    first = StoredCredentials("c-9", "enc-1", "enc-2", "http://a/v3", "wh-1", "http://u", NOW)
    second = replace(first, api_key_encrypted="enc-3", webhook_id="wh-2")
    await storage.credentials.put(first)
    await storage.credentials.put(second)
    assert await storage.credentials.get("c-9") == second
    assert await storage.credentials.get("c-10") is None


async def test_secrets_are_replaced_only_while_they_are_the_ones_read(storage: Storage) -> None:
    read = StoredCredentials("c-11", "enc-1", "enc-2", "http://a/v3", "wh-1", "http://u", NOW)
    rotated = replace(read, api_key_encrypted="rot-1", webhook_token_encrypted="rot-2")
    await storage.credentials.put(read)
    await storage.credentials.put(replace(read, client_id="c-12"))

    assert await storage.credentials.replace_secrets(read, rotated)
    assert await storage.credentials.get("c-11") == rotated
    assert not await storage.credentials.replace_secrets(
        read, replace(rotated, api_key_encrypted="x")
    )
    assert await storage.credentials.get("c-11") == rotated
    assert sorted([c async for c in storage.credentials.client_ids()]) == ["c-11", "c-12"]


async def test_a_job_version_is_claimed_by_one_runner_until_its_lease_ends(
    storage: Storage,
) -> None:
    job = Job("refund", "a", NOW)
    lease = timedelta(seconds=30)
    assert await storage.jobs.claim(job, NOW, lease)
    assert not await storage.jobs.claim(job, NOW + timedelta(seconds=1), lease)
    assert await storage.jobs.claim(replace(job, due_at=NOW + timedelta(seconds=5)), NOW, lease)

    after_the_lease = NOW + timedelta(seconds=31)
    assert await storage.jobs.claim(job, after_the_lease, lease)
    assert not await storage.jobs.claim(job, after_the_lease, lease)
    assert await storage.jobs.prune_claims(NOW + timedelta(hours=1)) >= 2


# PIX images


async def test_a_pix_image_is_kept_by_its_token_until_it_is_pruned_after_expiry(
    storage: Storage,
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    early = PixImage(token=uuid.uuid4().hex, png=png, expires_at=NOW)
    late = PixImage(token=uuid.uuid4().hex, png=b"\x89PNG", expires_at=NOW + timedelta(hours=1))
    await storage.images.put(early)
    await storage.images.put(late)

    assert await storage.images.get(early.token) == early
    assert await storage.images.get("not-a-token") is None
    assert await storage.images.prune(NOW - timedelta(seconds=1)) == 0
    assert await storage.images.prune(NOW) == 1
    assert await storage.images.get(early.token) is None
    assert await storage.images.get(late.token) == late


async def test_records_in_a_status_come_oldest_first_created_before_the_bound_and_limited(
    storage: Storage,
) -> None:
    def paid(minutes: int, **changes: Any) -> PaymentRecord:
        at = NOW + timedelta(minutes=minutes)
        return a_record(status=ChargeStatus.PAID, created_at=at, **changes)

    oldest, older, unwanted, later = paid(1), paid(2), paid(3, unwanted=True), paid(10)
    for record in (later, unwanted, older, oldest, a_record(created_at=NOW)):
        assert await storage.payments.insert(record, [])
    bound = NOW + timedelta(minutes=5)

    found = await storage.payments.in_status(ChargeStatus.PAID, bound, 2)
    only_unwanted = await storage.payments.in_status(ChargeStatus.PAID, bound, 10, unwanted=True)

    assert [record.record_id for record in found] == [oldest.record_id, older.record_id]
    assert [record.record_id for record in only_unwanted] == [unwanted.record_id]
