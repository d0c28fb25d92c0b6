"""The panel's settings, from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import AccessSettings
from shared.settings import ServiceSettings


class PanelSettings(BaseSettings):
    """Where the order service answers, and how the browser's session and live feed behave."""

    model_config = SettingsConfigDict(env_prefix="PANEL_", extra="ignore")

    order_url: str = Field(
        default="http://127.0.0.1:8081",
        description="PANEL_ORDER_URL: the order service, whose queries and store configuration "
        "the panel uses with the signed-in restaurant's token.",
    )
    secure_cookie: bool = Field(
        default=False,
        description="PANEL_SECURE_COOKIE: mark the session cookie Secure even when the request "
        "reached the panel over plain HTTP (behind a TLS-terminating gateway).",
    )
    stream_max_s: float = Field(
        default=20.0,
        gt=0,
        description="PANEL_STREAM_MAX_S: how long one live-feed connection lasts before the "
        "browser reconnects and reloads the board (a shutdown waits at most this long).",
    )
    action_wait_s: float = Field(
        default=3.0,
        gt=0,
        description="PANEL_ACTION_WAIT_S: how long a button waits for the order service to take "
        "or refuse the update before the board is shown again.",
    )
    feed_linger_s: float = Field(
        default=60.0,
        ge=0,
        description="PANEL_FEED_LINGER_S: how long a store's topic reader stays open after its "
        "last viewer left (a reconnecting page finds it positioned).",
    )


class Settings(ServiceSettings):
    PORT: ClassVar[int] = 8085
    DATABASE: ClassVar[str] = "panel"

    access: AccessSettings = Field(default_factory=AccessSettings)
    panel: PanelSettings = Field(default_factory=PanelSettings)
