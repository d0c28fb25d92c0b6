"""The scheduler's settings, from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ServiceSettings


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
    PORT: ClassVar[int] = 8084
    DATABASE: ClassVar[str] = "scheduler"

    firing: FiringSettings = Field(default_factory=FiringSettings)
