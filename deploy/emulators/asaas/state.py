"""The Asaas emulator's state, in memory: accounts (one per API key), faults, webhook queues."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx

log = logging.getLogger(__name__)

BRAZIL = ZoneInfo("America/Sao_Paulo")
ID_SEGMENT = re.compile(r"/(pay|cus|evt)_[A-Za-z0-9]+|/[0-9a-f]{8}-[0-9a-f-]{27}")


def plain(value: Any) -> Any:
    """JSON-ready: Decimal amounts become numbers, as Asaas writes them."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def route_of(method: str, path: str) -> str:
    """`POST /v3/payments/pay_x/refund` -> `POST /v3/payments/{id}/refund` (fault matching)."""
    return f"{method.upper()} {ID_SEGMENT.sub('/{id}', path)}"


def local_now() -> datetime:
    return datetime.now(BRAZIL)


def asaas_datetime(moment: datetime) -> str:
    return moment.astimezone(BRAZIL).strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Faults:
    """Injected trouble, per account: counts run down as requests hit them."""

    latency_ms: int = 0
    fail_5xx: dict[str, int] = field(default_factory=dict)
    """route (`POST /v3/payments`, or `*` for any) -> how many requests answer 500 unhandled."""
    fail_429: dict[str, int] = field(default_factory=dict)
    lose_response: dict[str, int] = field(default_factory=dict)
    """route -> how many requests are carried out and then answered 500 (the answer is lost)."""
    lose_response_delay_s: float = 0.0
    """Wait after carrying out a lost-response request (beyond the client's timeout: a drop)."""
    refund_400: int = 0
    duplicate_webhooks: bool = False

    @staticmethod
    def take(counts: dict[str, int], route: str) -> bool:
        for key in (route, "*"):
            if counts.get(key, 0) > 0:
                counts[key] -= 1
                return True
        return False


@dataclass
class Webhook:
    id: str
    config: dict[str, Any]
    queue: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    worker: asyncio.Task[None] | None = None

    def public(self) -> dict[str, Any]:
        shown = {k: v for k, v in self.config.items() if k != "authToken"}
        return {"object": "webhook", "id": self.id, **shown, "hasAuthToken": bool(self.token)}

    @property
    def token(self) -> str | None:
        value = self.config.get("authToken")
        return str(value) if value else None


@dataclass
class Account:
    name: str
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, Webhook] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    paused: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    refund_requests: list[dict[str, Any]] = field(default_factory=list)
    """Every `POST /v3/payments/{id}/refund` the account got, with the status it was answered."""


@dataclass
class EmulatorSettings:
    public_url: str = "http://127.0.0.1:8701"
    webhook_retry_s: float = 1.0
    webhook_max_failures: int = 15
    webhook_timeout_s: float = 10.0
    refund_delay_s: float = 0.5


class Emulator:
    """Every account, and the webhook workers that deliver their events."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.accounts: dict[str, Account] = {}
        self.http: httpx.AsyncClient | None = None
        self._timers: set[asyncio.Task[None]] = set()

    def account(self, token: str) -> Account:
        found = self.accounts.get(token)
        if found is None:
            found = self.accounts[token] = Account(name=f"acct_{len(self.accounts) + 1}")
        return found

    async def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=self.settings.webhook_timeout_s)

    async def stop(self) -> None:
        for account in self.accounts.values():
            for webhook in account.webhooks.values():
                if webhook.worker is not None:
                    webhook.worker.cancel()
        for timer in self._timers:
            timer.cancel()
        if self.http is not None:
            await self.http.aclose()

    def later(self, delay_s: float, action: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(delay_s)
            action()

        task = asyncio.create_task(run())
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    # Webhook events

    def emit(self, account: Account, payment: dict[str, Any], event: str) -> None:
        """Queues `event` about `payment` on every webhook of the account that wants it."""
        body = {
            "id": f"evt_{uuid.uuid4().hex}",
            "event": event,
            "dateCreated": asaas_datetime(local_now()),
            "payment": dict(payment),
        }
        for webhook in account.webhooks.values():
            wanted = webhook.config.get("events") or []
            if not webhook.config.get("enabled", True) or (wanted and event not in wanted):
                continue
            webhook.queue.append(body)
            if account.faults.duplicate_webhooks:
                webhook.queue.append(body)
            self.wake(account, webhook)

    def wake(self, account: Account, webhook: Webhook) -> None:
        if webhook.worker is None or webhook.worker.done():
            webhook.worker = asyncio.create_task(self._deliver(account, webhook))

    def resume(self, account: Account, order: str) -> None:
        account.paused = False
        for webhook in account.webhooks.values():
            if order == "reverse":
                webhook.queue.reverse()
            self.wake(account, webhook)

    async def _deliver(self, account: Account, webhook: Webhook) -> None:
        try:
            await self._deliver_queue(account, webhook)
        except Exception:
            log.exception("webhook %s worker failed", webhook.id)

    async def _deliver_queue(self, account: Account, webhook: Webhook) -> None:
        """Sends the queue in order (SEQUENTIALLY): only a 200 moves on; after too many
        consecutive failures the queue is interrupted, as Asaas does."""
        assert self.http is not None
        while webhook.queue and not account.paused and not webhook.config.get("interrupted"):
            body = webhook.queue[0]
            headers = {"Content-Type": "application/json"}
            if webhook.token:
                headers["asaas-access-token"] = webhook.token
            try:
                response = await self.http.post(
                    str(webhook.config["url"]), content=json.dumps(plain(body)), headers=headers
                )
                status = response.status_code
            except httpx.HTTPError as error:
                status = 0
                log.info("webhook %s delivery failed: %s", webhook.id, type(error).__name__)
            account.deliveries.append(
                {
                    "webhookId": webhook.id,
                    "eventId": body["id"],
                    "event": body["event"],
                    "paymentId": body["payment"].get("id"),
                    "status": status,
                    "at": asaas_datetime(local_now()),
                }
            )
            if status == 200:
                webhook.queue.pop(0)
                webhook.failures = 0
                continue
            webhook.failures += 1
            if webhook.failures >= self.settings.webhook_max_failures:
                webhook.config["interrupted"] = True
                log.warning(
                    "webhook %s interrupted after %d failures", webhook.id, webhook.failures
                )
                return
            await asyncio.sleep(self.settings.webhook_retry_s)

    # Objects

    def new_payment(
        self, customer: str, fields: dict[str, Any], value: Decimal, due: str
    ) -> dict[str, Any]:
        payment_id = f"pay_{secrets.token_hex(8)}"
        return {
            "object": "payment",
            "id": payment_id,
            "dateCreated": local_now().date().isoformat(),
            "customer": customer,
            "paymentLink": None,
            "value": value,
            "netValue": (value * Decimal("0.9901")).quantize(Decimal("0.01")),
            "originalValue": None,
            "interestValue": None,
            "description": fields.get("description"),
            "billingType": fields["billingType"],
            "pixTransaction": None,
            "status": "PENDING",
            "dueDate": due,
            "originalDueDate": due,
            "paymentDate": None,
            "clientPaymentDate": None,
            "installmentNumber": None,
            "invoiceUrl": f"{self.settings.public_url}/i/{payment_id[4:]}",
            "invoiceNumber": f"{secrets.randbelow(10**8):08d}",
            "externalReference": fields.get("externalReference"),
            "deleted": False,
            "anticipated": False,
            "anticipable": False,
            "confirmedDate": None,
            "creditDate": None,
            "estimatedCreditDate": None,
            "transactionReceiptUrl": None,
            "nossoNumero": None,
            "bankSlipUrl": None,
            "refunds": None,
        }

    def pix_qr_code(self, payment: dict[str, Any]) -> dict[str, Any]:
        expires = local_now() + timedelta(hours=1)
        payload = (
            "00020101021226820014br.gov.bcb.pix2560qrpix-h.bradesco.com.br/9d36b84f-c70b-478f-"
            f"b95c-12729b90ca25{payment['id']}5204000053039865802BR5905ASAAS6009SAO PAULO6304ABCD"
        )
        return {
            "encodedImage": TINY_PNG,
            "payload": payload,
            "expirationDate": asaas_datetime(expires),
            "success": True,
        }


TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kg"
    "AAAABJRU5ErkJggg=="
)
"""A 1x1 PNG, base64, as Asaas's `encodedImage` (no `data:` prefix)."""
