"""The Asaas emulator's refunds, as Asaas lists them: every accepted refund is appended to the
charge's `refunds`, partial ones leave it paid, and every request is recorded with its answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest

from deploy.emulators.asaas.app import build_app

API_KEY = "refunds-account"


@pytest.fixture
async def asaas() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(
        transport=transport, base_url="http://asaas", headers={"access_token": API_KEY}
    ) as client:
        yield client


async def paid_charge(asaas: httpx.AsyncClient, value: str) -> str:
    customer = await asaas.post("/v3/customers", json={"name": "Ana", "cpfCnpj": "52998224725"})
    assert customer.status_code == 200, customer.text
    charge = await asaas.post(
        "/v3/payments",
        content=(
            f'{{"customer": "{customer.json()["id"]}", "billingType": "PIX", "value": {value}, '
            f'"dueDate": "{date.today().isoformat()}"}}'
        ),
    )
    assert charge.status_code == 200, charge.text
    charge_id: str = charge.json()["id"]
    confirmed = await asaas.post(f"/v3/sandbox/payment/{charge_id}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    return charge_id


async def requests_recorded(asaas: httpx.AsyncClient) -> list[tuple[str, int]]:
    response = await asaas.get("/_control/refunds")
    data: list[dict[str, Any]] = response.json()["data"]
    return [(entry["payment"], entry["status"]) for entry in data]


async def test_a_second_full_refund_is_refused_and_both_requests_are_recorded(
    asaas: httpx.AsyncClient,
) -> None:
    charge_id = await paid_charge(asaas, "44.80")

    first = await asaas.post(f"/v3/payments/{charge_id}/refund")
    second = await asaas.post(f"/v3/payments/{charge_id}/refund")

    assert first.status_code == 200
    assert first.json()["status"] == "REFUND_IN_PROGRESS"
    assert [refund["value"] for refund in first.json()["refunds"]] == [44.8]
    assert second.status_code == 400
    assert second.json()["errors"][0]["code"] == "invalid_action"
    assert await requests_recorded(asaas) == [(charge_id, 200), (charge_id, 400)]


async def test_partial_refunds_are_listed_one_after_another_and_the_last_one_ends_the_charge(
    asaas: httpx.AsyncClient,
) -> None:
    charge_id = await paid_charge(asaas, "30.00")

    partial = await asaas.post(f"/v3/payments/{charge_id}/refund", json={"value": 10.5})
    too_much = await asaas.post(f"/v3/payments/{charge_id}/refund", json={"value": 20})
    rest = await asaas.post(f"/v3/payments/{charge_id}/refund")

    assert partial.status_code == 200
    assert partial.json()["status"] == "RECEIVED"
    assert too_much.status_code == 400
    assert too_much.json()["errors"][0]["code"] == "invalid_value"
    assert rest.status_code == 200
    assert rest.json()["status"] == "REFUND_IN_PROGRESS"
    assert [refund["value"] for refund in rest.json()["refunds"]] == [10.5, 19.5]
    assert await requests_recorded(asaas) == [(charge_id, 200), (charge_id, 400), (charge_id, 200)]


async def test_a_refund_of_an_unknown_charge_is_a_404_and_is_recorded(
    asaas: httpx.AsyncClient,
) -> None:
    response = await asaas.post("/v3/payments/pay_unknown/refund")

    assert response.status_code == 404
    assert await requests_recorded(asaas) == [("pay_unknown", 404)]
