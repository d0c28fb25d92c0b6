"""What a paused or interrupted Asaas webhook queue cannot take away: reconciliation reads the
charge back (here after 1 s of silence) and applies what it finds like the webhook would.

Also the Asaas client in-process against the emulator: error mapping, and logs without keys.
"""

from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from cryptography.fernet import Fernet, MultiFernet
from pydantic import SecretStr

from services.payment.adapters.asaas_client import AsaasClients
from services.payment.adapters.in_memory import InMemoryCredentialsRepository
from services.payment.ports import ChargeRequest
from services.payment.restaurants import Restaurants
from shared.contracts.payments import PaymentCreated, PaymentRefunded, PaymentSucceeded
from shared.contracts.values import PaymentMethod
from shared.gateway import GatewayRefused, GatewaySettings, GatewayUnavailable
from tests.payment.conftest import PaymentEvents, Restaurant, Stack, now, stack_fixture
from tests.waiting import eventually

pytestmark = pytest.mark.integration

stack = stack_fixture(PAYMENT_RECONCILE_AFTER_S="1", PAYMENT_RECONCILE_MAX_INTERVAL_S="1")


async def charged(restaurant: Restaurant, events: PaymentEvents) -> PaymentCreated:
    order_id = restaurant.order()
    await restaurant.send(restaurant.request_payment(order_id))
    return await events.wait(order_id, PaymentCreated)


async def test_a_payment_made_while_the_webhook_queue_is_paused_is_settled_by_reconciliation(
    restaurant: Restaurant, payment_events: PaymentEvents, stack: Stack
) -> None:
    created = await charged(restaurant, payment_events)
    await restaurant.control("webhooks/pause")
    await restaurant.sandbox(created.payment_id, "confirm")

    succeeded = await payment_events.wait(created.order_id, PaymentSucceeded, timeout=15)
    assert succeeded.payment_id == created.payment_id
    assert await restaurant.deliveries() == []
    assert stack.service.metric("payment_reconciliation_checks_total") >= 1

    await restaurant.control("webhooks/resume")
    await eventually(lambda: _delivered(restaurant, "PAYMENT_RECEIVED"), what="late webhook")
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentSucceeded)) == 1


async def _delivered(restaurant: Restaurant, event: str) -> bool:
    return any(d["event"] == event and d["status"] == 200 for d in await restaurant.deliveries())


async def test_a_refund_completed_while_the_queue_is_paused_is_found_by_reconciliation(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await charged(restaurant, payment_events)
    await restaurant.sandbox(created.payment_id, "confirm")
    await payment_events.wait(created.order_id, PaymentSucceeded)
    await restaurant.control("webhooks/pause")
    await restaurant.send(restaurant.request_refund(created.order_id))

    refunded = await payment_events.wait(created.order_id, PaymentRefunded, timeout=15)
    assert refunded.amount_cents == 4480
    assert (await restaurant.charge(created.payment_id))["status"] == "REFUNDED"


async def test_an_interrupted_queue_loses_nothing_and_onboarding_again_resumes_it(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    [hook] = (await restaurant.asaas.get("/v3/webhooks")).json()["data"]
    await restaurant.asaas.put(f"/v3/webhooks/{hook['id']}", json={"authToken": "stale-token"})
    created = await charged(restaurant, payment_events)
    await restaurant.sandbox(created.payment_id, "confirm")

    await payment_events.wait(created.order_id, PaymentSucceeded, timeout=15)
    await eventually(lambda: _interrupted(restaurant), timeout=15, what="queue interrupted")
    refused = {d["status"] for d in await restaurant.deliveries()}
    assert refused == {401}

    await restaurant.onboard()
    await eventually(lambda: _delivered(restaurant, "PAYMENT_RECEIVED"), what="queue resumed")
    assert not await _interrupted(restaurant)
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentSucceeded)) == 1


async def _interrupted(restaurant: Restaurant) -> bool:
    state = (await restaurant.asaas.get("/_control/state")).json()
    return bool(state["webhooks"][0]["interrupted"])


async def test_the_asaas_client_maps_errors_clearly_and_never_logs_the_api_key(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api_key = SecretStr(f"$aact_caplog_{uuid.uuid4().hex}")
    token = SecretStr(f"whk-caplog-{uuid.uuid4().hex}")
    clients = AsaasClients(
        GatewaySettings(timeout_s=2, attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02)
    )
    restaurants = Restaurants(
        InMemoryCredentialsRepository(),
        MultiFernet([Fernet(Fernet.generate_key())]),
        clients,
        public_base_url="http://127.0.0.1:1",
        webhook_email="ops@example.com",
        clock=now,
    )
    try:
        summary = await restaurants.configure("caplog-rest", api_key, token, stack.emulator.url)
        assert summary["webhookId"]
        account = await restaurants.account("caplog-rest")
        assert account is not None
        unknown_customer = ChargeRequest(
            reference="caplog-order",
            customer_id="cus_missing",
            method=PaymentMethod.PIX,
            amount_cents=100,
            due_date=now().date(),
            description="Pedido",
        )
        with pytest.raises(GatewayRefused) as refused:
            await account.create_charge(unknown_customer)
        assert (refused.value.status, refused.value.code) == (400, "invalid_customer")
        with pytest.raises(GatewayRefused) as not_found:
            await account.charge("pay_nothing")
        assert not_found.value.status == 404
        faults = {"fail5xx": {"GET /v3/payments/{id}": 5}, "fail429": {"GET /v3/webhooks": 5}}
        async with httpx.AsyncClient(base_url=stack.emulator.url) as control:
            headers = {"access_token": api_key.get_secret_value()}
            await control.post("/_control/faults", json=faults, headers=headers)
        with pytest.raises(GatewayUnavailable) as unavailable:
            await account.charge("pay_nothing")
        assert unavailable.value.status == 500
        with pytest.raises(GatewayUnavailable) as throttled:
            await clients.account(stack.emulator.url, api_key).list_webhooks()
        assert (throttled.value.status, throttled.value.code) == (429, "rate_limit_exceeded")
        anonymous = clients.account(stack.emulator.url, SecretStr(""))
        with pytest.raises(GatewayRefused) as no_key:
            await anonymous.charge("pay_x")
        assert (no_key.value.status, no_key.value.code) == (401, "access_token_not_found")
        errors = [refused.value, not_found.value, unavailable.value, throttled.value]
    finally:
        await clients.close()

    assert caplog.records
    for secret in (api_key.get_secret_value(), token.get_secret_value()):
        assert secret not in caplog.text
        assert all(secret not in str(error) for error in errors)
    assert await restaurants.webhook_token_matches("caplog-rest", token.get_secret_value())
    assert not await restaurants.webhook_token_matches("caplog-rest", "wrong")
    assert not await restaurants.webhook_token_matches("someone-else", token.get_secret_value())
