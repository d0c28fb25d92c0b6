"""The payment service's consumer on FastStream's test broker, with the in-memory twins and a
fake Asaas account behind the port; the charge jobs it queues are run by hand here (the loops
run them in the service). Kept small: the use cases' own tests (tests/payment) hold the detail;
this proves the wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import pytest

from services.payment.adapters.in_memory import (
    InMemoryJobQueue,
    InMemoryPaymentRepository,
    InMemoryPixImageStore,
    InMemoryWebhookInbox,
)
from services.payment.config import PaymentPolicy
from services.payment.domain import ChargeStatus
from services.payment.handlers import subscriptions
from services.payment.ports import (
    CHARGE_JOB,
    AsaasAccounts,
    Charge,
    ChargeRequest,
    record_id,
)
from services.payment.use_cases import PaymentUseCases, build_use_cases
from shared.broker import BrokerSink
from shared.contracts.payments import (
    PaymentCreated,
    PaymentCustomer,
    PaymentInstructions,
    RequestPayment,
)
from shared.contracts.values import PaymentMethod
from shared.topics import PAYMENTS_COMMANDS, PAYMENTS_EVENTS
from tests.builders import CLIENT, PHONE, VALID_CPF, envelope, now
from tests.component.wiring import Running, in_memory_broker, running

INVOICE = "https://sandbox.asaas.com/i/pay_1"


@dataclass
class FakeAsaas:
    """Every restaurant's Asaas account (the `AsaasAccounts` port) and the calls a card charge
    makes on it; it records the charges created."""

    charges: list[ChargeRequest] = field(default_factory=list)

    async def account(self, client_id: str) -> FakeAsaas:
        return self

    async def customer_id(self, customer: PaymentCustomer) -> str:
        return "cus_1"

    async def create_charge(self, request: ChargeRequest) -> Charge:
        self.charges.append(request)
        return Charge(f"pay_{len(self.charges)}", status="PENDING", invoice_url=INVOICE)

    async def instructions(
        self, charge: Charge, method: PaymentMethod, time_zone: str
    ) -> PaymentInstructions:
        return PaymentInstructions(invoice_url=charge.invoice_url)


@dataclass
class Component:
    kafka: Running
    payments: InMemoryPaymentRepository
    jobs: InMemoryJobQueue
    use_cases: PaymentUseCases
    asaas: FakeAsaas

    async def run_charge_jobs(self) -> None:
        """What the charge loop does: every due charge job, once."""
        for job in await self.jobs.due(CHARGE_JOB, now(), 100):
            await self.use_cases.charge_creation.create(job)


@pytest.fixture
async def component() -> AsyncIterator[Component]:
    broker = in_memory_broker()
    payments = InMemoryPaymentRepository(BrokerSink(broker))
    asaas = FakeAsaas()
    jobs = InMemoryJobQueue()
    use_cases = build_use_cases(
        payments,
        jobs,
        InMemoryWebhookInbox(),
        InMemoryPixImageStore(),
        cast(AsaasAccounts, asaas),  # only the calls a card charge makes
        PaymentPolicy(),
        now,
    )
    handled = subscriptions(use_cases.charges, use_cases.refunds)
    async with running(broker, handled, PAYMENTS_EVENTS) as kafka:
        yield Component(kafka, payments, jobs, use_cases, asaas)


def request_payment(order_id: str) -> RequestPayment:
    return RequestPayment(
        **envelope(),
        order_id=order_id,
        payment_method="CREDIT",
        amount_cents=3780,
        customer={"name": "Ana", "cpf": VALID_CPF, "phone_number": PHONE},
        description=f"Pedido #{order_id}",
        time_zone="America/Sao_Paulo",
    )


async def test_a_request_payment_queues_the_job_that_creates_the_charge_and_announces_it(
    component: Component,
) -> None:
    command = request_payment("o1")

    await component.kafka.send(PAYMENTS_COMMANDS, command)
    queued = await component.payments.get(record_id(CLIENT, "o1"))
    assert queued is not None
    assert queued.payment.status is ChargeStatus.CREATING
    assert component.asaas.charges == []
    await component.run_charge_jobs()

    assert [charge.reference for charge in component.asaas.charges] == ["o1"]
    record = await component.payments.get(record_id(CLIENT, "o1"))
    assert record is not None
    assert (record.payment.status, record.payment.payment_id) == (ChargeStatus.PENDING, "pay_1")
    [created] = component.kafka.outputs.messages(PaymentCreated)
    assert (created.order_id, created.payment_id, created.causation_id) == (
        "o1",
        "pay_1",
        str(command.event_id),
    )
    assert created.instructions.invoice_url == INVOICE


async def test_the_same_request_payment_delivered_twice_creates_one_charge(
    component: Component,
) -> None:
    command = request_payment("o1")

    await component.kafka.send(PAYMENTS_COMMANDS, command)
    await component.kafka.send(PAYMENTS_COMMANDS, command)
    await component.run_charge_jobs()
    await component.kafka.send(PAYMENTS_COMMANDS, command)
    await component.run_charge_jobs()

    assert len(component.asaas.charges) == 1
    assert component.kafka.outputs.sent() == [(PAYMENTS_EVENTS, "PaymentCreated")]
    assert component.kafka.dead_letters.records == []
