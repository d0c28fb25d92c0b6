"""The notifier's settings, from the environment."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.gateway import GatewaySettings
from shared.settings import ServiceSettings


class TwilioSettings(BaseSettings, GatewaySettings):
    """The Twilio account, sender, approved templates and the client's timeouts and retries."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore")

    account_sid: str = Field(
        default="AC00000000000000000000000000000000", description="TWILIO_ACCOUNT_SID."
    )
    auth_token: SecretStr = Field(
        default=SecretStr("local-twilio-token"), description="TWILIO_AUTH_TOKEN (never logged)."
    )
    sender: str = Field(
        default="whatsapp:+5511900000000",
        validation_alias="TWILIO_FROM",
        description="WhatsApp sender (TWILIO_FROM), with or without the `whatsapp:` prefix.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8702",
        description="TWILIO_BASE_URL: the local emulator; https://api.twilio.com in production.",
    )
    content_templates: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="TWILIO_CONTENT_TEMPLATES: JSON map of approved template ContentSids, keyed "
        "`ORDER_STATUS:<status>`, `ORDER_STATUS` (any status) or a notification kind "
        "(`PAYMENT_INSTRUCTIONS`, `PAYMENT_CONFIRMED`, ...). Used outside the 24-hour window.",
    )

    attempts: int = Field(
        default=3,
        ge=1,
        description="TWILIO_ATTEMPTS: tries of a call in place before the message waits for "
        "the retry loop (short: the consumer moves on).",
    )
    max_elapsed_s: float = Field(
        default=5.0,
        gt=0,
        description="TWILIO_MAX_ELAPSED_S: longest time one call is retried in place.",
    )

    @field_validator("sender")
    @classmethod
    def _whatsapp_sender(cls, sender: str) -> str:
        return sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"

    @field_validator("content_templates", mode="before")
    @classmethod
    def _json_map(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    free_form_window_s: float = Field(
        default=24 * 3600 - 600,
        gt=0,
        description="How long after the order was placed a free-form message may be sent; "
        "later ones use the approved template (WhatsApp's 24-hour window, minus a margin).",
    )
    waiting_window_s: float = Field(
        default=6 * 3600,
        gt=0,
        description="How long after its event a message that waits through a Twilio outage "
        "may still be sent; then it is recorded FAILED.",
    )
    retry_initial_s: float = Field(
        default=5.0, gt=0, description="First wait before the retry loop tries a message again."
    )
    retry_max_s: float = Field(
        default=300.0, gt=0, description="Longest wait between the retry loop's tries."
    )
    retry_poll_s: float = Field(
        default=1.0, gt=0, description="How often the retry loop looks for messages due."
    )
    store_config_sync_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="How long a message waits for the store-config copy to catch up with "
        "`stores.config` before it is handled with the copy as it is.",
    )


class Settings(ServiceSettings):
    PORT: ClassVar[int] = 8083
    DATABASE: ClassVar[str] = "notifier"

    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    notifier: NotifierSettings = Field(default_factory=NotifierSettings)
