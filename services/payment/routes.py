"""The payment service's HTTP routes: restaurant credentials (admin) and Asaas webhooks."""

from __future__ import annotations

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
from shared.http import BodyRefused, bearer_guard, field_problems, parse_json, read_body

log = logging.getLogger(__name__)

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
"""Restaurant ids as Kafka topic names allow them (they name the webhook path too)."""

CREDENTIALS_BODY_LIMIT = 16 * 1024
"""Bytes of a credentials body: an Asaas API key is about 200 characters."""
MAX_SECRET_LENGTH = 1000
"""An Asaas API key or webhook token (about 200 characters; Asaas allows tokens up to 255)."""


class AsaasCredentials(BaseModel):
    """Body of `PUT /restaurants/{clientId}/asaas`."""

    model_config = ConfigDict(extra="ignore")

    api_key: SecretStr = Field(alias="apiKey", min_length=1, max_length=MAX_SECRET_LENGTH)
    webhook_token: SecretStr = Field(
        alias="webhookToken", min_length=1, max_length=MAX_SECRET_LENGTH
    )
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
            payload = parse_json(await read_body(request, CREDENTIALS_BODY_LIMIT))
            body = AsaasCredentials.model_validate(payload)
        except BodyRefused as refused:
            return _error(refused.status, refused.problem)
        except ValidationError as error:
            # Field names and messages only: the input (a secret, perhaps) is never echoed.
            return _error(422, "invalid credentials body", problems=field_problems(error))
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
        try:
            body = await read_body(request, body_limit)
            payload = parse_json(body)
        except BodyRefused as refused:
            outcome = "too_large" if refused.status == 413 else "malformed"
            WEBHOOKS_RECEIVED.labels("unknown", outcome).inc()
            return _error(refused.status, refused.problem)
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
