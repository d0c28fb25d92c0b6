"""The order service's settings, from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import AdminSettings, ServiceSettings


class QuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_QUERY_", extra="ignore")

    default_limit: int = Field(default=20, ge=1, description="Orders per page when none is asked.")
    max_limit: int = Field(default=200, ge=1, description="Most orders one page may hold.")


class Settings(ServiceSettings):
    PORT: ClassVar[int] = 8081
    DATABASE: ClassVar[str] = "orders"

    admin: AdminSettings = Field(default_factory=AdminSettings)
    queries: QuerySettings = Field(default_factory=QuerySettings)
