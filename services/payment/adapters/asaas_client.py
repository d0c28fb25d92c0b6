"""The Asaas API v3 client (DESIGN.md section 6), through the shared gateway.

Every call has a timeout; calls that are safe to repeat (reads, deletes, webhook updates) are
retried on transport errors, 429 and 5xx. Creating a charge or a refund is attempted once per
call: after an unclear failure the caller looks the effect up before trying again, because
Asaas has no idempotency key. Asaas's `{"errors":[{"code","description"}]}` becomes a
`GatewayRefused` (final) or `GatewayUnavailable` (429/5xx) naming its code.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from services.payment.adapters.asaas_requests import (
    charge_fields,
    charge_of,
    customer_fields,
    customer_reference,
    page_instructions,
    pix_instructions,
    refused_for_balance,
)
from services.payment.ports import UNCLEAR_FAILURES, Charge, ChargeRequest, RefusedForBalance
from shared.contracts.payments import PaymentCustomer, PaymentInstructions
from shared.contracts.values import PaymentMethod
from shared.gateway import (
    GatewayRefused,
    GatewaySettings,
    GatewayUnavailable,
    http_client,
    is_transient_status,
    with_retries,
)

log = logging.getLogger(__name__)

PROVIDER = "Asaas"
MAX_DESCRIPTION = 300


def encode_json(value: Any) -> str:
    """JSON text in which a Decimal is written as the exact number it is (Asaas `value`)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not sent to Asaas; use Decimal for money")
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))}:{encode_json(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode_json(item) for item in value) + "]"
    return json.dumps(value)


def api_root(base_url: str) -> str:
    """The `/v3` root of an Asaas base URL given with or without `/v3`."""
    trimmed = base_url.rstrip("/")
    return trimmed if trimmed.endswith("/v3") else f"{trimmed}/v3"


def error_of(response: httpx.Response) -> GatewayRefused | GatewayUnavailable:
    """The clear error of a non-2xx Asaas answer."""
    code, description = f"http_{response.status_code}", response.reason_phrase or "error"
    try:
        errors = response.json().get("errors") or []
        if errors:
            code = str(errors[0].get("code") or code)
            description = "; ".join(str(e.get("description", "")) for e in errors)
    except (ValueError, AttributeError):
        pass
    description = description[:MAX_DESCRIPTION]
    kind = GatewayUnavailable if is_transient_status(response.status_code) else GatewayRefused
    return kind(PROVIDER, response.status_code, code, description)


class AsaasClients:
    """One pooled HTTP client per Asaas base URL; an account binds a restaurant's API key."""

    def __init__(
        self, settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._clients: dict[str, httpx.AsyncClient] = {}

    def account(self, base_url: str, api_key: SecretStr) -> HttpAsaasAccount:
        root = api_root(base_url)
        client = self._clients.get(root)
        if client is None:
            options: dict[str, object] = {"headers": {"User-Agent": "restaurant-orders-payment"}}
            if self._transport is not None:
                options["transport"] = self._transport
            client = self._clients[root] = http_client(root + "/", self.settings, **options)
        return HttpAsaasAccount(client, api_key, self.settings)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


class HttpAsaasAccount:
    """One restaurant's Asaas account (the `AsaasAccount` port) over HTTP, and the webhook
    registration calls of onboarding."""

    def __init__(
        self, client: httpx.AsyncClient, api_key: SecretStr, settings: GatewaySettings
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._settings = settings

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """One attempt; raises GatewayRefused, GatewayUnavailable or httpx.TransportError."""
        headers = {"access_token": self._api_key.get_secret_value(), "Accept": "application/json"}
        content: str | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = encode_json(body)
        response = await self._client.request(
            method, path.lstrip("/"), params=params, content=content, headers=headers
        )
        if response.status_code >= 400:
            error = error_of(response)
            log.info("Asaas %s /%s: %s", method, path.split("/")[0], error)
            raise error
        if not response.content:
            return {}
        return json.loads(response.content, parse_float=Decimal)

    async def _retried(self, method: str, path: str, **options: Any) -> Any:
        return await with_retries(lambda: self.call(method, path, **options), self._settings)

    # Customers

    async def customer_id(self, customer: PaymentCustomer) -> str:
        reference = customer_reference(customer)

        async def get_or_create() -> str:
            # A lost answer to a create is found by the next attempt's look-up.
            params = {"externalReference": reference, "limit": "1"}
            existing = (await self.call("GET", "customers", params=params)).get("data") or []
            if existing:
                return str(existing[0]["id"])
            created = await self.call("POST", "customers", body=customer_fields(customer))
            return str(created["id"])

        return await with_retries(get_or_create, self._settings)

    # Charges

    async def create_charge(self, request: ChargeRequest) -> Charge:
        return charge_of(await self.call("POST", "payments", body=charge_fields(request)))

    async def charges_of_reference(self, reference: str) -> list[Charge]:
        found = await self._retried("GET", "payments", params={"externalReference": reference})
        return [charge_of(item) for item in found.get("data") or [] if not item.get("deleted")]

    async def charge(self, charge_id: str) -> Charge:
        return charge_of(await self._retried("GET", f"payments/{charge_id}"))

    async def instructions(
        self, charge: Charge, method: PaymentMethod, time_zone: str
    ) -> PaymentInstructions:
        if method is not PaymentMethod.PIX:
            return page_instructions(charge, time_zone)
        try:
            qr_code = await self._retried("GET", f"payments/{charge.charge_id}/pixQrCode")
        except (GatewayRefused, *UNCLEAR_FAILURES) as error:
            # The hosted page shows the PIX code too: the customer can still pay.
            log.warning(
                "PIX code of %s unavailable (%s); sending the page", charge.charge_id, error
            )
            return page_instructions(charge, time_zone)
        return pix_instructions(qr_code, charge, time_zone)

    async def refund(self, charge_id: str) -> None:
        try:
            await self.call("POST", f"payments/{charge_id}/refund", body={})
        except GatewayRefused as error:
            if refused_for_balance(error):
                raise RefusedForBalance(
                    error.provider, error.status, error.code, error.description
                ) from None
            raise

    async def delete_charge(self, charge_id: str) -> None:
        await self._retried("DELETE", f"payments/{charge_id}")

    # Webhooks

    async def list_webhooks(self) -> list[dict[str, Any]]:
        found = await self._retried("GET", "webhooks")
        return [dict(item) for item in found.get("data") or []]

    async def create_webhook(self, fields: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.call("POST", "webhooks", body=fields))

    async def update_webhook(self, webhook_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._retried("PUT", f"webhooks/{webhook_id}", body=fields))
