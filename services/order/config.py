"""The order service's settings, from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import (
    AdminSettings,
    ConsumerSettings,
    HttpSettings,
    KafkaSettings,
    MongoSettings,
    OutboxSettings,
    ServiceSettings,
)


class OrderHttp(HttpSettings):
    port: int = Field(default=8081, ge=1, le=65535, description="Listen port (HTTP_PORT).")


class OrderMongo(MongoSettings):
    database: str = Field(default="orders", description="Database name (MONGODB_DATABASE).")


class QuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_QUERY_", extra="ignore")

    default_limit: int = Field(default=20, ge=1, description="Orders per page when none is asked.")
    max_limit: int = Field(default=200, ge=1, description="Most orders one page may hold.")


class Settings(ServiceSettings):
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: OrderMongo = Field(default_factory=OrderMongo)
    http: OrderHttp = Field(default_factory=OrderHttp)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    queries: QuerySettings = Field(default_factory=QuerySettings)
