"""The Asaas API v3 emulator: Asaas's paths, fields and error shape, plus a fault control API.

Asaas paths live under `/v3` and need the `access_token` header (each distinct value is its own
account). `/_control/...` is the emulator's own API for tests and demos: faults, the webhook
queue, settling card payments, injecting webhook events, reading what was delivered.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from deploy.emulators.asaas.state import (
    Account,
    Emulator,
    EmulatorSettings,
    Faults,
    Webhook,
    local_now,
    plain,
    route_of,
)

BILLING_TYPES = {"BOLETO", "CREDIT_CARD", "PIX", "UNDEFINED"}
SEND_TYPES = {"SEQUENTIALLY", "NON_SEQUENTIALLY"}
PAID = {"CONFIRMED", "RECEIVED", "RECEIVED_IN_CASH"}


def ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(plain(body), status_code=status)


def error(status: int, code: str, description: str) -> JSONResponse:
    """Asaas's error shape."""
    return JSONResponse(
        {"errors": [{"code": code, "description": description}]}, status_code=status
    )


def listing(items: list[dict[str, Any]], request: Request) -> JSONResponse:
    offset = int(request.query_params.get("offset", "0") or 0)
    limit = min(100, int(request.query_params.get("limit", "10") or 10))
    page = items[offset : offset + limit]
    return ok(
        {
            "object": "list",
            "hasMore": offset + limit < len(items),
            "totalCount": len(items),
            "limit": limit,
            "offset": offset,
            "data": page,
        }
    )


def valid_cpf(digits: str) -> bool:
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    for position in (9, 10):
        total = sum(int(digits[i]) * (position + 1 - i) for i in range(position))
        if (total * 10 % 11) % 10 != int(digits[position]):
            return False
    return True


async def body_of(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw, parse_float=Decimal)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def build_app(settings: EmulatorSettings | None = None) -> FastAPI:
    emulator = Emulator(settings or EmulatorSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    app = FastAPI(title="Asaas emulator", lifespan=lifespan)
    app.state.emulator = emulator

    @app.middleware("http")
    async def asaas_gate(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if not path.startswith("/v3"):
            return await call_next(request)
        token = request.headers.get("access_token")
        if not token:
            return error(
                401,
                "access_token_not_found",
                "O cabeçalho de autenticação 'access_token' é obrigatório e não foi encontrado "
                "na requisição",
            )
        account = emulator.account(token)
        request.state.account = account
        faults = account.faults
        route = route_of(request.method, path)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if Faults.take(faults.fail_429, route):
            return error(429, "rate_limit_exceeded", "Limite de requisições excedido.")
        if Faults.take(faults.fail_5xx, route):
            return error(500, "internal_error", "Erro interno do servidor (injetado).")
        response = await call_next(request)
        if response.status_code < 400 and Faults.take(faults.lose_response, route):
            if faults.lose_response_delay_s:
                await asyncio.sleep(faults.lose_response_delay_s)
            return error(500, "internal_error", "Resposta perdida (injetada).")
        return response

    def account_of(request: Request) -> Account:
        found: Account = request.state.account
        return found

    @app.get("/healthz")
    @app.get("/readyz")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": "asaas-emulator"}

    # Customers

    @app.post("/v3/customers")
    async def create_customer(request: Request) -> JSONResponse:
        account = account_of(request)
        fields = await body_of(request)
        if fields is None:
            return error(400, "invalid_object", "JSON inválido.")
        if not fields.get("name"):
            return error(400, "invalid_name", "O campo name deve ser informado.")
        digits = re.sub(r"\D", "", str(fields.get("cpfCnpj") or ""))
        if not digits:
            return error(400, "invalid_cpfCnpj", "O campo cpfCnpj deve ser informado.")
        if not (valid_cpf(digits) or len(digits) == 14):
            return error(400, "invalid_cpfCnpj", "O CPF/CNPJ informado é inválido.")
        customer_id = f"cus_{len(account.customers) + 1:012d}"
        customer = {
            "object": "customer",
            "id": customer_id,
            "dateCreated": local_now().date().isoformat(),
            "name": fields["name"],
            "email": fields.get("email"),
            "mobilePhone": fields.get("mobilePhone"),
            "cpfCnpj": digits,
            "personType": "FISICA" if len(digits) == 11 else "JURIDICA",
            "deleted": False,
            "externalReference": fields.get("externalReference"),
            "notificationDisabled": bool(fields.get("notificationDisabled", False)),
        }
        account.customers[customer_id] = customer
        return ok(customer)

    @app.get("/v3/customers")
    async def list_customers(request: Request) -> JSONResponse:
        account = account_of(request)
        query = request.query_params
        found = [
            c
            for c in account.customers.values()
            if all(
                query.get(name) in (None, c.get(name)) for name in ("externalReference", "cpfCnpj")
            )
        ]
        return listing(found, request)

    @app.get("/v3/customers/{customer_id}")
    async def get_customer(customer_id: str, request: Request) -> JSONResponse:
        customer = account_of(request).customers.get(customer_id)
        if customer is None:
            return error(404, "not_found", "Cliente não encontrado.")
        return ok(customer)

    # Payments

    @app.post("/v3/payments")
    async def create_payment(request: Request) -> JSONResponse:
        account = account_of(request)
        fields = await body_of(request)
        if fields is None:
            return error(400, "invalid_object", "JSON inválido.")
        if fields.get("customer") not in account.customers:
            return error(400, "invalid_customer", "Cliente inexistente ou não informado.")
        if fields.get("billingType") not in BILLING_TYPES:
            return error(400, "invalid_billingType", "Forma de pagamento inválida.")
        try:
            value = Decimal(str(fields.get("value")))
        except InvalidOperation:
            return error(400, "invalid_value", "O valor da cobrança deve ser informado.")
        if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
            return error(400, "invalid_value", "Valor da cobrança inválido.")
        try:
            due = date.fromisoformat(str(fields.get("dueDate")))
        except ValueError:
            return error(400, "invalid_dueDate", "Data de vencimento inválida.")
        if due < local_now().date():
            return error(
                400, "invalid_dueDate", "Não é permitido data de vencimento inferior a hoje."
            )
        payment = emulator.new_payment(str(fields["customer"]), fields, value, due.isoformat())
        account.payments[payment["id"]] = payment
        emulator.emit(account, payment, "PAYMENT_CREATED")
        return ok(payment)

    @app.get("/v3/payments")
    async def list_payments(request: Request) -> JSONResponse:
        account = account_of(request)
        query = request.query_params
        filters = ("externalReference", "customer", "status", "billingType")
        found = [
            p
            for p in account.payments.values()
            if not p["deleted"] and all(query.get(name) in (None, p.get(name)) for name in filters)
        ]
        return listing(found, request)

    def payment_of(request: Request, payment_id: str) -> dict[str, Any] | None:
        return account_of(request).payments.get(payment_id)

    def not_found() -> JSONResponse:
        return error(404, "not_found", "Cobrança não encontrada.")

    @app.get("/v3/payments/{payment_id}")
    async def get_payment(payment_id: str, request: Request) -> JSONResponse:
        payment = payment_of(request, payment_id)
        return not_found() if payment is None else ok(payment)

    @app.get("/v3/payments/{payment_id}/pixQrCode")
    async def pix_qr_code(payment_id: str, request: Request) -> JSONResponse:
        payment = payment_of(request, payment_id)
        if payment is None or payment["deleted"]:
            return not_found()
        if payment["billingType"] not in ("PIX", "UNDEFINED"):
            return error(400, "invalid_billingType", "Cobrança não permite pagamento via Pix.")
        return ok(emulator.pix_qr_code(payment))

    @app.delete("/v3/payments/{payment_id}")
    async def delete_payment(payment_id: str, request: Request) -> JSONResponse:
        account = account_of(request)
        payment = account.payments.get(payment_id)
        if payment is None or payment["deleted"]:
            return not_found()
        if payment["status"] not in ("PENDING", "OVERDUE"):
            return error(
                400, "invalid_action", f"Não é possível remover uma cobrança {payment['status']}."
            )
        payment["deleted"] = True
        emulator.emit(account, payment, "PAYMENT_DELETED")
        return ok({"deleted": True, "id": payment_id})

    @app.post("/v3/payments/{payment_id}/refund")
    async def refund(payment_id: str, request: Request) -> JSONResponse:
        account = account_of(request)
        answer = await refund_of(account, payment_id, await body_of(request))
        account.refund_requests.append(
            {"payment": payment_id, "status": answer.status_code, "at": local_now().isoformat()}
        )
        return answer

    async def refund_of(
        account: Account, payment_id: str, fields: dict[str, Any] | None
    ) -> JSONResponse:
        """A refund of the whole remaining value, or of `value` (reais) when given; each one
        accepted is appended to the charge's `refunds`, as Asaas lists them."""
        payment = account.payments.get(payment_id)
        if payment is None or payment["deleted"]:
            return not_found()
        if fields is None:
            return error(400, "invalid_object", "Não foi possível ler a requisição.")
        if payment["status"] not in PAID:
            return error(
                400, "invalid_action", f"Não é possível estornar uma cobrança {payment['status']}."
            )
        if account.faults.refund_400 > 0:
            account.faults.refund_400 -= 1
            return error(
                400,
                "invalid_action",
                "Saldo insuficiente para realizar o estorno. O valor será estornado quando houver "
                "saldo disponível.",
            )
        refunds: list[dict[str, Any]] = payment["refunds"] or []
        remaining = payment["value"] - sum((entry["value"] for entry in refunds), Decimal(0))
        try:
            value = Decimal(str(fields.get("value", remaining)))
        except InvalidOperation:
            return error(400, "invalid_value", "Valor do estorno inválido.")
        if not value.is_finite() or not Decimal(0) < value <= remaining:
            return error(400, "invalid_value", "O valor do estorno excede o valor disponível.")
        entry = {
            "dateCreated": local_now().isoformat(),
            "status": "PENDING",
            "value": value,
            "description": fields.get("description"),
        }
        payment["refunds"] = [*refunds, entry]
        if value < remaining:
            return ok(payment)  # a partial refund leaves the charge paid
        payment["status"] = "REFUND_IN_PROGRESS"
        emulator.emit(account, payment, "PAYMENT_REFUND_IN_PROGRESS")

        def refunded() -> None:
            payment["status"] = "REFUNDED"
            entry["status"] = "DONE"
            emulator.emit(account, payment, "PAYMENT_REFUNDED")

        emulator.later(emulator.settings.refund_delay_s, refunded)
        return ok(payment)

    def settle(account: Account, payment: dict[str, Any], status: str, event: str) -> None:
        today = local_now().date().isoformat()
        payment["status"] = status
        payment["confirmedDate"] = payment["confirmedDate"] or today
        payment["paymentDate"] = payment["paymentDate"] or today
        payment["clientPaymentDate"] = payment["clientPaymentDate"] or today
        emulator.emit(account, payment, event)

    @app.post("/v3/sandbox/payment/{payment_id}/confirm")
    async def sandbox_confirm(payment_id: str, request: Request) -> JSONResponse:
        account = account_of(request)
        payment = account.payments.get(payment_id)
        if payment is None or payment["deleted"]:
            return not_found()
        if payment["status"] not in ("PENDING", "OVERDUE"):
            return error(400, "invalid_action", f"Cobrança já está {payment['status']}.")
        if payment["billingType"] == "CREDIT_CARD":
            settle(account, payment, "CONFIRMED", "PAYMENT_CONFIRMED")
        else:
            settle(account, payment, "RECEIVED", "PAYMENT_RECEIVED")
        return ok(payment)

    @app.post("/v3/sandbox/payment/{payment_id}/overdue")
    async def sandbox_overdue(payment_id: str, request: Request) -> JSONResponse:
        account = account_of(request)
        payment = account.payments.get(payment_id)
        if payment is None or payment["deleted"]:
            return not_found()
        if payment["status"] != "PENDING":
            return error(400, "invalid_action", f"Cobrança já está {payment['status']}.")
        payment["status"] = "OVERDUE"
        emulator.emit(account, payment, "PAYMENT_OVERDUE")
        return ok(payment)

    # Webhooks

    def webhook_problem(fields: dict[str, Any], partial: bool) -> JSONResponse | None:
        url = fields.get("url")
        if (not partial or "url" in fields) and not (
            isinstance(url, str) and url.startswith(("http://", "https://"))
        ):
            return error(400, "invalid_url", "A URL do webhook é inválida.")
        if "sendType" in fields and fields["sendType"] not in SEND_TYPES:
            return error(400, "invalid_sendType", "sendType inválido.")
        if "events" in fields and not isinstance(fields["events"], list):
            return error(400, "invalid_events", "events deve ser uma lista.")
        return None

    @app.post("/v3/webhooks")
    async def create_webhook(request: Request) -> JSONResponse:
        account = account_of(request)
        fields = await body_of(request)
        if fields is None:
            return error(400, "invalid_object", "JSON inválido.")
        problem = webhook_problem(fields, partial=False)
        if problem is not None:
            return problem
        config = {
            "name": fields.get("name"),
            "url": fields["url"],
            "email": fields.get("email"),
            "enabled": bool(fields.get("enabled", True)),
            "interrupted": bool(fields.get("interrupted", False)),
            "apiVersion": int(fields.get("apiVersion", 3)),
            "authToken": fields.get("authToken"),
            "sendType": fields.get("sendType", "SEQUENTIALLY"),
            "events": list(fields.get("events") or []),
        }
        webhook = Webhook(id=str(uuid.uuid4()), config=config)
        account.webhooks[webhook.id] = webhook
        return ok(webhook.public())

    @app.get("/v3/webhooks")
    async def list_webhooks(request: Request) -> JSONResponse:
        hooks = [hook.public() for hook in account_of(request).webhooks.values()]
        return listing(hooks, request)

    @app.get("/v3/webhooks/{webhook_id}")
    async def get_webhook(webhook_id: str, request: Request) -> JSONResponse:
        webhook = account_of(request).webhooks.get(webhook_id)
        if webhook is None:
            return error(404, "not_found", "Webhook não encontrado.")
        return ok(webhook.public())

    @app.put("/v3/webhooks/{webhook_id}")
    async def update_webhook(webhook_id: str, request: Request) -> JSONResponse:
        account = account_of(request)
        webhook = account.webhooks.get(webhook_id)
        if webhook is None:
            return error(404, "not_found", "Webhook não encontrado.")
        fields = await body_of(request)
        if fields is None:
            return error(400, "invalid_object", "JSON inválido.")
        problem = webhook_problem(fields, partial=True)
        if problem is not None:
            return problem
        known = set(webhook.config)
        webhook.config.update({k: v for k, v in fields.items() if k in known})
        if not webhook.config.get("interrupted"):
            webhook.failures = 0
            emulator.wake(account, webhook)
        return ok(webhook.public())

    @app.delete("/v3/webhooks/{webhook_id}")
    async def delete_webhook(webhook_id: str, request: Request) -> JSONResponse:
        webhook = account_of(request).webhooks.pop(webhook_id, None)
        if webhook is None:
            return error(404, "not_found", "Webhook não encontrado.")
        if webhook.worker is not None:
            webhook.worker.cancel()
        return ok({"deleted": True, "id": webhook_id})

    # Control API (not Asaas's): faults, the webhook queue, settling, injected events

    def control_account(request: Request) -> Account | None:
        token = request.headers.get("access_token")
        return emulator.account(token) if token else None

    def needs_account() -> JSONResponse:
        return JSONResponse({"error": "send the account's access_token header"}, status_code=400)

    @app.post("/_control/faults")
    async def set_faults(request: Request) -> JSONResponse:
        account = control_account(request)
        fields = await body_of(request)
        if account is None or fields is None:
            return needs_account()
        faults = account.faults
        faults.latency_ms = int(fields.get("latencyMs", faults.latency_ms))
        faults.fail_5xx.update({k: int(v) for k, v in (fields.get("fail5xx") or {}).items()})
        faults.fail_429.update({k: int(v) for k, v in (fields.get("fail429") or {}).items()})
        faults.lose_response.update(
            {k: int(v) for k, v in (fields.get("loseResponse") or {}).items()}
        )
        faults.lose_response_delay_s = float(
            fields.get("loseResponseDelayS", faults.lose_response_delay_s)
        )
        faults.refund_400 = int(fields.get("refund400", faults.refund_400))
        faults.duplicate_webhooks = bool(fields.get("duplicateWebhooks", faults.duplicate_webhooks))
        return ok(plain(faults.__dict__))

    @app.post("/_control/reset")
    async def reset(request: Request) -> JSONResponse:
        account = control_account(request)
        if account is None:
            await emulator.stop()
            emulator.accounts.clear()
            await emulator.start()
        else:
            account.faults = Faults()
        return ok({"reset": True})

    @app.post("/_control/webhooks/pause")
    async def pause(request: Request) -> JSONResponse:
        account = control_account(request)
        if account is None:
            return needs_account()
        account.paused = True
        return ok({"paused": True})

    @app.post("/_control/webhooks/resume")
    async def resume(request: Request) -> JSONResponse:
        account = control_account(request)
        fields = await body_of(request)
        if account is None or fields is None:
            return needs_account()
        emulator.resume(account, str(fields.get("order", "fifo")))
        return ok({"paused": False})

    @app.post("/_control/payments/{payment_id}/receive")
    async def receive(payment_id: str, request: Request) -> JSONResponse:
        """A confirmed card payment is credited (Asaas's RECEIVED, days later in real life)."""
        account = control_account(request)
        if account is None:
            return needs_account()
        payment = account.payments.get(payment_id)
        if payment is None:
            return not_found()
        settle(account, payment, "RECEIVED", "PAYMENT_RECEIVED")
        return ok(payment)

    @app.post("/_control/payments/{payment_id}/events")
    async def inject(payment_id: str, request: Request) -> JSONResponse:
        """Queues any webhook event about a payment (optionally setting its status first)."""
        account = control_account(request)
        fields = await body_of(request)
        if account is None or fields is None:
            return needs_account()
        payment = account.payments.get(payment_id)
        if payment is None:
            return not_found()
        if fields.get("status"):
            payment["status"] = str(fields["status"])
        emulator.emit(account, payment, str(fields["event"]))
        return ok(payment)

    @app.get("/_control/deliveries")
    async def deliveries(request: Request) -> JSONResponse:
        account = control_account(request)
        if account is None:
            return needs_account()
        return ok({"data": account.deliveries})

    @app.get("/_control/refunds")
    async def refund_requests(request: Request) -> JSONResponse:
        """Every refund request the account got, accepted or refused, oldest first."""
        account = control_account(request)
        if account is None:
            return needs_account()
        return ok({"data": account.refund_requests})

    @app.get("/_control/state")
    async def state(request: Request) -> JSONResponse:
        account = control_account(request)
        if account is None:
            return needs_account()
        return ok(
            {
                "customers": len(account.customers),
                "payments": len(account.payments),
                "paused": account.paused,
                "webhooks": [
                    {
                        "id": hook.id,
                        "url": hook.config.get("url"),
                        "interrupted": bool(hook.config.get("interrupted")),
                        "pending": len(hook.queue),
                        "failures": hook.failures,
                    }
                    for hook in account.webhooks.values()
                ],
                "at": datetime.now().isoformat(),
            }
        )

    return app
