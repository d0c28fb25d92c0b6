"""Settings building blocks that every service's `Settings` composes (environment variables)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where the broker is and how this service joins it."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated host:port list (KAFKA_BOOTSTRAP_SERVERS).",
    )
    topic_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of the fixed topics this service creates if missing.",
    )
    metadata_max_age_ms: int = Field(
        default=5000, ge=500, description="How often topic metadata (and pattern matches) refresh."
    )


class MongoSettings(BaseSettings):
    """The MongoDB-protocol server and this service's database."""

    model_config = SettingsConfigDict(env_prefix="MONGODB_", extra="ignore")

    uri: SecretStr = Field(
        default=SecretStr("mongodb://127.0.0.1:27017"),
        description="Connection string (MONGODB_URI); secret because it may carry credentials.",
    )
    database: str | None = Field(
        default=None,
        description="Database name (MONGODB_DATABASE); by default the service's own "
        "(orders, payment, notifier, scheduler).",
    )


class HttpSettings(BaseSettings):
    """The service's HTTP listener (health, readiness, metrics and its own routes)."""

    model_config = SettingsConfigDict(env_prefix="HTTP_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Listen address (HTTP_HOST).")
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Listen port (HTTP_PORT); by default the service's own (DESIGN.md section "
        "11: order 8081, payment 8082, notifier 8083, scheduler 8084).",
    )


class AdminSettings(BaseSettings):
    """The bearer token of admin and query routes."""

    model_config = SettingsConfigDict(extra="ignore")

    admin_token: SecretStr = Field(
        default=SecretStr("local-admin-token"), description="Bearer token (ADMIN_TOKEN)."
    )


class ConsumerSettings(BaseSettings):
    """The idempotent consumer's retry and dead-letter policy."""

    model_config = SettingsConfigDict(env_prefix="CONSUMER_", extra="ignore")

    attempts: int = Field(
        default=3,
        ge=1,
        description="Tries of a failing handler before its message is dead-lettered.",
    )
    transient_max_elapsed_s: float = Field(
        default=30.0,
        gt=0,
        description="How long an unreachable dependency is retried before redelivery.",
    )


class OutboxSettings(BaseSettings):
    """The embedded-outbox relay."""

    model_config = SettingsConfigDict(env_prefix="OUTBOX_", extra="ignore")

    sweep_interval_s: float = Field(
        default=2.0, gt=0, description="How often the relay looks for events a crash left behind."
    )
    sweep_grace_s: float = Field(
        default=2.0, ge=0, description="Age an outbox entry must reach before the sweep takes it."
    )
    batch_size: int = Field(default=100, ge=1, description="Documents taken by one sweep.")


class ServiceSettings(BaseModel):
    """A service's `Settings`: groups of the above (and its own), each a field whose type is the
    group (`shared.entrypoint.load_settings` reads them one by one). A service names its own
    listen port and database; the environment overrides both."""

    PORT: ClassVar[int]
    DATABASE: ClassVar[str]

    http: HttpSettings = Field(default_factory=HttpSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)

    @property
    def port(self) -> int:
        return self.http.port or self.PORT

    @property
    def database(self) -> str:
        return self.mongo.database or self.DATABASE


def settings_groups(settings_type: type[BaseModel]) -> dict[str, type[BaseSettings]]:
    """The groups of a `ServiceSettings` by field name; a lone `BaseSettings` is its own group."""
    if issubclass(settings_type, BaseSettings):
        return {"": settings_type}
    groups: dict[str, type[BaseSettings]] = {}
    for name, info in settings_type.model_fields.items():
        group = info.annotation
        if not (isinstance(group, type) and issubclass(group, BaseSettings)):
            raise TypeError(f"{settings_type.__name__}.{name} is not a settings group")
        groups[name] = group
    return groups


def variable_names(group: type[BaseSettings], field: str) -> list[str]:
    """The environment variables (upper case) that `field` of `group` is read from."""
    info = group.model_fields[field]
    # pydantic-settings: an alias is the whole variable name (no prefix).
    if isinstance(info.validation_alias, str):
        names = [info.validation_alias]
    elif isinstance(info.validation_alias, AliasChoices):
        names = [name for name in info.validation_alias.choices if isinstance(name, str)]
    elif info.alias:
        names = [info.alias]
    else:
        names = [str(group.model_config.get("env_prefix") or "") + field]
    return [name.upper() for name in names]
