"""The payment service's HTTP routes: a restaurant's Asaas credentials (the operator's, or the
restaurant's own), Asaas webhooks (Asaas's token, not a bearer) and the PIX QR images (public:
their unguessable address is the key).

No `from __future__ import annotations` here: FastAPI reads the route signatures at definition.
"""

import logging
import re
from collections.abc import Collection
from typing import Annotated

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from services.payment.asaas_updates import AsaasUpdateService
from services.payment.metrics import WEBHOOKS_RECEIVED
from services.payment.pix_images import PixImages
from services.payment.restaurants import Restaurants
from shared.auth import Access, Caller
from shared.gateway import GatewayRefused, GatewayUnavailable
from shared.http import (
    BodyRefused,
    field_problems,
    parse_json,
    problem,
    read_body,
    request_body,
)
from shared.tokens import Role

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


class AsaasSetup(BaseModel):
    """What may be shown of a restaurant's Asaas setup: never its key nor its webhook token."""

    client_id: str = Field(alias="clientId", description="The restaurant.")
    configured: bool = Field(description="Always true: the credentials are stored.")
    base_url: str = Field(alias="baseUrl", description="The Asaas API it uses.")
    webhook_id: str | None = Field(alias="webhookId", description="Its webhook's id on Asaas.")
    webhook_url: str | None = Field(alias="webhookUrl", description="Where Asaas posts events.")
    updated_at: str = Field(alias="updatedAt", description="When it was last set (UTC).")


class AsaasEvent(BaseModel):
    """An Asaas webhook event as this service reads it: the fields Asaas adds are kept too."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, description="The event's id (duplicates are answered 200).")
    event: str = Field(description="The event's type, e.g. `PAYMENT_CONFIRMED`.")


class WebhookReceipt(BaseModel):
    """Answer of an Asaas webhook: stored, and whether it was stored before."""

    received: bool = Field(description="Always true: the event is stored.")
    duplicate: bool = Field(description="Whether this event id had arrived before.")


def admin_router(restaurants: Restaurants, access: Access, base_urls: Collection[str]) -> APIRouter:
    """The restaurants' Asaas credentials; `base_urls` are the Asaas APIs they may name."""
    router = APIRouter()
    Restaurant = Annotated[Caller, access.allow(Role.RESTAURANT)]

    @router.put(
        "/restaurants/{client_id}/asaas",
        response_model=AsaasSetup,
        openapi_extra=request_body(AsaasCredentials),
    )
    async def put_credentials(client_id: str, request: Request, caller: Restaurant) -> Response:
        """Sets the restaurant's Asaas credentials and registers its webhook on Asaas."""
        caller.require(client_id)
        if not CLIENT_ID.match(client_id):
            return problem(422, "clientId must be 1-100 letters, digits, '_' or '-'")
        try:
            payload = parse_json(await read_body(request, CREDENTIALS_BODY_LIMIT))
            body = AsaasCredentials.model_validate(payload)
        except BodyRefused as refused:
            return problem(refused.status, refused.problem)
        except ValidationError as error:
            # Field names and messages only: the input (a secret, perhaps) is never echoed.
            return problem(422, "invalid credentials body", errors=field_problems(error))
        if body.base_url.rstrip("/") not in base_urls:
            # A restaurant must not point this service's calls (with its API key) elsewhere.
            allowed = ", ".join(sorted(base_urls))
            errors = [{"field": "baseUrl", "problem": f"must be one of: {allowed}"}]
            return problem(422, "invalid credentials body", errors=errors)
        try:
            summary = await restaurants.configure(
                client_id, body.api_key, body.webhook_token, body.base_url
            )
        except GatewayRefused as error:
            return problem(
                400, f"Asaas refused the webhook registration: {error.code}: {error.description}"
            )
        except (GatewayUnavailable, httpx.TransportError) as error:
            return problem(502, f"Asaas could not be reached: {type(error).__name__}")
        return JSONResponse(summary)

    @router.get("/restaurants/{client_id}/asaas", response_model=AsaasSetup)
    async def get_credentials(client_id: str, caller: Restaurant) -> Response:
        """The restaurant's Asaas setup (404 before it is set)."""
        caller.require(client_id)
        summary = await restaurants.summary(client_id)
        if summary is None:
            return problem(404, "no Asaas credentials are configured for this restaurant")
        return JSONResponse(summary)

    return router


ASAAS_TOKEN = {
    "name": "asaas-access-token",
    "in": "header",
    "required": True,
    "description": "The webhook token the restaurant set (compared in constant time).",
    "schema": {"type": "string"},
}


def webhook_router(
    asaas_updates: AsaasUpdateService, restaurants: Restaurants, body_limit: int
) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/webhooks/asaas/{client_id}",
        response_model=WebhookReceipt,
        openapi_extra=request_body(AsaasEvent, parameters=[ASAAS_TOKEN]),
    )
    async def asaas_webhook(client_id: str, request: Request) -> Response:
        """An Asaas event of the restaurant, authenticated by its `asaas-access-token`."""
        token = request.headers.get("asaas-access-token")
        if not await restaurants.webhook_token_matches(client_id, token):
            WEBHOOKS_RECEIVED.labels("unknown", "unauthorized").inc()
            log.warning("webhook for %s refused: missing or wrong token", client_id)
            return problem(401, "missing or wrong asaas-access-token")
        try:
            body = await read_body(request, body_limit)
            payload = parse_json(body)
        except BodyRefused as refused:
            outcome = "too_large" if refused.status == 413 else "malformed"
            WEBHOOKS_RECEIVED.labels("unknown", outcome).inc()
            return problem(refused.status, refused.problem)
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("id"), str)
            or not isinstance(payload.get("event"), str)
            or not payload["id"]
        ):
            WEBHOOKS_RECEIVED.labels("unknown", "malformed").inc()
            return problem(400, "an Asaas event needs a string `id` and `event`")
        outcome = await asaas_updates.receive_webhook(client_id, payload, body.decode())
        return JSONResponse({"received": True, "duplicate": outcome == "duplicate"})

    return router


def pix_image_router(pix_images: PixImages) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/pix/{token}.png",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
        },
    )
    async def pix_image(token: str) -> Response:
        """A PIX QR code as a PNG, until its code expires (404 after)."""
        png = await pix_images.image(token)
        if png is None:
            return problem(404, "no such PIX QR image, or its code expired")
        # Private: a shared cache must not keep a payment's code past its expiry.
        return Response(png, media_type="image/png", headers={"Cache-Control": "private"})

    return router
