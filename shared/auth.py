"""Who may call a route: the operator's ADMIN_TOKEN or a signed token of one restaurant, checked
by each service on its own (signature, expiry, the restaurant's revocations), and the route's
scope (a token of another restaurant gets 403, another restaurant's order 404).

Routes take a `Caller` from `access.allow(<roles>)` (admin always passes) and call
`caller.require(client_id)` for a clientId they name; list queries filter by `caller.scope`.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.consumer import ReceivedRecord, Subscription
from shared.contracts.access import TokensRevoked
from shared.contracts.registry import decode_as
from shared.mongo import Database
from shared.tokens import (
    InvalidToken,
    Role,
    TokenVerifier,
    load_public_keys,
)
from shared.topics import AUTH_REVOCATIONS

log = logging.getLogger(__name__)

LOCAL_ADMIN_TOKEN = "local-admin-token"  # noqa: S105 (the documented local default, refused elsewhere)
REALM = 'Bearer realm="restaurant-orders"'
INVALID = 'Bearer realm="restaurant-orders", error="invalid_token"'
REVOCATIONS = "token_revocations"


class AccessSettings(BaseSettings):
    """The operator's token, the keys that verify minted tokens, and whether this is the local
    system (where the documented default token is allowed)."""

    model_config = SettingsConfigDict(extra="ignore")

    local_run: bool = Field(
        default=False,
        description="LOCAL_RUN: true only in the local run and the tests; a service started "
        "with the local default ADMIN_TOKEN refuses to start without it.",
    )
    admin_token: SecretStr = Field(
        default=SecretStr(LOCAL_ADMIN_TOKEN),
        min_length=1,
        max_length=1000,
        description="ADMIN_TOKEN: the operator's bearer token (admin role).",
    )
    auth_public_keys: str = Field(
        default="",
        description="AUTH_PUBLIC_KEYS: PEM Ed25519 public key(s) that verify minted tokens (the "
        "current one and, while rotating, the previous one); none: only ADMIN_TOKEN opens.",
    )

    @field_validator("admin_token")
    @classmethod
    def _no_local_default_outside(cls, token: SecretStr, info: ValidationInfo) -> SecretStr:
        if token.get_secret_value() == LOCAL_ADMIN_TOKEN and not info.data.get("local_run"):
            raise ValueError(
                "is the local default, which only the local system accepts (LOCAL_RUN=true); "
                "set a secret token"
            )
        return token

    @field_validator("auth_public_keys")
    @classmethod
    def _readable_keys(cls, pems: str) -> str:
        load_public_keys(pems)
        return pems

    def verifier(self, *also_trusted: Any) -> TokenVerifier:
        """Verifies with AUTH_PUBLIC_KEYS and `also_trusted` keys (the order service's own)."""
        return TokenVerifier([*load_public_keys(self.auth_public_keys), *also_trusted])


@dataclass(frozen=True)
class Caller:
    """Who is calling: the operator, or one restaurant's restaurant or chatbot."""

    role: Role
    client_id: str | None = None

    @property
    def scope(self) -> str | None:
        """The only restaurant this caller may see (None: every one, the operator)."""
        return None if self.role is Role.ADMIN else self.client_id

    def acts_for(self, client_id: str) -> bool:
        return self.role is Role.ADMIN or self.client_id == client_id

    def require(self, client_id: str) -> None:
        """403 unless this caller may act for `client_id`."""
        if not self.acts_for(client_id):
            raise HTTPException(403, "this token is for another restaurant")


class Revocations(Protocol):
    """Per restaurant, the instant up to which its tokens are revoked."""

    async def not_before(self, client_id: str) -> datetime | None: ...

    async def revoke(self, client_id: str, not_before: datetime) -> None:
        """Keeps the later of the known and the given instant (revocations only grow)."""
        ...


class MongoRevocations:
    """Revocations in the service's own database, one document per restaurant."""

    def __init__(self, database: Database) -> None:
        self._collection = database[REVOCATIONS]

    async def not_before(self, client_id: str) -> datetime | None:
        found = await self._collection.find_one({"_id": client_id})
        return None if found is None else found["notBefore"]

    async def revoke(self, client_id: str, not_before: datetime) -> None:
        await self._collection.update_one(
            {"_id": client_id}, {"$max": {"notBefore": not_before}}, upsert=True
        )


class InMemoryRevocations:
    """The in-memory twin, for unit and component tests."""

    def __init__(self) -> None:
        self.revoked: dict[str, datetime] = {}

    async def not_before(self, client_id: str) -> datetime | None:
        return self.revoked.get(client_id)

    async def revoke(self, client_id: str, not_before: datetime) -> None:
        self.revoked[client_id] = max(not_before, self.revoked.get(client_id, not_before))


def revocations_subscription(service: str, revocations: Revocations) -> Subscription[TokensRevoked]:
    """What a service that checks tokens consumes: `auth.revocations`, into its own store."""

    async def handle(event: TokensRevoked, received: ReceivedRecord) -> None:
        await revocations.revoke(event.client_id, event.not_before)
        log.info("tokens of %s issued up to %s are revoked", event.client_id, event.not_before)

    return Subscription(
        f"{service}-revocations",
        lambda value: decode_as(value, TokensRevoked),
        handle,
        topics=(AUTH_REVOCATIONS,),
    )


_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class Access:
    """Turns a request's bearer token into a `Caller`, or refuses it (401, or 403 by role)."""

    def __init__(
        self, admin_token: SecretStr, verifier: TokenVerifier, revocations: Revocations
    ) -> None:
        self._admin = admin_token.get_secret_value().encode()
        self._verifier = verifier
        self._revocations = revocations

    async def caller(self, token: str | None) -> Caller:
        """The caller the token names; HTTPException(401) for none, a bad one or a revoked one.
        The token itself is never in the answer nor in the log."""
        if not token:
            raise HTTPException(
                401, "a bearer token is required", headers={"WWW-Authenticate": REALM}
            )
        if hmac.compare_digest(token.encode(), self._admin):
            return Caller(Role.ADMIN)
        try:
            claims = self._verifier.verify(token)
        except InvalidToken as error:
            raise HTTPException(401, str(error), headers={"WWW-Authenticate": INVALID}) from None
        revoked_up_to = await self._revocations.not_before(claims.client_id)
        if revoked_up_to is not None and claims.issued_at <= revoked_up_to:
            raise HTTPException(
                401, "the bearer token was revoked", headers={"WWW-Authenticate": INVALID}
            )
        return Caller(claims.role, claims.client_id)

    def allow(self, *roles: Role) -> Any:
        """A route dependency giving the `Caller`: the operator, or a token of one of `roles`
        (403 for another role)."""
        allowed = {Role.ADMIN, *roles}

        async def caller_of(credentials: Credentials) -> Caller:
            caller = await self.caller(credentials.credentials if credentials else None)
            if caller.role not in allowed:
                raise HTTPException(403, f"a {caller.role} token may not do this")
            return caller

        return Depends(caller_of)
