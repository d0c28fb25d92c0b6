"""Settings building blocks that every service's `Settings` composes (environment variables)."""

from __future__ import annotations

import ssl
from typing import Any, ClassVar, Literal, Self

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
ScramMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]


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
    security_protocol: SecurityProtocol = Field(
        default="PLAINTEXT",
        description="KAFKA_SECURITY_PROTOCOL: PLAINTEXT (the local run), SSL, SASL_PLAINTEXT or "
        "SASL_SSL (production: SCRAM over TLS).",
    )
    sasl_mechanism: ScramMechanism = Field(
        default="SCRAM-SHA-512", description="KAFKA_SASL_MECHANISM, for the SASL_* protocols."
    )
    sasl_username: str = Field(
        default="", max_length=200, description="KAFKA_SASL_USERNAME: this client's identity."
    )
    sasl_password: SecretStr = Field(
        default=SecretStr(""),
        max_length=1000,
        description="KAFKA_SASL_PASSWORD (a secret: never logged).",
    )
    ssl_ca_file: str | None = Field(
        default=None,
        description="KAFKA_SSL_CA_FILE: the CA that signed the brokers' certificates (Strimzi's "
        "cluster CA `ca.crt`); the system's CAs when unset.",
    )
    ssl_cert_file: str | None = Field(
        default=None, description="KAFKA_SSL_CERT_FILE: a client certificate (mutual TLS)."
    )
    ssl_key_file: str | None = Field(
        default=None, description="KAFKA_SSL_KEY_FILE: the client certificate's key."
    )

    @model_validator(mode="after")
    def _complete_security(self) -> Self:
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_username and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL {self.security_protocol} needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD"
            )
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the SSL protocols (None for the plain ones)."""
        if not self.uses_tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.ssl_ca_file, certfile=self.ssl_cert_file, keyfile=self.ssl_key_file
        )
        return context

    def client_options(self) -> dict[str, Any]:
        """What every aiokafka client (consumer, producer, admin) of this service connects with."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            options["ssl_context"] = self.ssl_context()
        if self.security_protocol.startswith("SASL_"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        return options

    def broker_security(self) -> BaseSecurity | None:
        """The same connection in FastStream's terms, for the service's broker."""
        if self.security_protocol.startswith("SASL_"):
            scram = SASLScram512 if self.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
            return scram(
                self.sasl_username,
                self.sasl_password.get_secret_value(),
                ssl_context=self.ssl_context(),
                use_ssl=self.uses_tls,
            )
        if self.uses_tls:
            return BaseSecurity(ssl_context=self.ssl_context(), use_ssl=True)
        return None


KafkaTarget = KafkaSettings | str
"""A broker to connect to: whole settings, or bare bootstrap servers on a plain listener."""


def kafka_from_environment(bootstrap_servers: str | None = None) -> KafkaSettings:
    """A command line's connection: KAFKA_* of the environment (TLS, SASL identity), with the
    bootstrap servers it was given, if any."""
    kafka = KafkaSettings()
    if bootstrap_servers:
        kafka = kafka.model_copy(update={"bootstrap_servers": bootstrap_servers})
    return kafka


def kafka_settings(target: KafkaTarget) -> KafkaSettings:
    """`target` as settings; bare servers take the other settings from the environment."""
    return target if isinstance(target, KafkaSettings) else KafkaSettings(bootstrap_servers=target)


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


class ConsumerSettings(BaseSettings):
    """The idempotent consumer's retry and dead-letter policy, and its parallelism."""

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
    workers: int = Field(
        default=3,
        ge=1,
        le=12,
        description="Kafka consumers each subscription runs in one process, in one group: each "
        "owns some partitions and handles them in order, so up to this many partitions are "
        "handled at once. Replicas times workers above the partitions leaves some idle.",
    )
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=5000,
        description="How long a member's fetch waits at the broker when its partitions have "
        "nothing new. A partition whose messages are being handled is left out of the next "
        "fetch, so its next message can wait this long behind its idle neighbours "
        "(docs/consumers.md, Fetches); shorter costs the broker more empty fetches when idle.",
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


class TracingSettings(BaseSettings):
    """OpenTelemetry traces (the standard OTEL_* variables): off unless an exporter is named."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore")

    traces_exporter: Literal["none", "otlp"] = Field(
        default="none",
        description="OTEL_TRACES_EXPORTER: `otlp` sends spans over OTLP/HTTP; `none` (the "
        "default) records none, while the trace context still passes through.",
    )
    exporter_otlp_endpoint: str = Field(
        default="http://127.0.0.1:4318",
        pattern=r"^https?://",
        description="OTEL_EXPORTER_OTLP_ENDPOINT: the collector's OTLP/HTTP base URL (spans go "
        "to its /v1/traces).",
    )
    traces_sampler_arg: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="OTEL_TRACES_SAMPLER_ARG: the share of new traces recorded; a trace begun "
        "elsewhere follows its sender's decision.",
    )

    @property
    def enabled(self) -> bool:
        return self.traces_exporter == "otlp"


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
    tracing: TracingSettings = Field(default_factory=TracingSettings)

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
