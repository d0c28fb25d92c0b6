"""Signed, expiring access tokens: JWTs signed with Ed25519 (EdDSA) by the order service, verified
by every service with the public key alone (no shared secret)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ISSUER = "restaurant-orders"
AUDIENCE = "restaurant-orders"
ALGORITHM = "EdDSA"
LEEWAY_S = 5
"""Clock skew allowed between the service that minted a token and the one reading it."""

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----", re.DOTALL)


class Role(StrEnum):
    """Who holds a token (DESIGN.md section 11, Access)."""

    ADMIN = "admin"
    """The operator: everything (the ADMIN_TOKEN; never minted)."""
    RESTAURANT = "restaurant"
    """One clientId: its stores' configuration and orders, its own Asaas credentials."""
    CHATBOT = "chatbot"
    """One clientId: reads its orders."""


MINTED_ROLES = (Role.RESTAURANT, Role.CHATBOT)


class InvalidToken(Exception):
    """A token that does not open anything; the message says why and never quotes the token."""


@dataclass(frozen=True)
class Claims:
    """What a valid token says."""

    role: Role
    client_id: str
    token_id: str
    issued_at: datetime
    expires_at: datetime


def generate_signing_key() -> str:
    """A new Ed25519 private key as PEM (PKCS#8), for AUTH_SIGNING_KEY."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def load_signing_key(pem: str) -> Ed25519PrivateKey:
    """The private key of AUTH_SIGNING_KEY; ValueError (naming no part of it) if not Ed25519."""
    try:
        key = serialization.load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not a PEM private key (PKCS#8, unencrypted)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 key")
    return key


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The PEM of a public key (of a private key's pair), for AUTH_PUBLIC_KEYS."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_keys(pems: str) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key of AUTH_PUBLIC_KEYS (PEM blocks one after the other: the current
    key and, during a rotation, the previous one)."""
    keys = []
    for position, block in enumerate(_PEM_BLOCK.finditer(pems), start=1):
        try:
            key = serialization.load_pem_public_key(block.group(0).encode())
        except (ValueError, TypeError):
            raise ValueError(f"key #{position} is not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"key #{position} is not an Ed25519 key")
        keys.append(key)
    if pems.strip() and not keys:
        raise ValueError("holds no PEM public key block")
    return keys


def key_id(key: Ed25519PublicKey) -> str:
    """The `kid` of a public key: the start of the SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class TokenSigner:
    """Mints tokens with the order service's private key."""

    def __init__(self, key: Ed25519PrivateKey, clock: Callable[[], datetime]) -> None:
        self._key = key
        self._kid = key_id(key.public_key())
        self._clock = clock

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def mint(self, role: Role, client_id: str, ttl: timedelta) -> tuple[str, Claims]:
        """A token for `role` of `client_id`, valid for `ttl` from now."""
        if role not in MINTED_ROLES:
            raise ValueError(f"tokens are minted for {', '.join(MINTED_ROLES)} only")
        issued = self._clock().astimezone(UTC).replace(microsecond=0)
        claims = Claims(role, client_id, uuid.uuid4().hex, issued, issued + ttl)
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": client_id,
            "role": role.value,
            "jti": claims.token_id,
            "iat": int(issued.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        token = jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self._kid})
        return token, claims


class TokenVerifier:
    """Checks a token's signature (by its `kid`), issuer, audience, expiry and role."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self._keys: Mapping[str, Ed25519PublicKey] = {key_id(key): key for key in keys}

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("the bearer token is not a token of this system") from None
        key = self._keys.get(str(header.get("kid")))
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidToken("the bearer token is not signed by a key this service trusts")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the bearer token has expired") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("the bearer token is not valid") from None
        try:
            role = Role(str(payload.get("role")))
        except ValueError:
            raise InvalidToken("the bearer token names no known role") from None
        if role not in MINTED_ROLES or not isinstance(payload["sub"], str):
            raise InvalidToken("the bearer token names no known role")
        return Claims(
            role=role,
            client_id=payload["sub"],
            token_id=str(payload["jti"]),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
