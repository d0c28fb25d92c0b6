"""The scheduler's settings, from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import (
    ConsumerSettings,
    HttpSettings,
    KafkaSettings,
    MongoSettings,
    ServiceSettings,
)


class SchedulerHttp(HttpSettings):
    port: int = Field(default=8084, ge=1, le=65535, description="Listen port (HTTP_PORT).")


class SchedulerMongo(MongoSettings):
    database: str = Field(default="scheduler", description="Database name (MONGODB_DATABASE).")


class FiringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", extra="ignore")

    lease_s: float = Field(
        default=10.0, gt=0, description="Seconds a claim holds before another replica re-fires."
    )
    batch_size: int = Field(default=500, ge=1, description="Timers claimed per tick at most.")
    max_sleep_s: float = Field(default=0.5, gt=0, description="Longest nap between ticks.")
    maintain_every_s: float = Field(
        default=5.0, gt=0, description="Seconds between compactions of fired timers."
    )
    tombstone_grace_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a fired or cancelled timer is remembered before compaction "
        "(longer than any lease).",
    )


class Settings(ServiceSettings):
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mongo: SchedulerMongo = Field(default_factory=SchedulerMongo)
    http: SchedulerHttp = Field(default_factory=SchedulerHttp)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    firing: FiringSettings = Field(default_factory=FiringSettings)
