"""A webhook's crash points and races on the real MongoDB-protocol server: the stored event is
its own job, hidden from every loop while the replica that stored it runs it unclaimed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.payment.adapters.in_memory import InMemoryPixImageStore
from services.payment.adapters.mongo import (
    INBOX,
    INDEXES,
    MongoPaymentRepository,
    MongoWebhookInbox,
)
from services.payment.adapters.mongo_jobs import CLAIMS, MongoJobQueue
from services.payment.config import PaymentPolicy
from services.payment.ports import WEBHOOK_JOB, AsaasAccount, Job
from services.payment.use_cases import PaymentUseCases, build_use_cases
from shared.contracts.registry import decode
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.settings import OutboxSettings
from tests.payment.test_payment_use_cases import CLIENT, pending_payment, received
from tests.sinks import RecordingSink
from tests.waiting import eventually

POLICY = PaymentPolicy(poll_interval_s=0.05)
LEASE = timedelta(seconds=POLICY.job_lease_s)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class NoAsaas:
    """A webhook makes no Asaas call."""

    async def account(self, client_id: str) -> AsaasAccount | None:
        return None


class CountedInbox(MongoWebhookInbox):
    """Counts the loop's looks, so a test knows the loop is up."""

    looks = 0

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        self.looks += 1
        return await super().due(kind, now, limit, skip_clients=skip_clients)


class DyingAtTheMark(CountedInbox):
    """A process that dies once the payment is written, before its event is marked."""

    async def mark(self, inbox_id: str, outcome: str, at: datetime) -> None:
        await asyncio.Event().wait()


@dataclass
class World:
    database: Database
    sink: RecordingSink
    clock: Clock

    def replica(self, inbox: MongoWebhookInbox | None = None) -> PaymentUseCases:
        """A process of the service: the same database and Kafka, a relay of its own."""
        return build_use_cases(
            MongoPaymentRepository(self.database, OutboxRelay(self.sink, OutboxSettings())),
            MongoJobQueue(self.database),
            inbox or MongoWebhookInbox(self.database),
            InMemoryPixImageStore(),
            NoAsaas(),
            POLICY,
            self.clock,
        )

    async def paying(self, event_id: str, order_id: str) -> tuple[dict[str, Any], str]:
        """A PIX payment waiting for its money, and the webhook that pays it (payload, body)."""
        repository = MongoPaymentRepository(self.database, OutboxRelay(self.sink, OutboxSettings()))
        assert await repository.insert(pending_payment(order_id, f"pay_{order_id}"), [])
        payload = received(event_id, order_id, f"pay_{order_id}")
        return payload, json.dumps(payload)

    def published(self) -> list[str]:
        return [type(decode(record.value)).__name__ for record in self.sink.records]

    async def event(self, event_id: str) -> dict[str, Any]:
        found = await self.database[INBOX].find_one({"_id": f"{CLIENT}:{event_id}"})
        assert found is not None
        return found


@asynccontextmanager
async def webhook_loop(
    replica: PaymentUseCases, handle: Callable[[Job], Awaitable[None]] | None = None
) -> AsyncIterator[None]:
    """The replica's webhook loop while the block runs; its end is the process dying."""
    loop = asyncio.create_task(
        replica.runner.run(WEBHOOK_JOB, handle or replica.asaas_updates.process_webhook)
    )
    try:
        yield
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


@asynccontextmanager
async def loop_up(replica: PaymentUseCases, inbox: CountedInbox) -> AsyncIterator[None]:
    async with webhook_loop(replica):
        await eventually(lambda: inbox.looks > 0, what="the loop's first look")
        yield


@dataclass
class Hung:
    """A handler that takes its job and never ends: the process froze, then died."""

    taken: list[Job]

    async def __call__(self, job: Job) -> None:
        self.taken.append(job)
        await asyncio.Event().wait()


@pytest.fixture
async def world(database: Database) -> World:
    await ensure_indexes(database, INDEXES)
    return World(database, RecordingSink(), Clock())


async def no_event_due(world: World) -> bool:
    return await world.database[INBOX].count_documents({"dueAt": {"$exists": True}}) == 0


async def test_an_event_whose_replica_died_before_applying_it_is_applied_elsewhere_after_its_lease(
    world: World,
) -> None:
    payload, raw = await world.paying("evt_1", "order-1")
    inbox = CountedInbox(world.database)
    dying = world.replica(inbox)
    hung = Hung([])
    async with webhook_loop(dying, hung):
        await eventually(lambda: inbox.looks > 0, what="the loop's first look")
        assert await dying.asaas_updates.receive_webhook(CLIENT, payload, raw) == "accepted"
        await eventually(lambda: len(hung.taken) == 1, what="the event run at once")

    other = world.replica()
    # Asaas's redelivery (the first answer lost) is a duplicate, and no loop takes the event
    # while the lease of the replica that stored it may still run.
    assert await other.asaas_updates.receive_webhook(CLIENT, payload, raw) == "duplicate"
    async with webhook_loop(other):
        assert await MongoWebhookInbox(world.database).due(WEBHOOK_JOB, world.clock.now, 10) == []
        world.clock.now += LEASE + timedelta(seconds=1)
        await eventually(lambda: no_event_due(world), what="the event applied")

    assert world.published() == ["PaymentSucceeded"]
    assert (await world.event("evt_1"))["outcome"] == "applied"


async def test_an_event_whose_replica_died_after_the_payment_was_written_pays_once(
    world: World,
) -> None:
    payload, raw = await world.paying("evt_2", "order-2")
    inbox = DyingAtTheMark(world.database)
    dying = world.replica(inbox)
    async with loop_up(dying, inbox):
        assert await dying.asaas_updates.receive_webhook(CLIENT, payload, raw) == "accepted"
        await eventually(lambda: world.published() == ["PaymentSucceeded"], what="paid")

    assert "outcome" not in await world.event("evt_2")
    world.clock.now += LEASE + timedelta(seconds=1)
    async with webhook_loop(world.replica()):
        await eventually(lambda: no_event_due(world), what="the event run again")

    assert world.published() == ["PaymentSucceeded"]
    assert (await world.event("evt_2"))["outcome"] == "ignored"


async def test_one_event_delivered_to_two_replicas_at_once_is_applied_by_one_unclaimed(
    world: World,
) -> None:
    payload, raw = await world.paying("evt_3", "order-3")
    first_inbox, second_inbox = CountedInbox(world.database), CountedInbox(world.database)
    first, second = world.replica(first_inbox), world.replica(second_inbox)
    async with loop_up(first, first_inbox), loop_up(second, second_inbox):
        outcomes = await asyncio.gather(
            first.asaas_updates.receive_webhook(CLIENT, payload, raw),
            second.asaas_updates.receive_webhook(CLIENT, payload, raw),
        )
        assert sorted(outcomes) == ["accepted", "duplicate"]
        await eventually(lambda: no_event_due(world), what="the event applied")

    assert world.published() == ["PaymentSucceeded"]
    assert (await world.event("evt_3"))["outcome"] == "applied"
    # The replica that stored it ran it at once: no claim was needed.
    assert await world.database[CLAIMS].count_documents({}) == 0


async def test_an_event_its_replica_has_no_lane_for_is_due_now_and_claimed_by_a_loop(
    world: World,
) -> None:
    payload, raw = await world.paying("evt_4", "order-4")
    without_loop = world.replica()
    assert await without_loop.asaas_updates.receive_webhook(CLIENT, payload, raw) == "accepted"
    [due] = await MongoWebhookInbox(world.database).due(WEBHOOK_JOB, world.clock.now, 10)
    assert due.key == f"{CLIENT}:evt_4"

    async with webhook_loop(world.replica()):
        await eventually(lambda: no_event_due(world), what="the event applied")

    assert world.published() == ["PaymentSucceeded"]
    assert await world.database[CLAIMS].count_documents({}) == 1


async def test_a_webhook_job_stored_apart_by_an_earlier_version_is_applied_after_an_upgrade(
    world: World,
) -> None:
    payload, raw = await world.paying("evt_5", "order-5")
    inbox_id = f"{CLIENT}:evt_5"
    # What the earlier version left: the event stored without a due time, its job apart.
    now = world.clock.now
    event = {"clientId": CLIENT, "event": payload["event"], "body": raw, "receivedAt": now}
    await world.database[INBOX].insert_one({"_id": inbox_id, **event})
    data = {
        "clientId": CLIENT,
        "event": payload["event"],
        "paymentId": "pay_order-5",
        "externalReference": "order-5",
        "receivedAt": now.isoformat(),
    }
    jobs = MongoJobQueue(world.database)
    assert await jobs.add(Job(WEBHOOK_JOB, inbox_id, now, data=data, client_id=CLIENT))

    upgraded = world.replica()
    housekeeping = asyncio.create_task(upgraded.runner.housekeeping())
    try:
        async with webhook_loop(upgraded):
            await eventually(lambda: world.published() == ["PaymentSucceeded"], what="applied")
            await eventually(lambda: no_event_due(world), what="the event marked")
    finally:
        housekeeping.cancel()
        await asyncio.gather(housekeeping, return_exceptions=True)

    assert (await world.event("evt_5"))["outcome"] == "applied"
    assert await jobs.due(WEBHOOK_JOB, now + timedelta(days=1), 10) == []
