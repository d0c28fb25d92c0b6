"""The payment service's money audit on the real MongoDB-protocol server: each kind of
disagreement seeded beside healthy payments; the pass repairs what it can and reports the rest."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.payment.adapters.in_memory import InMemoryPixImageStore, InMemoryWebhookInbox
from services.payment.adapters.mongo import INDEXES, MongoPaymentRepository
from services.payment.adapters.mongo_jobs import MongoJobQueue
from services.payment.audit import (
    CREATING_STUCK,
    PENDING_TOO_LONG,
    REFUND_STUCK,
    UNWANTED_BUT_PAID,
)
from services.payment.config import PaymentPolicy
from services.payment.domain import ChargeStatus, Payment
from services.payment.ports import (
    CHARGE_JOB,
    RECONCILE_JOB,
    REFUND_JOB,
    AsaasAccount,
    CreationState,
    Job,
    PaymentRecord,
    RefundState,
)
from services.payment.use_cases import PaymentUseCases, build_use_cases
from shared.audit import Finding
from shared.contracts.values import PaymentMethod
from shared.mongo import Database, ensure_indexes
from shared.outbox import OutboxRelay
from shared.settings import OutboxSettings
from tests.sinks import RecordingSink

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICY = PaymentPolicy(
    refund_retry_window_s=HOUR.total_seconds(),
    audit_pending_max_s=2 * HOUR.total_seconds(),
    reconcile_give_up_s=48 * HOUR.total_seconds(),
)


class NoAccounts:
    """The audit never calls Asaas itself (its repairs are jobs for the loops that do)."""

    async def account(self, client_id: str) -> AsaasAccount | None:
        raise AssertionError("the audit called Asaas")


@dataclass
class World:
    use_cases: PaymentUseCases
    payments: MongoPaymentRepository
    jobs: MongoJobQueue

    async def seed(
        self,
        status: ChargeStatus,
        age: timedelta,
        refund: RefundState | None = None,
        creation: CreationState | None = None,
        **changes: Any,
    ) -> str:
        """A payment of a new order, created `age` before NOW; its order id."""
        order_id = f"o-{uuid.uuid4().hex[:8]}"
        payment = Payment(
            order_id=order_id,
            client_id="c-1",
            store_id="s-1",
            method=PaymentMethod.PIX,
            amount_cents=4480,
            status=status,
            created_at=NOW - age,
            payment_id=f"pay_{order_id}",
        )
        record = PaymentRecord(
            replace(payment, **changes),
            "turn-1",
            "cause-1",
            "America/Sao_Paulo",
            refund=refund,
            creation=creation,
        )
        assert await self.payments.insert(record, [])
        return order_id

    async def status_of(self, order_id: str) -> ChargeStatus:
        record = await self.payments.get(f"c-1:{order_id}")
        assert record is not None
        return record.payment.status

    async def jobs_of(self, kind: str) -> set[str]:
        return {job.key for job in await self.jobs.due(kind, NOW + 100 * HOUR, 1000)}


@pytest.fixture
async def world(database: Database) -> World:
    await ensure_indexes(database, INDEXES)
    payments = MongoPaymentRepository(database, OutboxRelay(RecordingSink(), OutboxSettings()))
    jobs = MongoJobQueue(database)
    use_cases = build_use_cases(
        payments,
        jobs,
        InMemoryWebhookInbox(),
        InMemoryPixImageStore(),
        NoAccounts(),
        POLICY,
        lambda: NOW,
    )
    return World(use_cases, payments, jobs)


def started(age: timedelta) -> RefundState:
    return RefundState("turn-1", "cause-2", NOW - age)


async def test_a_paid_charge_its_order_cancelled_gets_its_refund_started(world: World) -> None:
    stranded = await world.seed(ChargeStatus.PAID, 3 * HOUR, unwanted=True, paid_at=NOW - HOUR)
    kept = await world.seed(ChargeStatus.PAID, 3 * HOUR, paid_at=NOW - HOUR)

    findings = await world.use_cases.audit.run_pass()

    assert findings == [Finding(UNWANTED_BUT_PAID, stranded, repaired=True)]
    assert await world.status_of(stranded) is ChargeStatus.REFUND_PENDING
    assert await world.jobs_of(REFUND_JOB) == {f"c-1:{stranded}"}
    assert await world.status_of(kept) is ChargeStatus.PAID
    assert await world.use_cases.audit.run_pass() == []  # repaired: not found again


async def test_refunds_past_their_window_or_given_up_are_reported_and_a_recent_one_is_not(
    world: World,
) -> None:
    past_window = await world.seed(
        ChargeStatus.REFUND_PENDING, 5 * HOUR, refund=started(2 * HOUR), refund_announced=True
    )
    given_up = await world.seed(
        ChargeStatus.REFUND_PENDING, 5 * HOUR, refund=started(HOUR / 2), refund_failed=True
    )
    await world.seed(ChargeStatus.REFUND_PENDING, 5 * HOUR, refund=started(HOUR / 2))
    await world.seed(ChargeStatus.REFUNDED, 5 * HOUR, refund=started(4 * HOUR))

    findings = await world.use_cases.audit.run_pass()

    assert sorted(findings, key=lambda found: found.order_id) == sorted(
        [Finding(REFUND_STUCK, past_window), Finding(REFUND_STUCK, given_up)],
        key=lambda found: found.order_id,
    )
    assert await world.jobs_of(REFUND_JOB) == set()


async def test_a_charge_pending_too_long_is_read_back_from_asaas_unless_already_watched(
    world: World,
) -> None:
    unwatched = await world.seed(ChargeStatus.PENDING, 3 * HOUR)
    watched = await world.seed(ChargeStatus.PENDING, 3 * HOUR)
    await world.jobs.put(Job(RECONCILE_JOB, f"c-1:{watched}", NOW + HOUR))
    given_up = await world.seed(ChargeStatus.PENDING, 72 * HOUR)
    await world.seed(ChargeStatus.PENDING, HOUR)  # within its payment window

    findings = await world.use_cases.audit.run_pass()

    assert sorted(findings, key=lambda found: found.order_id) == sorted(
        [
            Finding(PENDING_TOO_LONG, unwatched, repaired=True),
            Finding(PENDING_TOO_LONG, watched),
            Finding(PENDING_TOO_LONG, given_up),
        ],
        key=lambda found: found.order_id,
    )
    assert await world.jobs_of(RECONCILE_JOB) == {f"c-1:{unwatched}", f"c-1:{watched}"}
    due_now = await world.jobs.due(RECONCILE_JOB, NOW, 10)
    assert [job.key for job in due_now] == [f"c-1:{unwatched}"]


async def test_a_charge_stuck_creating_gets_its_lost_job_again_and_one_with_a_job_is_reported(
    world: World,
) -> None:
    def creating(age: timedelta) -> CreationState:
        return CreationState({"orderId": "o"}, NOW - age, attempts=1, unclear=True)

    lost = await world.seed(ChargeStatus.CREATING, HOUR, creation=creating(HOUR), payment_id=None)
    stuck = await world.seed(ChargeStatus.CREATING, HOUR, creation=creating(HOUR), payment_id=None)
    await world.jobs.put(Job(CHARGE_JOB, f"c-1:{stuck}", NOW + HOUR, client_id="c-1"))
    # Created long ago, asked again a minute ago after its creation failed: within its window.
    await world.seed(
        ChargeStatus.CREATING, HOUR, creation=creating(timedelta(minutes=1)), payment_id=None
    )
    await world.seed(ChargeStatus.CREATING, timedelta(minutes=1), creation=creating(HOUR / 60))

    findings = await world.use_cases.audit.run_pass()

    assert sorted(findings, key=lambda found: found.order_id) == sorted(
        [Finding(CREATING_STUCK, lost, repaired=True), Finding(CREATING_STUCK, stuck)],
        key=lambda found: found.order_id,
    )
    due_now = await world.jobs.due(CHARGE_JOB, NOW, 10)
    assert [(job.key, job.client_id) for job in due_now] == [(f"c-1:{lost}", "c-1")]
