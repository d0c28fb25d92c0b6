"""The scheduler's settings, from the environment."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, model_validator
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
    reconcile_every_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between reads of a replica's partitions for timers a rebalance hid "
        "(shorter than the tombstone grace).",
    )

    @model_validator(mode="after")
    def _reconciles_within_the_grace(self) -> Self:
        if self.reconcile_every_s >= self.tombstone_grace_s:
            raise ValueError(
                "SCHEDULER_RECONCILE_EVERY_S must be below SCHEDULER_TOMBSTONE_GRACE_S"
            )
        return self


class Settings(ServiceSettings):
    PORT: ClassVar[int] = 8084
    DATABASE: ClassVar[str] = "scheduler"

    firing: FiringSettings = Field(default_factory=FiringSettings)
