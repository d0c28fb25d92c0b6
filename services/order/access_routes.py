"""The order service's access routes (admin only): mint a restaurant's or a chatbot's token, and
revoke every token of a restaurant (its off-boarding), on `auth.revocations` for every service.

No `from __future__ import annotations` here: FastAPI reads the route signatures at definition.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from services.order.config import TokenSettings
from shared.auth import Access, Caller
from shared.contracts.access import TokensRevoked
from shared.contracts.base import Reason
from shared.http import json_body, request_body, validated
from shared.records import OutgoingRecord, RecordSink
from shared.tokens import Role, TokenSigner
from shared.topics import AUTH_REVOCATIONS

BODY_LIMIT = 4 * 1024
ClientId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,100}$")]


class TokenRequest(BaseModel):
    """Body of `POST /auth/tokens`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    role: Literal["restaurant", "chatbot"]
    client_id: ClientId = Field(alias="clientId")
    ttl_seconds: int | None = Field(default=None, alias="ttlSeconds", ge=1)


class RevocationRequest(BaseModel):
    """Body of `POST /auth/revocations`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    client_id: ClientId = Field(alias="clientId")
    reason: Reason | None = None


class MintedToken(BaseModel):
    """Answer of `POST /auth/tokens`."""

    token: str = Field(description="The bearer token (a secret: give it to its holder only).")
    expires_at: str = Field(alias="expiresAt", description="When it expires (UTC, ISO 8601).")
    token_id: str = Field(alias="tokenId", description="The token's id.")
    role: Literal["restaurant", "chatbot"] = Field(description="Who it is for.")
    client_id: str = Field(alias="clientId", description="The restaurant it acts for.")


class Revoked(BaseModel):
    """Answer of `POST /auth/revocations`."""

    client_id: str = Field(alias="clientId", description="The restaurant whose tokens end.")
    not_before: str = Field(
        alias="notBefore", description="Its tokens issued up to this instant are refused (UTC)."
    )


def access_routes(
    access: Access,
    signer: TokenSigner | None,
    tokens: TokenSettings,
    sink: RecordSink,
    clock: Callable[[], datetime],
) -> APIRouter:
    router = APIRouter()
    Operator = Annotated[Caller, access.allow()]

    @router.post("/auth/tokens", status_code=201, openapi_extra=request_body(TokenRequest))
    async def mint(request: Request, caller: Operator) -> MintedToken:
        """Mints a restaurant's or its chatbot's token (operator only)."""
        asked = validated(TokenRequest, await json_body(request, BODY_LIMIT))
        if signer is None:
            raise HTTPException(503, "this service mints no tokens: AUTH_SIGNING_KEY is not set")
        ttl = asked.ttl_seconds or tokens.default_ttl_s
        if ttl > tokens.max_ttl_s:
            raise HTTPException(
                422, [{"field": "ttlSeconds", "problem": f"at most {tokens.max_ttl_s} seconds"}]
            )
        token, claims = signer.mint(Role(asked.role), asked.client_id, timedelta(seconds=ttl))
        return MintedToken(
            token=token,
            expiresAt=claims.expires_at.isoformat().replace("+00:00", "Z"),
            tokenId=claims.token_id,
            role=asked.role,
            clientId=claims.client_id,
        )

    @router.post(
        "/auth/revocations", status_code=202, openapi_extra=request_body(RevocationRequest)
    )
    async def revoke(request: Request, caller: Operator) -> Revoked:
        """Revokes every token of a restaurant issued until now (operator only)."""
        asked = validated(RevocationRequest, await json_body(request, BODY_LIMIT))
        now = clock().astimezone(UTC)
        event = TokensRevoked(
            event_id=uuid.uuid4(),
            occurred_at=now,
            client_id=asked.client_id,
            not_before=now.replace(microsecond=0),
            reason=asked.reason,
        )
        await sink.send(OutgoingRecord.of(AUTH_REVOCATIONS, event))
        return Revoked(clientId=event.client_id, notBefore=event.to_wire()["notBefore"])

    return router
