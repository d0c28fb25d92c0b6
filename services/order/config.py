"""The order service's settings, from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import AccessSettings
from shared.settings import ServiceSettings
from shared.tokens import load_signing_key


class QuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_QUERY_", extra="ignore")

    default_limit: int = Field(default=20, ge=1, description="Orders per page when none is asked.")
    max_limit: int = Field(default=200, ge=1, description="Most orders one page may hold.")


class StoreConfigSettings(BaseSettings):
    """How long a replica's decisions may follow a store configuration it read."""

    model_config = SettingsConfigDict(env_prefix="ORDER_STORE_CONFIG_", extra="ignore")

    max_age_s: float = Field(
        default=5.0,
        ge=0,
        description="ORDER_STORE_CONFIG_MAX_AGE_S: how long a store configuration read from the "
        "database is reused for orders (its writer's own change applies at once; another "
        "replica's within this); 0 reads it for every order.",
    )


class AuditSettings(BaseSettings):
    """The money audit of orders (docs/operations.md, "Money audit")."""

    model_config = SettingsConfigDict(env_prefix="ORDER_AUDIT_", extra="ignore")

    interval_s: float = Field(
        default=60.0, gt=0, description="ORDER_AUDIT_INTERVAL_S: time between money audits."
    )
    grace_s: float = Field(
        default=300.0,
        gt=0,
        description="ORDER_AUDIT_GRACE_S: how long an order may stay cancelled but paid, or paid "
        "but not released to its POS, since its last change before it is reported.",
    )
    refund_ask_again_s: float = Field(
        default=900.0,
        gt=0,
        description="ORDER_AUDIT_REFUND_ASK_AGAIN_S: how long a refund the order asked for may "
        "go unanswered by the payment service before it is asked again (and between asks).",
    )
    refund_answer_max_s: float = Field(
        default=7 * 3600.0,
        gt=0,
        description="ORDER_AUDIT_REFUND_ANSWER_MAX_S: how long after the order first asked a "
        "refund still unanswered is reported (above PAYMENT_REFUND_RETRY_WINDOW_S, by when the "
        "payment service answers at the latest).",
    )
    batch: int = Field(
        default=100, ge=1, description="ORDER_AUDIT_BATCH: orders one audit reads per kind."
    )


class TokenSettings(BaseSettings):
    """The key `POST /auth/tokens` signs with, and how long the tokens it mints live."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    signing_key: SecretStr | None = Field(
        default=None,
        description="AUTH_SIGNING_KEY: the Ed25519 private key (PEM, PKCS#8) that signs minted "
        "tokens; its public key goes to every service's AUTH_PUBLIC_KEYS. Unset: no minting.",
    )
    default_ttl_s: int = Field(
        default=24 * 3600, ge=1, description="AUTH_DEFAULT_TTL_S: a token's life unless asked."
    )
    max_ttl_s: int = Field(
        default=90 * 24 * 3600, ge=1, description="AUTH_MAX_TTL_S: the longest life one may ask."
    )

    @field_validator("signing_key")
    @classmethod
    def _ed25519(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            load_signing_key(key.get_secret_value())
        return key


class Settings(ServiceSettings):
    PORT: ClassVar[int] = 8081
    DATABASE: ClassVar[str] = "orders"

    access: AccessSettings = Field(default_factory=AccessSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    queries: QuerySettings = Field(default_factory=QuerySettings)
    store_configs: StoreConfigSettings = Field(default_factory=StoreConfigSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
