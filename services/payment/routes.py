"""The payment service's HTTP routes: restaurant credentials (admin) and Asaas webhooks."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from services.payment.asaas_updates import AsaasUpdateService
from services.payment.metrics import WEBHOOKS_RECEIVED
from services.payment.restaurants import Restaurants
from shared.gateway import GatewayRefused, GatewayUnavailable
from shared.http import bearer_guard

log = logging.getLogger(__name__)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
"""Restaurant ids as Kafka topic names allow them (they name the webhook path too)."""


class AsaasCredentials(BaseModel):
    """Body of `PUT /restaurants/{clientId}/asaas`."""

    model_config = ConfigDict(extra="ignore")

    api_key: SecretStr = Field(alias="apiKey", min_length=1)
    webhook_token: SecretStr = Field(alias="webhookToken", min_length=1)
    base_url: str = Field(alias="baseUrl", pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=300)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def admin_router(restaurants: Restaurants, admin_token: SecretStr) -> APIRouter:
    router = APIRouter(dependencies=[bearer_guard(admin_token)])

    @router.put("/restaurants/{client_id}/asaas")
    async def put_credentials(client_id: str, request: Request) -> JSONResponse:
        if not CLIENT_ID.match(client_id):
            return _error(422, "clientId must be 1-100 letters, digits, '_' or '-'")
        try:
            body = AsaasCredentials.model_validate(json.loads(await request.body()))
        except (ValueError, ValidationError) as error:
            # Field names and messages only: the input (a secret, perhaps) is never echoed.
            problems = (
                [
                    {"field": ".".join(map(str, e["loc"])), "problem": e["msg"]}
                    for e in error.errors()
                ]
                if isinstance(error, ValidationError)
                else [{"field": "", "problem": "body is not JSON"}]
            )
            return _error(422, "invalid credentials body", problems=problems)
        try:
            summary = await restaurants.configure(
                client_id, body.api_key, body.webhook_token, body.base_url
            )
        except GatewayRefused as error:
            return _error(
                400, f"Asaas refused the webhook registration: {error.code}: {error.description}"
            )
        except (GatewayUnavailable, httpx.TransportError) as error:
            return _error(502, f"Asaas could not be reached: {type(error).__name__}")
        return JSONResponse(summary)

    @router.get("/restaurants/{client_id}/asaas")
    async def get_credentials(client_id: str, request: Request) -> JSONResponse:
        summary = await restaurants.summary(client_id)
        if summary is None:
            return JSONResponse({"clientId": client_id, "configured": False}, status_code=404)
        return JSONResponse(summary)

    return router


def webhook_router(
    asaas_updates: AsaasUpdateService, restaurants: Restaurants, body_limit: int
) -> APIRouter:
    router = APIRouter()

    @router.post("/webhooks/asaas/{client_id}")
    async def asaas_webhook(client_id: str, request: Request) -> JSONResponse:
        token = request.headers.get("asaas-access-token")
        if not await restaurants.webhook_token_matches(client_id, token):
            WEBHOOKS_RECEIVED.labels("unknown", "unauthorized").inc()
            log.warning("webhook for %s refused: missing or wrong token", client_id)
            return _error(401, "unauthorized")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > body_limit:
            WEBHOOKS_RECEIVED.labels("unknown", "too_large").inc()
            return _error(413, f"body larger than {body_limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > body_limit:
                WEBHOOKS_RECEIVED.labels("unknown", "too_large").inc()
                return _error(413, f"body larger than {body_limit} bytes")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            WEBHOOKS_RECEIVED.labels("unknown", "malformed").inc()
            return _error(400, "body is not JSON")
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("id"), str)
            or not isinstance(payload.get("event"), str)
            or not payload["id"]
        ):
            WEBHOOKS_RECEIVED.labels("unknown", "malformed").inc()
            return _error(400, "an Asaas event needs a string `id` and `event`")
        outcome = await asaas_updates.receive_webhook(client_id, payload, body.decode())
        return JSONResponse({"received": True, "duplicate": outcome == "duplicate"})

    return router
