"""The payment service's settings, from the environment."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, MultiFernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.auth import AccessSettings
from shared.gateway import GatewaySettings
from shared.retry import Backoff
from shared.settings import ServiceSettings


class EncryptionSettings(BaseSettings):
    """The key that encrypts restaurants' Asaas credentials at rest (a Kubernetes Secret)."""

    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    encryption_key: SecretStr = Field(
        description="PAYMENT_ENCRYPTION_KEY: comma-separated Fernet keys (urlsafe base64 of 32 "
        "bytes); the first encrypts, all decrypt, so a key can be rotated. Required.",
    )

    @field_validator("encryption_key")
    @classmethod
    def _valid_fernet_keys(cls, keys: SecretStr) -> SecretStr:
        parts = [part.strip() for part in keys.get_secret_value().split(",") if part.strip()]
        if not parts:
            raise ValueError("PAYMENT_ENCRYPTION_KEY is empty")
        for position, part in enumerate(parts, start=1):
            try:
                Fernet(part.encode())
            except (ValueError, TypeError):
                # The key itself is never echoed into the error.
                raise ValueError(
                    f"PAYMENT_ENCRYPTION_KEY key #{position} is not a Fernet key (urlsafe "
                    "base64 of 32 bytes; make one with `python -c 'from cryptography.fernet "
                    "import Fernet; print(Fernet.generate_key().decode())'`)"
                ) from None
        return keys

    def cipher(self) -> MultiFernet:
        parts = self.encryption_key.get_secret_value().split(",")
        return MultiFernet([Fernet(part.strip().encode()) for part in parts if part.strip()])


ASAAS_APIS = ("https://api.asaas.com/v3", "https://api-sandbox.asaas.com/v3")
"""Asaas's production and sandbox APIs (its documentation's base URLs)."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class AsaasSettings(BaseSettings):
    """Calls to Asaas and how its webhooks reach this service."""

    model_config = SettingsConfigDict(env_prefix="ASAAS_", extra="ignore")

    timeout_s: float = Field(default=10.0, gt=0, description="ASAAS_TIMEOUT_S: one HTTP call.")
    attempts: int = Field(default=4, ge=1, description="ASAAS_ATTEMPTS: tries of one call.")
    backoff_initial_s: float = Field(default=0.2, gt=0, description="ASAAS_BACKOFF_INITIAL_S.")
    backoff_max_s: float = Field(default=3.0, gt=0, description="ASAAS_BACKOFF_MAX_S.")
    max_elapsed_s: float = Field(
        default=20.0, gt=0, description="ASAAS_MAX_ELAPSED_S: longest time retrying one call."
    )
    base_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(ASAAS_APIS),
        description="ASAAS_BASE_URLS: comma-separated Asaas APIs a restaurant's credentials may "
        "name as their baseUrl (default: Asaas's production and sandbox). https only; plain http "
        "only to a loopback host, for the local emulator.",
    )
    webhook_email: str = Field(
        default="payments-alerts@example.com",
        description="ASAAS_WEBHOOK_EMAIL: where Asaas writes when a webhook queue is paused.",
    )
    webhook_body_limit_bytes: int = Field(
        default=256 * 1024, ge=1024, description="ASAAS_WEBHOOK_BODY_LIMIT_BYTES (413 above)."
    )

    @field_validator("base_urls", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("base_urls")
    @classmethod
    def _https_or_loopback(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parts = urlsplit(url)
            local = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
            if not (parts.scheme == "https" and parts.hostname) and not local:
                raise ValueError(
                    "every ASAAS_BASE_URLS entry must be https:// (http:// only to a loopback "
                    "host, for the local emulator)"
                )
        return [url.rstrip("/") for url in urls]

    @property
    def gateway(self) -> GatewaySettings:
        return GatewaySettings(
            timeout_s=self.timeout_s,
            attempts=self.attempts,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
            max_elapsed_s=self.max_elapsed_s,
        )


class PaymentPolicy(BaseSettings):
    """Charge creation, refund retries, reconciliation, webhook processing, the job runner and
    the money audit of the payment service."""

    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")

    public_base_url: str = Field(
        default="http://127.0.0.1:8082",
        validation_alias="PUBLIC_BASE_URL",
        description="PUBLIC_BASE_URL: where Asaas reaches this service's webhook route.",
    )
    charge_window_s: float = Field(
        default=120.0,
        gt=0,
        description="PAYMENT_CHARGE_WINDOW_S: how long a charge that Asaas cannot take now "
        "(timeouts, 5xx, 429) is tried again before PaymentCreationFailed (retryable); keep it "
        "well within the shortest payment deadline (paymentTimeout), so the customer still has "
        "time to pay another way.",
    )
    charge_backoff_initial_s: float = Field(
        default=1.0, gt=0, description="PAYMENT_CHARGE_BACKOFF_INITIAL_S: first charge retry wait."
    )
    charge_backoff_max_s: float = Field(
        default=15.0, gt=0, description="PAYMENT_CHARGE_BACKOFF_MAX_S: longest charge retry wait."
    )
    refund_retry_window_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="PAYMENT_REFUND_RETRY_WINDOW_S: how long a refund refused for balance (or "
        "unreachable Asaas) is retried before RefundFailed.",
    )
    refund_backoff_initial_s: float = Field(
        default=5.0, gt=0, description="PAYMENT_REFUND_BACKOFF_INITIAL_S: first refund retry wait."
    )
    refund_backoff_max_s: float = Field(
        default=600.0, gt=0, description="PAYMENT_REFUND_BACKOFF_MAX_S: longest refund retry wait."
    )
    reconcile_after_s: float = Field(
        default=600.0,
        gt=0,
        description="PAYMENT_RECONCILE_AFTER_S: an open payment without a webhook for this long "
        "is read back from Asaas.",
    )
    reconcile_max_interval_s: float = Field(
        default=3600.0, gt=0, description="PAYMENT_RECONCILE_MAX_INTERVAL_S: longest gap."
    )
    reconcile_give_up_s: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        description="PAYMENT_RECONCILE_GIVE_UP_S: age after which a payment is no longer read.",
    )
    reconcile_rate_per_s: float = Field(
        default=5.0, gt=0, description="PAYMENT_RECONCILE_RATE_PER_S: Asaas reads per second."
    )
    unmatched_webhook_retry_s: float = Field(
        default=600.0,
        gt=0,
        description="PAYMENT_UNMATCHED_WEBHOOK_RETRY_S: how long a webhook for an unknown "
        "payment is retried (the charge may be saved a moment after Asaas calls).",
    )
    inbox_retention_days: float = Field(
        default=30.0,
        gt=0,
        description="PAYMENT_INBOX_RETENTION_DAYS: how long received webhook events are kept "
        "(their ids answer Asaas's redeliveries as duplicates).",
    )
    job_lease_s: float = Field(
        default=120.0,
        gt=0,
        description="PAYMENT_JOB_LEASE_S: how long a replica's claim on a job holds, and a "
        "webhook event it stored and runs at once stays hidden from the other replicas (then "
        "another replica may run it: the holder is presumed dead).",
    )
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="PAYMENT_POLL_INTERVAL_S: longest nap of the job loops."
    )
    jobs_in_flight: int = Field(
        default=16,
        ge=1,
        description="PAYMENT_JOBS_IN_FLIGHT: jobs of one kind (charges, refunds, webhooks, "
        "reconciliations) a replica runs at once.",
    )
    jobs_per_restaurant: int = Field(
        default=2,
        ge=1,
        description="PAYMENT_JOBS_PER_RESTAURANT: of those, how many may be one restaurant's, so "
        "a restaurant whose Asaas account is slow or failing holds only its own.",
    )
    audit_interval_s: float = Field(
        default=60.0, gt=0, description="PAYMENT_AUDIT_INTERVAL_S: time between money audits."
    )
    audit_pending_max_s: float = Field(
        default=3600.0,
        gt=0,
        description="PAYMENT_AUDIT_PENDING_MAX_S: a charge still PENDING this long after its "
        "creation is reported (its order's payment deadline has long passed) and read back.",
    )
    audit_creating_max_s: float = Field(
        default=600.0,
        gt=0,
        description="PAYMENT_AUDIT_CREATING_MAX_S: a charge still CREATING this long after its "
        "creation began is reported (its job was lost, or it keeps failing) and its job queued "
        "again; keep it above PAYMENT_CHARGE_WINDOW_S.",
    )
    audit_batch: int = Field(
        default=100, ge=1, description="PAYMENT_AUDIT_BATCH: records one audit reads per kind."
    )

    # The waits of work tried again later, on the shared retry curve (`Backoff.delay`); a time
    # window above (or none, for a failing job), not a count of attempts, ends each of them.

    @property
    def charge_backoff(self) -> Backoff:
        """Between the create calls of one charge, and the tries of one deletion."""
        return Backoff(initial=self.charge_backoff_initial_s, maximum=self.charge_backoff_max_s)

    @property
    def refund_backoff(self) -> Backoff:
        """Between the attempts of one refund."""
        return Backoff(initial=self.refund_backoff_initial_s, maximum=self.refund_backoff_max_s)

    @property
    def reconcile_backoff(self) -> Backoff:
        """Between the reads of a quiet open payment, after its first."""
        return Backoff(initial=self.reconcile_after_s, maximum=self.reconcile_max_interval_s)

    @property
    def unmatched_webhook_backoff(self) -> Backoff:
        """Between the looks for the payment of a webhook that matched none yet."""
        return Backoff(initial=0.2, maximum=30.0)

    @property
    def failed_job_backoff(self) -> Backoff:
        """Before a job that raised is run again."""
        return Backoff(initial=self.poll_interval_s, maximum=60.0)


class Settings(ServiceSettings):
    PORT: ClassVar[int] = 8082
    DATABASE: ClassVar[str] = "payment"

    access: AccessSettings = Field(default_factory=AccessSettings)
    encryption: EncryptionSettings = Field(default_factory=EncryptionSettings)
    asaas: AsaasSettings = Field(default_factory=AsaasSettings)
    policy: PaymentPolicy = Field(default_factory=PaymentPolicy)
