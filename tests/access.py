"""Tokens for tests: one signing key for the test session, tokens signed with it as the order
service signs them (or expired, or by a stranger's key), and the routes' bearer checks on an
in-memory revocation store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from shared.auth import Access, InMemoryRevocations
from shared.tokens import (
    Role,
    TokenSigner,
    TokenVerifier,
    generate_signing_key,
    load_signing_key,
    public_pem,
)

SIGNING_KEY = generate_signing_key()
PUBLIC_KEYS = public_pem(load_signing_key(SIGNING_KEY))
TOKEN_ENV = {"AUTH_SIGNING_KEY": SIGNING_KEY, "AUTH_PUBLIC_KEYS": PUBLIC_KEYS}
"""What a service process needs to mint (order) and verify (every service) the tests' tokens."""


def mint(
    role: Role,
    client_id: str,
    *,
    ttl: timedelta = timedelta(hours=1),
    issued_at: datetime | None = None,
    key: str = SIGNING_KEY,
) -> str:
    """A token of `role` for `client_id`, signed with the session's key (or `key`)."""
    moment = issued_at or datetime.now(UTC)
    token, _ = TokenSigner(load_signing_key(key), lambda: moment).mint(role, client_id, ttl)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def in_memory_access(admin_token: str) -> tuple[Access, InMemoryRevocations]:
    """The bearer checks a service makes, trusting the session's key, revocations in memory."""
    revocations = InMemoryRevocations()
    verifier = TokenVerifier([load_signing_key(SIGNING_KEY).public_key()])
    return Access(SecretStr(admin_token), verifier, revocations), revocations
