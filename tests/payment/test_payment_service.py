"""The payment service as a real process, against the Asaas emulator as a real HTTP server.

Reconciliation waits a minute here, so everything settled in these tests came by webhook.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from services.payment.adapters.mongo import CREDENTIALS, INBOX, PAYMENTS
from shared.contracts.payments import (
    PaymentCancelled,
    PaymentChargebackReported,
    PaymentCreated,
    PaymentCreationFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    RefundFailed,
    RefundRequested,
)
from shared.contracts.values import PaymentMethod
from shared.records import HEADER_ERROR
from shared.topics import PAYMENTS_COMMANDS, dlq_topic
from tests.integration.kafka_helpers import read_until
from tests.payment.conftest import (
    ADMIN_TOKEN,
    PaymentEvents,
    Restaurant,
    Stack,
    now,
    stack_fixture,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

stack = stack_fixture(PAYMENT_RECONCILE_AFTER_S="60")


async def charged(
    restaurant: Restaurant,
    events: PaymentEvents,
    method: PaymentMethod = PaymentMethod.PIX,
    cents: int = 4480,
) -> PaymentCreated:
    order_id = restaurant.order()
    await restaurant.send(restaurant.request_payment(order_id, method, cents))
    return await events.wait(order_id, PaymentCreated)


async def paid(restaurant: Restaurant, events: PaymentEvents) -> PaymentCreated:
    created = await charged(restaurant, events)
    await restaurant.sandbox(created.payment_id, "confirm")
    await events.wait(created.order_id, PaymentSucceeded)
    return created


def webhook_body(event: str, charge: dict[str, object], **extra: object) -> dict[str, object]:
    return {"id": f"evt_{uuid.uuid4().hex}", "event": event, "payment": charge, **extra}


# Charges


async def test_a_pix_charge_gives_the_customer_the_qr_code_and_the_copy_and_paste_code(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    order_id = restaurant.order()
    command = restaurant.request_payment(order_id, PaymentMethod.PIX, cents=4480)
    await restaurant.send(command)

    created = await payment_events.wait(order_id, PaymentCreated)
    [(record, _)] = payment_events.records_of(order_id)
    assert record.key == restaurant.client_id.encode()
    assert (created.correlation_id, created.causation_id) == (
        command.correlation_id,
        str(command.event_id),
    )
    assert (created.client_id, created.store_id) == (restaurant.client_id, "store-1")
    assert created.method is PaymentMethod.PIX
    assert created.amount_cents == 4480
    assert created.instructions.pix_payload
    assert created.instructions.pix_qr_code_image
    assert created.instructions.expires_at is not None
    url = created.instructions.pix_qr_code_url
    assert url is not None
    assert url.startswith(f"{restaurant.stack.service.url}/pix/")
    image = await restaurant.service.get(url)  # no bearer: WhatsApp fetches it
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content == base64.b64decode(created.instructions.pix_qr_code_image)
    assert (await restaurant.service.get(url.replace("/pix/", "/pix/x"))).status_code == 404
    charge = await restaurant.charge(created.payment_id)
    assert charge["billingType"] == "PIX"
    assert Decimal(str(charge["value"])) == Decimal("44.80")
    assert charge["externalReference"] == order_id
    assert charge["dueDate"] == date.today().isoformat() or charge["dueDate"] == (
        now().astimezone(ZoneInfo("America/Sao_Paulo")).date().isoformat()
    )
    customer = (await restaurant.asaas.get(f"/v3/customers/{charge['customer']}")).json()
    assert customer["notificationDisabled"] is True
    assert customer["cpfCnpj"] == "52998224725"


@pytest.mark.parametrize(
    ("method", "billing_type"),
    [(PaymentMethod.CREDIT, "CREDIT_CARD"), (PaymentMethod.DEBIT, "UNDEFINED")],
)
async def test_card_charges_send_the_customer_to_the_hosted_payment_page(
    restaurant: Restaurant,
    payment_events: PaymentEvents,
    method: PaymentMethod,
    billing_type: str,
) -> None:
    created = await charged(restaurant, payment_events, method, cents=1)
    charge = await restaurant.charge(created.payment_id)
    assert charge["billingType"] == billing_type
    assert Decimal(str(charge["value"])) == Decimal("0.01")
    assert created.instructions.invoice_url == charge["invoiceUrl"]
    assert created.instructions.pix_payload is None


async def test_one_customer_is_created_per_cpf_for_many_orders(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    await charged(restaurant, payment_events)
    await charged(restaurant, payment_events)
    state = (await restaurant.asaas.get("/_control/state")).json()
    assert (state["customers"], state["payments"]) == (1, 2)


async def test_creation_failures_say_why_and_whether_a_retry_can_help(
    restaurant: Restaurant, newcomer: Restaurant, payment_events: PaymentEvents
) -> None:
    no_credentials = newcomer.order()
    await newcomer.send(newcomer.request_payment(no_credentials))
    bad_cpf = restaurant.order()
    bad_cpf_command = restaurant.request_payment(bad_cpf)
    bad_cpf_command = bad_cpf_command.model_copy(
        update={"customer": bad_cpf_command.customer.model_copy(update={"cpf": "11111111112"})}
    )
    await restaurant.send(bad_cpf_command)

    missing = await payment_events.wait(no_credentials, PaymentCreationFailed)
    assert (missing.reason_code, missing.retryable) == ("CREDENTIALS_MISSING", False)
    refused = await payment_events.wait(bad_cpf, PaymentCreationFailed)
    assert (refused.reason_code, refused.retryable) == ("invalid_cpfCnpj", False)

    await restaurant.control("faults", {"fail5xx": {"POST /v3/payments": 100}})
    unavailable = restaurant.order()
    await restaurant.send(restaurant.request_payment(unavailable))
    down = await payment_events.wait(unavailable, PaymentCreationFailed)
    await restaurant.control("reset")
    assert (down.reason_code, down.retryable) == ("PROVIDER_UNAVAILABLE", True)
    assert await restaurant.charges(unavailable) == []


async def test_a_5xx_and_429_burst_during_creation_is_retried_into_exactly_one_charge(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    faults = {"fail5xx": {"POST /v3/payments": 2}, "fail429": {"POST /v3/payments": 1}}
    await restaurant.control("faults", faults | {"latencyMs": 20})
    created = await charged(restaurant, payment_events)
    assert [c["id"] for c in await restaurant.charges(created.order_id)] == [created.payment_id]


async def test_a_response_lost_after_creation_is_found_by_external_reference(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    await restaurant.control("faults", {"loseResponse": {"POST /v3/payments": 1}})
    created = await charged(restaurant, payment_events)
    assert [c["id"] for c in await restaurant.charges(created.order_id)] == [created.payment_id]
    assert len(payment_events.messages(created.order_id)) == 1


async def test_a_response_dropped_past_the_client_timeout_still_gives_exactly_one_charge(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    await restaurant.control(
        "faults", {"loseResponse": {"POST /v3/payments": 1}, "loseResponseDelayS": 3}
    )
    created = await charged(restaurant, payment_events)
    assert [c["id"] for c in await restaurant.charges(created.order_id)] == [created.payment_id]


async def test_a_new_attempt_after_a_switch_gets_its_own_charge_though_its_answer_is_lost(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    first = await charged(restaurant, payment_events)
    order_id = first.order_id
    await restaurant.control("faults", {"loseResponse": {"POST /v3/payments": 1}})
    second = restaurant.request_payment(order_id, PaymentMethod.CREDIT)
    await restaurant.send(
        restaurant.cancel_payment(order_id),
        second.model_copy(update={"attempt": 2}),
    )

    created = await payment_events.wait(order_id, PaymentCreated, count=2)
    cancelled = await payment_events.wait(order_id, PaymentCancelled)
    assert (created.attempt, cancelled.attempt, cancelled.payment_id) == (
        2, 1, first.payment_id
    )  # fmt: skip
    assert [c["id"] for c in await restaurant.charges(f"{order_id}:2")] == [created.payment_id]
    assert (await restaurant.charge(first.payment_id))["deleted"] is True
    assert (await restaurant.charge(created.payment_id))["billingType"] == "CREDIT_CARD"


async def test_the_first_charge_paid_after_a_second_was_made_is_told_and_refunded_as_attempt_1(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    first = await charged(restaurant, payment_events)
    order_id = first.order_id
    second = restaurant.request_payment(order_id, PaymentMethod.CREDIT)
    await restaurant.send(second.model_copy(update={"attempt": 2}))
    created = await payment_events.wait(order_id, PaymentCreated, count=2)

    await restaurant.sandbox(first.payment_id, "confirm")
    succeeded = await payment_events.wait(order_id, PaymentSucceeded)
    assert (succeeded.attempt, succeeded.payment_id) == (1, first.payment_id)
    refund = restaurant.request_refund(order_id).model_copy(
        update={"attempt": 1, "reason": "PAID_AFTER_METHOD_CHANGE"}
    )
    await restaurant.send(refund)

    refunded = await payment_events.wait(order_id, PaymentRefunded, timeout=30)
    assert (refunded.attempt, refunded.payment_id) == (1, first.payment_id)
    assert (await restaurant.charge(created.payment_id))["status"] == "PENDING"


# Webhooks


@pytest.mark.parametrize(
    ("method", "status"), [(PaymentMethod.PIX, "RECEIVED"), (PaymentMethod.CREDIT, "CONFIRMED")]
)
async def test_a_payment_confirmed_in_the_sandbox_is_published_once_as_payment_succeeded(
    restaurant: Restaurant, payment_events: PaymentEvents, method: PaymentMethod, status: str
) -> None:
    created = await charged(restaurant, payment_events, method)
    confirmed = await restaurant.sandbox(created.payment_id, "confirm")
    assert confirmed["status"] == status

    succeeded = await payment_events.wait(created.order_id, PaymentSucceeded)
    assert (succeeded.payment_id, succeeded.amount_cents) == (created.payment_id, 4480)
    assert succeeded.correlation_id == created.correlation_id
    assert succeeded.causation_id == created.causation_id
    if method is PaymentMethod.CREDIT:
        await restaurant.control(f"payments/{created.payment_id}/receive")
    await eventually(lambda: _all_delivered(restaurant), what="webhooks delivered")
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentSucceeded)) == 1


async def _all_delivered(restaurant: Restaurant) -> bool:
    state = (await restaurant.asaas.get("/_control/state")).json()
    return all(hook["pending"] == 0 for hook in state["webhooks"])


async def test_webhooks_with_a_wrong_or_missing_token_are_refused_and_change_nothing(
    restaurant: Restaurant, payment_events: PaymentEvents, stack: Stack
) -> None:
    created = await charged(restaurant, payment_events)
    charge = await restaurant.charge(created.payment_id)
    body = webhook_body("PAYMENT_RECEIVED", charge)

    wrong = await restaurant.webhook(body, token="not-the-token")
    missing = await restaurant.webhook(body, token=None)
    empty = await restaurant.webhook(body, token="")
    prefix = await restaurant.webhook(body, token=restaurant.webhook_token[:-1])
    longer = await restaurant.webhook(body, token=restaurant.webhook_token + "0")
    unknown_client = await restaurant.webhook(body, client_id="nobody-here")

    refused = (wrong, missing, empty, prefix, longer, unknown_client)
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert restaurant.webhook_token not in wrong.text
    assert await stack.database[INBOX].count_documents({"clientId": restaurant.client_id}) == 0
    document = await stack.database[PAYMENTS].find_one(
        {"_id": f"{restaurant.client_id}:{created.order_id}"}
    )
    assert document is not None
    assert document["status"] == "PENDING"
    assert payment_events.of(created.order_id, PaymentSucceeded) == []


async def test_duplicate_webhooks_are_answered_200_and_applied_once(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    await restaurant.control("faults", {"duplicateWebhooks": True})
    created = await charged(restaurant, payment_events)
    await restaurant.sandbox(created.payment_id, "confirm")
    await payment_events.wait(created.order_id, PaymentSucceeded)
    await eventually(lambda: _all_delivered(restaurant), what="webhooks delivered")
    deliveries = [d for d in await restaurant.deliveries() if d["event"] == "PAYMENT_RECEIVED"]
    assert len(deliveries) == 2
    assert len({d["eventId"] for d in deliveries}) == 1
    assert {d["status"] for d in deliveries} == {200}

    body = webhook_body("PAYMENT_RECEIVED", await restaurant.charge(created.payment_id))
    first, again = await restaurant.webhook(body), await restaurant.webhook(body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["duplicate"] is True
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentSucceeded)) == 1


async def test_received_before_confirmed_pays_once(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await charged(restaurant, payment_events, PaymentMethod.CREDIT)
    await restaurant.control("webhooks/pause")
    await restaurant.sandbox(created.payment_id, "confirm")
    await restaurant.control(f"payments/{created.payment_id}/receive")
    await restaurant.control("webhooks/resume", {"order": "reverse"})

    await payment_events.wait(created.order_id, PaymentSucceeded)
    await eventually(lambda: _all_delivered(restaurant), what="webhooks delivered")
    delivered = [d["event"] for d in await restaurant.deliveries() if d["status"] == 200]
    assert delivered == ["PAYMENT_RECEIVED", "PAYMENT_CONFIRMED"]
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentSucceeded)) == 1


async def test_overdue_after_paid_is_ignored_and_overdue_before_payment_fails_it(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    settled = await paid(restaurant, payment_events)
    late = webhook_body("PAYMENT_OVERDUE", await restaurant.charge(settled.payment_id))
    assert (await restaurant.webhook(late)).status_code == 200

    expired = await charged(restaurant, payment_events)
    await restaurant.sandbox(expired.payment_id, "overdue")
    failed = await payment_events.wait(expired.order_id, PaymentFailed)
    assert failed.reason == "PAYMENT_OVERDUE"
    assert payment_events.of(settled.order_id, PaymentFailed) == []


async def test_a_webhook_with_unknown_fields_is_taken_and_malformed_ones_are_refused(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await charged(restaurant, payment_events)
    charge = await restaurant.charge(created.payment_id) | {"brandNewField": {"x": [1, 2.5]}}
    body = webhook_body("PAYMENT_RECEIVED", charge, dateCreated="2026-11-29 10:00:00", novo=True)

    assert (await restaurant.webhook(body)).status_code == 200
    await payment_events.wait(created.order_id, PaymentSucceeded)
    assert (await restaurant.webhook(b'{"id": "evt_1", "event": ')).status_code == 400
    assert (await restaurant.webhook(b'["not", "an", "event"]')).status_code == 400
    assert (await restaurant.webhook({"event": "PAYMENT_RECEIVED"})).status_code == 400
    huge = webhook_body("PAYMENT_RECEIVED", charge, padding="x" * 300_000)
    assert (await restaurant.webhook(huge)).status_code == 413


async def test_a_webhook_for_an_unknown_payment_is_stored_and_harms_nothing(
    restaurant: Restaurant, stack: Stack, payment_events: PaymentEvents
) -> None:
    stray = webhook_body("PAYMENT_RECEIVED", {"id": "pay_unknown", "externalReference": "nope"})
    assert (await restaurant.webhook(stray)).status_code == 200
    inbox_id = f"{restaurant.client_id}:{stray['id']}"
    await eventually(
        lambda: _outcome(stack, inbox_id, "unmatched"), timeout=15, what="stray marked"
    )
    created = await paid(restaurant, payment_events)  # the service still works
    assert created.payment_id


async def _outcome(stack: Stack, inbox_id: str, outcome: str) -> bool:
    found = await stack.database[INBOX].find_one({"_id": inbox_id})
    return found is not None and found.get("outcome") == outcome


async def test_a_chargeback_is_reported_once_for_a_human(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await paid(restaurant, payment_events)
    for _ in range(2):
        await restaurant.control(
            f"payments/{created.payment_id}/events",
            {"event": "PAYMENT_CHARGEBACK_REQUESTED", "status": "CHARGEBACK_REQUESTED"},
        )
    reported = await payment_events.wait(created.order_id, PaymentChargebackReported)
    assert reported.asaas_event == "PAYMENT_CHARGEBACK_REQUESTED"
    await eventually(lambda: _all_delivered(restaurant), what="webhooks delivered")
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentChargebackReported)) == 1


# Cancel and refund


async def test_cancel_payment_deletes_the_pending_charge_once(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await charged(restaurant, payment_events)
    cancel = restaurant.cancel_payment(created.order_id)
    await restaurant.send(cancel, cancel, restaurant.cancel_payment(created.order_id))

    cancelled = await payment_events.wait(created.order_id, PaymentCancelled)
    assert cancelled.causation_id == str(cancel.event_id)
    assert (await restaurant.charge(created.payment_id))["deleted"] is True
    await eventually(lambda: _all_delivered(restaurant), what="PAYMENT_DELETED delivered")
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, PaymentCancelled)) == 1


async def test_a_paid_charge_whose_order_cancels_it_is_refunded_by_the_payment_service(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    # The order service never heard of the payment (its PaymentSucceeded lost) and cancels.
    created = await paid(restaurant, payment_events)
    await restaurant.send(restaurant.cancel_payment(created.order_id))

    await payment_events.wait(created.order_id, RefundRequested)
    refunded = await payment_events.wait(created.order_id, PaymentRefunded)
    assert refunded.amount_cents == 4480
    assert (await restaurant.charge(created.payment_id))["status"] == "REFUNDED"
    assert await restaurant.refund_requests() == [(created.payment_id, 200)]
    await payment_events.all_published(restaurant, created.order_id)
    assert payment_events.of(created.order_id, PaymentCancelled) == []


async def test_money_that_arrives_after_the_order_cancelled_its_charge_goes_back(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await charged(restaurant, payment_events)
    await restaurant.control("webhooks/pause")
    await restaurant.sandbox(created.payment_id, "confirm")  # paid; Asaas has not told us yet
    await restaurant.send(restaurant.cancel_payment(created.order_id))
    # Asaas refuses to delete a paid charge: the order's cancellation cannot stop the money.
    await eventually(
        lambda: _marked_unwanted(restaurant, created.order_id), what="the charge marked unwanted"
    )
    await restaurant.control("webhooks/resume")

    await payment_events.wait(created.order_id, PaymentSucceeded)
    await payment_events.wait(created.order_id, PaymentRefunded)
    assert (await restaurant.charge(created.payment_id))["status"] == "REFUNDED"
    assert await restaurant.refund_requests() == [(created.payment_id, 200)]


async def _marked_unwanted(restaurant: Restaurant, order_id: str) -> bool:
    document = await restaurant.payment_document(order_id)
    return document is not None and document.get("unwanted") is True


async def test_a_refund_refused_for_balance_is_retried_until_asaas_accepts(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    created = await paid(restaurant, payment_events)
    await restaurant.control("faults", {"refund400": 2})
    refund = restaurant.request_refund(created.order_id)
    await restaurant.send(refund)

    requested = await payment_events.wait(created.order_id, RefundRequested)
    refunded = await payment_events.wait(created.order_id, PaymentRefunded)
    assert requested.causation_id == str(refund.event_id)
    assert refunded.amount_cents == 4480
    assert (await restaurant.charge(created.payment_id))["status"] == "REFUNDED"
    assert payment_events.of(created.order_id, RefundFailed) == []


async def test_a_refund_refused_past_the_retry_window_gives_refund_failed_and_can_be_retried(
    restaurant: Restaurant, payment_events: PaymentEvents, stack: Stack
) -> None:
    created = await paid(restaurant, payment_events)
    await restaurant.control("faults", {"refund400": 1000})
    await restaurant.send(restaurant.request_refund(created.order_id))

    failed = await payment_events.wait(created.order_id, RefundFailed)
    assert failed.attempts >= 2
    assert "invalid_action" in failed.reason
    document = await stack.database[PAYMENTS].find_one(
        {"_id": f"{restaurant.client_id}:{created.order_id}"}
    )
    assert document is not None
    assert document["status"] == "REFUND_PENDING"
    assert payment_events.of(created.order_id, RefundRequested) == []

    await restaurant.control("reset")
    await restaurant.send(restaurant.request_refund(created.order_id))  # an operator retries
    await payment_events.wait(created.order_id, PaymentRefunded)
    await payment_events.all_published(restaurant, created.order_id)
    assert len(payment_events.of(created.order_id, RefundFailed)) == 1


# Consumers


async def test_every_command_given_twice_does_its_work_once(
    restaurant: Restaurant, payment_events: PaymentEvents
) -> None:
    order_id = restaurant.order()
    request = restaurant.request_payment(order_id)
    await restaurant.send(request, request, restaurant.request_payment(order_id))
    created = await payment_events.wait(order_id, PaymentCreated)
    await restaurant.sandbox(created.payment_id, "confirm")
    await payment_events.wait(order_id, PaymentSucceeded)
    refund = restaurant.request_refund(order_id)
    await restaurant.send(refund, refund, restaurant.request_refund(order_id))
    await payment_events.wait(order_id, PaymentRefunded)
    await eventually(lambda: _all_delivered(restaurant), what="webhooks delivered")

    kinds = [type(m).__name__ for m in payment_events.messages(order_id)]
    assert kinds == ["PaymentCreated", "PaymentSucceeded", "RefundRequested", "PaymentRefunded"]
    assert len(await restaurant.charges(order_id)) == 1


async def test_malformed_and_impossible_commands_are_dead_lettered(
    restaurant: Restaurant, kafka_bootstrap: str, payment_events: PaymentEvents
) -> None:
    marker = uuid.uuid4().hex
    poison = f'{{"eventType": "RequestPayment", "marker": "{marker}"'.encode()
    await restaurant.sink.broker.publish(
        poison, PAYMENTS_COMMANDS, key=restaurant.client_id.encode()
    )
    cash = restaurant.request_payment(restaurant.order()).to_wire() | {"paymentMethod": "CASH"}
    await restaurant.sink.broker.publish(cash, PAYMENTS_COMMANDS, key=restaurant.client_id.encode())

    await restaurant.send(restaurant.request_refund("order-never-charged"))

    records = await read_until(
        kafka_bootstrap,
        dlq_topic(PAYMENTS_COMMANDS),
        lambda rs: sum(r.key == restaurant.client_id.encode() for r in rs) >= 3,
    )
    mine = [r for r in records if r.key == restaurant.client_id.encode()]
    assert mine[0].value == poison
    errors = [dict(r.headers)[HEADER_ERROR].decode() for r in mine]
    assert "no charge is known for order order-never-charged" in errors[2]
    assert payment_events.messages(str(cash["orderId"])) == []


# Credentials


@pytest.mark.parametrize(
    "base_url",
    ["https://evil.example/v3", "http://127.0.0.1:1/v3", "https://api.asaas.com.evil.example/v3"],
)
async def test_credentials_naming_an_asaas_api_this_service_does_not_allow_are_refused(
    newcomer: Restaurant, stack: Stack, base_url: str
) -> None:
    path = f"/restaurants/{newcomer.client_id}/asaas"
    body = {"apiKey": newcomer.api_key, "webhookToken": newcomer.webhook_token, "baseUrl": base_url}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    refused = await newcomer.service.put(path, json=body, headers=admin)

    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["baseUrl"]
    assert newcomer.api_key not in refused.text
    assert (await newcomer.service.get(path, headers=admin)).status_code == 404
    assert (await newcomer.asaas.get("/v3/webhooks")).json()["data"] == []


async def test_credentials_are_stored_encrypted_never_shown_and_the_webhook_registered_once(
    newcomer: Restaurant, stack: Stack
) -> None:
    path = f"/restaurants/{newcomer.client_id}/asaas"
    body = {
        "apiKey": newcomer.api_key,
        "webhookToken": newcomer.webhook_token,
        "baseUrl": f"{stack.emulator.url}/v3",
    }
    assert (await newcomer.service.put(path, json=body)).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert (await newcomer.service.put(path, json=body, headers=wrong)).status_code == 401

    first = await newcomer.onboard()
    second = await newcomer.onboard()
    shown = await newcomer.service.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    for answer in (str(first), str(second), shown.text):
        assert newcomer.api_key not in answer
        assert newcomer.webhook_token not in answer
    assert shown.json()["configured"] is True
    assert first["webhookId"] == second["webhookId"]
    hooks = (await newcomer.asaas.get("/v3/webhooks")).json()["data"]
    assert [hook["url"] for hook in hooks] == [
        f"{stack.service.url}/webhooks/asaas/{newcomer.client_id}"
    ]
    assert hooks[0]["hasAuthToken"] is True
    assert "PAYMENT_RECEIVED" in hooks[0]["events"]
    stored = await stack.database[CREDENTIALS].find_one({"_id": newcomer.client_id})
    assert stored is not None
    assert newcomer.api_key not in str(stored)
    assert newcomer.webhook_token not in str(stored)
    # A webhook deleted on Asaas (on its panel, or an emulator restarted) is registered anew.
    assert (await newcomer.asaas.delete(f"/v3/webhooks/{first['webhookId']}")).status_code == 200
    third = await newcomer.onboard()
    assert third["webhookId"] != first["webhookId"]
    hooks = (await newcomer.asaas.get("/v3/webhooks")).json()["data"]
    assert [hook["id"] for hook in hooks] == [third["webhookId"]]
    bad = body | {"apiKey": 12345, "baseUrl": "ftp://x"}
    refused = await newcomer.service.put(
        path, json=bad, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert refused.status_code == 422
    assert "12345" not in refused.text
    odd_id = await newcomer.service.put(
        "/restaurants/not%20a%20topic%20id/asaas",
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert odd_id.status_code == 422


async def test_the_service_and_emulator_logs_contain_no_api_key_or_token(stack: Stack) -> None:
    """Runs last in the module: every key and token handed out above is looked for."""
    assert len(stack.secrets) >= 3  # the encryption key, then an API key and token per restaurant
    assert "Asaas credentials of" in stack.service.log_path.read_text()
    for process in (stack.service, stack.emulator):
        text = process.log_path.read_text(errors="replace")
        for secret in stack.secrets:
            assert secret not in text, f"a secret appears in {process.log_path.name}"
