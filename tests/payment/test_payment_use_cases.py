"""The payment use cases with the in-memory twins and the Asaas emulator in-process (ASGI):
crashes and races that a black box cannot stage on cue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, MultiFernet
from pydantic import SecretStr

from deploy.emulators.asaas.app import build_app as build_emulator
from services.payment.adapters.asaas_client import AsaasClients, HttpAsaasAccount
from services.payment.adapters.in_memory import (
    InMemoryCredentialsRepository,
    InMemoryJobQueue,
    InMemoryPaymentRepository,
    InMemoryPixImageStore,
    InMemoryWebhookInbox,
)
from services.payment.config import PaymentPolicy
from services.payment.domain import ChargeStatus, Payment
from services.payment.metrics import REFUNDS
from services.payment.ports import (
    CHARGE_JOB,
    DELETION_JOB,
    REFUND_JOB,
    WEBHOOK_JOB,
    Charge,
    ChargeRequest,
    Job,
    PaymentRecord,
    StoredCredentials,
    record_id,
)
from services.payment.restaurants import Restaurants
from services.payment.use_cases import PaymentUseCases, build_use_cases
from shared.contracts.payments import (
    CancelPayment,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentSucceeded,
    RequestPayment,
    RequestRefund,
)
from shared.contracts.payments import PaymentCustomer as Customer
from shared.contracts.registry import decode
from shared.contracts.values import PaymentMethod
from shared.gateway import GatewaySettings
from tests import sinks

CLIENT = "rest-1"
API_KEY = "$aact_component"
EMULATOR = "http://asaas.test"


def now() -> datetime:
    return datetime.now(UTC)


class RecordingSink(sinks.RecordingSink):
    def types(self) -> list[str]:
        return [type(decode(record.value)).__name__ for record in self.records]


@dataclass
class World:
    use_cases: PaymentUseCases
    payments: InMemoryPaymentRepository
    jobs: InMemoryJobQueue
    sink: RecordingSink
    asaas: httpx.AsyncClient
    restaurants: Restaurants
    inbox: InMemoryWebhookInbox

    def replica(self) -> PaymentUseCases:
        """Another process of the service: the same records, jobs, webhook events and Asaas,
        locks of its own."""
        return build_use_cases(
            self.payments,
            self.jobs,
            self.inbox,
            InMemoryPixImageStore(),
            self.restaurants,
            PaymentPolicy(),
            now,
        )

    async def run_charge_jobs(self) -> None:
        """What the charge loop does: every due charge job, once."""
        for job in await self.jobs.due(CHARGE_JOB, now(), 100):
            await self.use_cases.charge_creation.create(job)

    async def run_deletion_jobs(self) -> None:
        """What the deletion loop does: every due deletion job, once."""
        for job in await self.jobs.due(DELETION_JOB, now(), 100):
            await self.use_cases.charges.delete_charge(job)

    async def charge(self, command: RequestPayment) -> None:
        """RequestPayment, then its charge job."""
        await self.use_cases.charges.request_payment(command)
        await self.run_charge_jobs()


def stored_credentials(cipher: Fernet | MultiFernet, token: bytes = b"token") -> StoredCredentials:
    """The restaurant's credentials on the emulator, encrypted with `cipher`."""
    return StoredCredentials(
        client_id=CLIENT,
        api_key_encrypted=cipher.encrypt(API_KEY.encode()).decode(),
        webhook_token_encrypted=cipher.encrypt(token).decode(),
        base_url=f"{EMULATOR}/v3",
        webhook_id=None,
        webhook_url="",
        updated_at=now(),
    )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    transport = httpx.ASGITransport(app=build_emulator())
    clients = AsaasClients(GatewaySettings(timeout_s=2, attempts=3), transport=transport)
    cipher = MultiFernet([Fernet(Fernet.generate_key())])
    credentials = InMemoryCredentialsRepository()
    await credentials.put(stored_credentials(cipher))
    restaurants = Restaurants(
        credentials, cipher, clients, public_base_url="", webhook_email="", clock=now
    )
    sink = RecordingSink()
    payments = InMemoryPaymentRepository(sink)
    jobs = InMemoryJobQueue()
    inbox = InMemoryWebhookInbox()
    use_cases = build_use_cases(
        payments,
        jobs,
        inbox,
        InMemoryPixImageStore(),
        restaurants,
        PaymentPolicy(),
        now,
    )
    asaas = httpx.AsyncClient(
        transport=transport, base_url=EMULATOR, headers={"access_token": API_KEY}
    )
    yield World(use_cases, payments, jobs, sink, asaas, restaurants, inbox)
    await asaas.aclose()
    await clients.close()


def command_fields(order_id: str, attempt: int = 1) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": now(),
        "correlation_id": "turn-1",
        "client_id": CLIENT,
        "store_id": "s-1",
        "order_id": order_id,
        "attempt": attempt,
    }


def request_payment(
    order_id: str, attempt: int = 1, method: PaymentMethod = PaymentMethod.CREDIT
) -> RequestPayment:
    return RequestPayment(
        **command_fields(order_id, attempt),
        payment_method=method,
        amount_cents=2590,
        customer=Customer(name="Ana", cpf="529.982.247-25", phone_number="+5511987654321"),
        description="Pedido",
        time_zone="America/Sao_Paulo",
    )


async def made_on_asaas(world: World, reference: str, billing_type: str) -> dict[str, Any]:
    """A charge of `reference` made on Asaas behind the service's back."""
    customer = (
        await world.asaas.post("/v3/customers", json={"name": "Ana", "cpfCnpj": "52998224725"})
    ).json()
    charge = {
        "customer": customer["id"],
        "billingType": billing_type,
        "value": 25.9,
        "dueDate": now().date().isoformat(),
        "externalReference": reference,
    }
    made: dict[str, Any] = (await world.asaas.post("/v3/payments", json=charge)).json()
    return made


async def test_a_charge_created_just_before_a_crash_is_found_not_created_again(
    world: World,
) -> None:
    order_id = "order-crash"
    command = request_payment(order_id)
    # The process died after Asaas created the charge and before the answer was saved.
    crashed = PaymentRecord(
        payment=Payment(
            order_id=order_id,
            client_id=CLIENT,
            store_id="s-1",
            method=PaymentMethod.CREDIT,
            amount_cents=2590,
            status=ChargeStatus.CREATING,
            created_at=now(),
        ),
        correlation_id="turn-1",
        causation_id=str(command.event_id),
        time_zone="America/Sao_Paulo",
    )
    await world.payments.insert(crashed, [])
    existing = await made_on_asaas(world, order_id, "CREDIT_CARD")

    await world.charge(command)  # the redelivery

    listed = await world.asaas.get("/v3/payments", params={"externalReference": order_id})
    assert listed.json()["totalCount"] == 1
    [created] = [decode(r.value) for r in world.sink.records]
    assert isinstance(created, PaymentCreated)
    assert created.payment_id == existing["id"]


def pending_payment(order_id: str, charge_id: str) -> PaymentRecord:
    return PaymentRecord(
        payment=Payment(
            order_id=order_id,
            client_id=CLIENT,
            store_id="s-1",
            method=PaymentMethod.PIX,
            amount_cents=100,
            status=ChargeStatus.PENDING,
            created_at=now(),
            payment_id=charge_id,
        ),
        correlation_id="turn-7",
        causation_id="cause-7",
        time_zone="America/Sao_Paulo",
    )


async def test_a_webhook_that_beats_the_saved_charge_is_applied_once_the_charge_is_saved(
    world: World,
) -> None:
    order_id = "order-race"
    payload = {
        "id": "evt_early",
        "event": "PAYMENT_RECEIVED",
        "payment": {"id": "pay_early", "externalReference": order_id, "status": "RECEIVED"},
    }
    assert await world.use_cases.asaas_updates.receive_webhook(CLIENT, payload, "{}") == "accepted"
    assert await world.use_cases.asaas_updates.receive_webhook(CLIENT, payload, "{}") == "duplicate"
    [job] = await world.inbox.due(WEBHOOK_JOB, now(), 10)
    await world.use_cases.asaas_updates.process_webhook(job)
    assert world.sink.records == []
    [retry] = list(world.inbox.pending.values())
    assert retry.attempts == 1

    record = pending_payment(order_id, "pay_early")
    await world.payments.insert(record, [])
    await world.use_cases.asaas_updates.process_webhook(replace(retry, due_at=now()))
    await world.use_cases.asaas_updates.process_webhook(replace(retry, due_at=now()))

    assert world.sink.types() == ["PaymentSucceeded"]
    succeeded = decode(world.sink.records[0].value)
    assert isinstance(succeeded, PaymentSucceeded)
    assert (succeeded.correlation_id, succeeded.causation_id) == (
        record.correlation_id,
        record.causation_id,
    )
    stored = await world.payments.get(record_id(CLIENT, order_id))
    assert stored is not None
    assert stored.payment.status is ChargeStatus.PAID


def received(event_id: str, order_id: str, charge_id: str) -> dict[str, Any]:
    charge = {"id": charge_id, "externalReference": order_id, "status": "RECEIVED"}
    return {"id": event_id, "event": "PAYMENT_RECEIVED", "payment": charge}


async def run_webhook_jobs(world: World) -> None:
    for job in await world.inbox.due(WEBHOOK_JOB, now(), 100):
        await world.use_cases.asaas_updates.process_webhook(job)


async def test_a_webhook_redelivered_after_it_was_processed_queues_no_job_and_pays_once(
    world: World,
) -> None:
    await world.payments.insert(pending_payment("order-again", "pay_again"), [])
    payload = received("evt_again", "order-again", "pay_again")
    updates = world.use_cases.asaas_updates
    assert await updates.receive_webhook(CLIENT, payload, "{}") == "accepted"
    await run_webhook_jobs(world)

    assert await updates.receive_webhook(CLIENT, payload, "{}") == "duplicate"
    assert await world.inbox.due(WEBHOOK_JOB, now() + timedelta(days=1), 100) == []
    assert world.sink.types() == ["PaymentSucceeded"]


async def test_a_webhook_reads_its_payment_once_when_nothing_else_changes_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.payments.insert(pending_payment("order-once", "pay_once"), [])
    reads: list[str] = []
    get = world.payments.get

    async def counted(key: str) -> PaymentRecord | None:
        reads.append(key)
        return await get(key)

    monkeypatch.setattr(world.payments, "get", counted)
    payload = received("evt_once", "order-once", "pay_once")
    await world.use_cases.asaas_updates.receive_webhook(CLIENT, payload, "{}")
    await run_webhook_jobs(world)

    assert world.sink.types() == ["PaymentSucceeded"]
    assert reads == [record_id(CLIENT, "order-once")]


async def test_a_webhook_for_a_charge_its_reference_does_not_hold_is_not_applied_to_that_payment(
    world: World,
) -> None:
    await world.payments.insert(pending_payment("order-two", "pay_first"), [])
    reference_says_second = received("evt_first", "order-two", "pay_second")
    await world.use_cases.asaas_updates.receive_webhook(CLIENT, reference_says_second, "{}")
    await run_webhook_jobs(world)

    assert world.sink.types() == []
    [retry] = await world.inbox.due(WEBHOOK_JOB, now() + timedelta(minutes=1), 100)
    assert retry.attempts == 1


async def test_credentials_that_cannot_be_decrypted_read_as_missing() -> None:
    old_key, new_key = Fernet(Fernet.generate_key()), Fernet(Fernet.generate_key())
    repository = InMemoryCredentialsRepository()
    await repository.put(stored_credentials(old_key))
    rotated_wrongly = Restaurants(
        repository,
        MultiFernet([new_key]),
        AsaasClients(GatewaySettings()),
        public_base_url="",
        webhook_email="",
        clock=now,
    )
    assert await rotated_wrongly.account(CLIENT) is None
    assert not await rotated_wrongly.webhook_token_matches(CLIENT, "token")
    rotated = Restaurants(
        repository,
        MultiFernet([new_key, old_key]),
        AsaasClients(GatewaySettings()),
        public_base_url="",
        webhook_email="",
        clock=now,
    )
    assert await rotated.account(CLIENT) is not None
    assert await rotated.webhook_token_matches(CLIENT, "token")


async def charges_listed(world: World, reference: str) -> list[dict[str, Any]]:
    listed = await world.asaas.get("/v3/payments", params={"externalReference": reference})
    found: list[dict[str, Any]] = listed.json()["data"]
    return found


async def test_each_attempt_of_an_order_gets_its_own_charge_beside_the_deleted_one(
    world: World,
) -> None:
    order_id = "order-switch"
    await world.charge(request_payment(order_id, 1, PaymentMethod.PIX))
    await world.use_cases.charges.cancel_payment(CancelPayment(**command_fields(order_id, 1)))
    await world.run_deletion_jobs()
    await world.charge(request_payment(order_id, 2))

    events = [decode(record.value) for record in world.sink.records]
    assert [(type(e).__name__, getattr(e, "attempt", None)) for e in events] == [
        ("PaymentCreated", 1), ("PaymentCancelled", 1), ("PaymentCreated", 2)
    ]  # fmt: skip
    first, _, second = events
    assert isinstance(first, PaymentCreated)
    assert isinstance(second, PaymentCreated)
    assert first.payment_id != second.payment_id
    [charge] = await charges_listed(world, f"{order_id}:2")
    assert (charge["id"], charge["billingType"]) == (second.payment_id, "CREDIT_CARD")
    deleted = (await world.asaas.get(f"/v3/payments/{first.payment_id}")).json()
    assert deleted["deleted"] is True
    for attempt, status in ((1, ChargeStatus.CANCELLED), (2, ChargeStatus.PENDING)):
        reference = order_id if attempt == 1 else f"{order_id}:{attempt}"
        stored = await world.payments.get(record_id(CLIENT, reference))
        assert stored is not None
        assert (stored.payment.attempt, stored.payment.status) == (attempt, status)


async def test_a_crash_while_charging_a_new_attempt_never_takes_the_first_attempts_charge(
    world: World,
) -> None:
    order_id = "order-switch-crash"
    await world.charge(request_payment(order_id, 1, PaymentMethod.PIX))
    [first] = [decode(record.value) for record in world.sink.records]
    assert isinstance(first, PaymentCreated)
    command = request_payment(order_id, 2)
    # The process died in attempt 2's charge job, after it noted a call under way and before
    # Asaas was called; the first charge is still pending (its deletion not yet done).
    await world.use_cases.charges.request_payment(command)
    key = record_id(CLIENT, f"{order_id}:2")
    queued = await world.payments.get(key)
    assert queued is not None
    assert queued.creation is not None
    await world.payments.save(replace(queued, creation=replace(queued.creation, unclear=True)), [])

    await world.run_charge_jobs()  # the job, again once its claim's lease ran out

    second = decode(world.sink.records[-1].value)
    assert isinstance(second, PaymentCreated)
    assert (second.attempt, second.method) == (2, "CREDIT")
    assert second.payment_id != first.payment_id
    assert len(await charges_listed(world, order_id)) == 1
    assert len(await charges_listed(world, f"{order_id}:2")) == 1


async def test_the_first_charge_paid_after_a_switch_is_refunded_on_its_own(
    world: World,
) -> None:
    order_id = "order-paid-late"
    await world.charge(request_payment(order_id, 1, PaymentMethod.PIX))
    await world.charge(request_payment(order_id, 2))
    first, second = (decode(record.value) for record in world.sink.records)
    assert isinstance(first, PaymentCreated)
    assert isinstance(second, PaymentCreated)
    confirmed = await world.asaas.post(f"/v3/sandbox/payment/{first.payment_id}/confirm")
    assert confirmed.status_code == 200
    payload = {
        "id": "evt_paid_late",
        "event": "PAYMENT_RECEIVED",
        "payment": {"id": first.payment_id, "externalReference": order_id, "status": "RECEIVED"},
    }
    await world.use_cases.asaas_updates.receive_webhook(CLIENT, payload, "{}")
    [job] = await world.inbox.due(WEBHOOK_JOB, now(), 10)
    await world.use_cases.asaas_updates.process_webhook(job)
    succeeded = decode(world.sink.records[-1].value)
    assert isinstance(succeeded, PaymentSucceeded)
    assert (succeeded.attempt, succeeded.payment_id) == (1, first.payment_id)

    refund = RequestRefund(
        **command_fields(order_id, 1),
        payment_id=first.payment_id,
        reason="PAID_AFTER_METHOD_CHANGE",
    )
    await world.use_cases.refunds.request_refund(refund)

    old = await world.payments.get(record_id(CLIENT, order_id))
    new = await world.payments.get(record_id(CLIENT, f"{order_id}:2"))
    assert old is not None
    assert new is not None
    assert old.payment.status is ChargeStatus.REFUND_PENDING
    assert (new.payment.status, new.payment.payment_id) == (
        ChargeStatus.PENDING, second.payment_id
    )  # fmt: skip
    assert world.sink.types().count("PaymentCancelled") == 0


async def test_a_charge_its_order_cancels_before_its_job_runs_is_never_created(
    world: World,
) -> None:
    order_id = "order-cancelled-early"
    await world.use_cases.charges.request_payment(request_payment(order_id))
    await world.use_cases.charges.cancel_payment(CancelPayment(**command_fields(order_id)))
    await world.run_charge_jobs()

    assert await charges_listed(world, order_id) == []
    [failed] = [decode(record.value) for record in world.sink.records]
    assert isinstance(failed, PaymentCreationFailed)
    assert (failed.reason_code, failed.retryable) == ("CANCELLED_BEFORE_CREATION", False)
    stored = await world.payments.get(record_id(CLIENT, order_id))
    assert stored is not None
    assert (stored.payment.status, stored.payment.unwanted) == (ChargeStatus.CREATION_FAILED, True)
    assert world.jobs.jobs == {}


async def test_a_charge_its_order_cancels_during_the_create_call_is_deleted_once_made(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = "order-cancelled-mid-call"
    answered, go_on = asyncio.Event(), asyncio.Event()
    create = HttpAsaasAccount.create_charge

    async def held(account: HttpAsaasAccount, request: ChargeRequest) -> Charge:
        charge = await create(account, request)
        answered.set()
        await go_on.wait()  # the answer is on its way back while the order cancels
        return charge

    monkeypatch.setattr(HttpAsaasAccount, "create_charge", held)
    await world.use_cases.charges.request_payment(request_payment(order_id))
    job = asyncio.create_task(world.run_charge_jobs())
    await answered.wait()
    await world.use_cases.charges.cancel_payment(CancelPayment(**command_fields(order_id)))
    go_on.set()
    await job
    await world.run_deletion_jobs()

    assert await charges_listed(world, order_id) == []  # deleted charges are not listed
    assert world.sink.types() == ["PaymentCreated", "PaymentCancelled"]
    created = decode(world.sink.records[0].value)
    assert isinstance(created, PaymentCreated)
    deleted = (await world.asaas.get(f"/v3/payments/{created.payment_id}")).json()
    assert deleted["deleted"] is True
    stored = await world.payments.get(record_id(CLIENT, order_id))
    assert stored is not None
    assert stored.payment.status is ChargeStatus.CANCELLED


async def paid(world: World, order_id: str) -> PaymentCreated:
    """A charge made, paid on Asaas and its webhook applied."""
    await world.charge(request_payment(order_id))
    created = decode(world.sink.records[-1].value)
    assert isinstance(created, PaymentCreated)
    await world.asaas.post(f"/v3/sandbox/payment/{created.payment_id}/confirm")
    payload = {
        "id": f"evt_{order_id}",
        "event": "PAYMENT_CONFIRMED",
        "payment": {"id": created.payment_id, "externalReference": order_id},
    }
    await world.use_cases.asaas_updates.receive_webhook(CLIENT, payload, "{}")
    [job] = await world.inbox.due(WEBHOOK_JOB, now(), 10)
    await world.use_cases.asaas_updates.process_webhook(job)
    assert world.sink.types()[-1] == "PaymentSucceeded"
    return created


def refund_asked(order_id: str, how: str) -> RequestRefund | CancelPayment:
    """The command that refunds a paid charge: RequestRefund, or CancelPayment of its order."""
    if how == "RequestRefund":
        return RequestRefund(**command_fields(order_id), reason="CONFIRMATION_TIMEOUT")
    return CancelPayment(**command_fields(order_id))


async def handle(world: World, command: RequestRefund | CancelPayment) -> None:
    if isinstance(command, RequestRefund):
        await world.use_cases.refunds.request_refund(command)
    else:
        await world.use_cases.charges.cancel_payment(command)


@pytest.mark.parametrize("how", ["RequestRefund", "CancelPayment"])
async def test_a_refund_job_another_replica_runs_the_moment_it_is_queued_makes_the_refund(
    world: World, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = f"order-raced-{how}"
    created = await paid(world, order_id)
    other = world.replica()
    add, put = world.jobs.add, world.jobs.put

    async def run_at_once(job: Job) -> None:
        if job.kind == REFUND_JOB:
            await other.refunds.refund(job)

    async def racing_add(job: Job) -> bool:
        added = await add(job)
        await run_at_once(job)
        return added

    async def racing_put(job: Job) -> None:
        await put(job)
        await run_at_once(job)

    monkeypatch.setattr(world.jobs, "add", racing_add)
    monkeypatch.setattr(world.jobs, "put", racing_put)
    await handle(world, refund_asked(order_id, how))

    assert world.sink.types()[-1] == "RefundRequested"
    charge = (await world.asaas.get(f"/v3/payments/{created.payment_id}")).json()
    assert charge["status"] in ("REFUND_IN_PROGRESS", "REFUNDED")


@pytest.mark.parametrize("how", ["RequestRefund", "CancelPayment"])
async def test_a_refund_whose_job_a_crash_lost_is_queued_again_by_the_redelivered_command(
    world: World, how: str
) -> None:
    order_id = f"order-crashed-{how}"
    await paid(world, order_id)
    command = refund_asked(order_id, how)
    await handle(world, command)
    # The process died after saving the refund and before adding its job.
    key = record_id(CLIENT, order_id)
    await world.jobs.remove(REFUND_JOB, key)

    await handle(world, command)  # the redelivery

    [job] = await world.jobs.due(REFUND_JOB, now(), 10)
    await world.use_cases.refunds.refund(job)
    assert world.sink.types()[-1] == "RefundRequested"


async def test_a_cancel_payment_for_a_charge_never_recorded_deletes_the_one_asaas_holds(
    world: World,
) -> None:
    order_id = "order-unrecorded"
    made = await made_on_asaas(world, order_id, "PIX")

    await world.use_cases.charges.cancel_payment(CancelPayment(**command_fields(order_id)))
    assert (await world.asaas.get(f"/v3/payments/{made['id']}")).json()["deleted"] is False
    await world.run_deletion_jobs()

    assert (await world.asaas.get(f"/v3/payments/{made['id']}")).json()["deleted"] is True
    assert world.jobs.jobs == {}
    assert world.sink.records == []


class CountedCredentials(InMemoryCredentialsRepository):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, client_id: str) -> StoredCredentials | None:
        self.reads += 1
        return await super().get(client_id)


async def _token_checker() -> tuple[Restaurants, Restaurants, CountedCredentials, list[datetime]]:
    """Two replicas' Restaurants on one store of credentials, and the clock they read."""
    cipher = MultiFernet([Fernet(Fernet.generate_key())])
    repository = CountedCredentials()
    await repository.put(stored_credentials(cipher, b"old-token"))
    clock = [now()]
    emulator = httpx.ASGITransport(app=build_emulator())
    replicas = [
        Restaurants(
            repository,
            cipher,
            AsaasClients(GatewaySettings(timeout_s=2, attempts=1), transport=emulator),
            public_base_url="http://127.0.0.1:8082",
            webhook_email="",
            clock=lambda: clock[0],
            webhook_token_trust=timedelta(seconds=5),
        )
        for _ in range(2)
    ]
    return replicas[0], replicas[1], repository, clock


async def test_a_webhook_token_that_matched_is_taken_without_a_read_until_its_trust_runs_out() -> (
    None
):
    restaurants, _, repository, clock = await _token_checker()
    assert await restaurants.webhook_token_matches(CLIENT, "old-token")
    assert await restaurants.webhook_token_matches(CLIENT, "old-token")
    assert repository.reads == 1
    assert not await restaurants.webhook_token_matches(CLIENT, "wrong-token")
    assert not await restaurants.webhook_token_matches(CLIENT, None)
    assert repository.reads == 3

    clock[0] += timedelta(seconds=5)
    assert await restaurants.webhook_token_matches(CLIENT, "old-token")
    assert repository.reads == 4


async def test_a_token_replaced_elsewhere_is_taken_at_once_the_old_one_until_its_trust_ends() -> (
    None
):
    this, other, _, _ = await _token_checker()
    assert await this.webhook_token_matches(CLIENT, "old-token")
    assert await other.webhook_token_matches(CLIENT, "old-token")

    await other.configure(CLIENT, SecretStr(API_KEY), SecretStr("new-token"), f"{EMULATOR}/v3")

    assert not await other.webhook_token_matches(CLIENT, "old-token")
    assert await this.webhook_token_matches(CLIENT, "old-token")  # trusted a moment longer
    assert await this.webhook_token_matches(CLIENT, "new-token")
    assert not await this.webhook_token_matches(CLIENT, "old-token")
    assert await other.webhook_token_matches(CLIENT, "new-token")


async def test_a_refund_webhook_another_replica_applies_during_the_refund_call_is_not_lost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator, like Asaas, posts PAYMENT_REFUND_IN_PROGRESS as it accepts the refund: the
    # other replica may announce the refund before this one saves what the call answered.
    order_id = "order-refund-raced-by-its-webhook"
    await paid(world, order_id)
    other = world.replica()
    refunds = world.use_cases.refunds
    try_refund = refunds._try_refund

    async def raced(record: Any) -> Any:
        attempt = await try_refund(record)
        await other.asaas_updates.apply_asaas_event(record.record_id, "PAYMENT_REFUND_IN_PROGRESS")
        return attempt

    monkeypatch.setattr(refunds, "_try_refund", raced)
    accepted = REFUNDS.labels("accepted")._value.get()
    await handle(world, refund_asked(order_id, "RequestRefund"))
    [job] = await world.jobs.due(REFUND_JOB, now(), 10)

    await refunds.refund(job)

    assert world.sink.types().count("RefundRequested") == 1
    assert REFUNDS.labels("accepted")._value.get() == accepted + 1
    stored = await world.payments.get(record_id(CLIENT, order_id))
    assert stored is not None
    assert stored.refund is not None
    assert stored.refund.attempts == 1
    assert await world.jobs.due(REFUND_JOB, now() + timedelta(days=1), 10) == []
