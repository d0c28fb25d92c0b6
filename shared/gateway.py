"""The one way to call a third-party HTTP API (Asaas, Twilio): timeouts, two error kinds, retries.

Transport failures (network, timeout, 429, 5xx) are retried with the shared backoff; a business
refusal is final and raised at once. Clients translate the provider's error body into these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from pydantic import BaseModel, Field

from shared.retry import Backoff, retry_transient
from shared.tracing import trace_http_client

T = TypeVar("T")


class GatewayError(Exception):
    """A provider's answer, as a clear error: `status`, the provider's `code` and `description`."""

    def __init__(self, provider: str, status: int, code: str, description: str) -> None:
        super().__init__(f"{provider} answered {status} {code}: {description}")
        self.provider = provider
        self.status = status
        self.code = code
        self.description = description


class GatewayRefused(GatewayError):
    """Final: the provider understood and refused (invalid data, declined, not found)."""


class GatewayUnavailable(GatewayError):
    """Transient: the provider is throttling (429) or failing (5xx); worth retrying later."""


def is_transient(error: BaseException) -> bool:
    """True for errors a retry can cure: network trouble, timeouts, 429 and 5xx answers."""
    return isinstance(error, GatewayUnavailable | httpx.TransportError)


def is_transient_status(status: int) -> bool:
    """True for the HTTP statuses that mean "later", never "no": 429 and every 5xx."""
    return status == 429 or status >= 500


class GatewaySettings(BaseModel):
    """Timeouts and retry bounds of one provider's client."""

    timeout_s: float = Field(default=10.0, gt=0, description="Timeout of one HTTP call.")
    attempts: int = Field(default=5, ge=1, description="Tries of a call before giving up.")
    backoff_initial_s: float = Field(default=0.2, gt=0, description="First backoff wait.")
    backoff_max_s: float = Field(default=5.0, gt=0, description="Longest backoff wait.")
    max_elapsed_s: float = Field(default=30.0, gt=0, description="Longest time spent retrying.")

    @property
    def backoff(self) -> Backoff:
        """The shared backoff shaped by these settings."""
        return Backoff(
            attempts=self.attempts,
            initial=self.backoff_initial_s,
            maximum=self.backoff_max_s,
            max_elapsed=self.max_elapsed_s,
        )


def http_client(base_url: str, settings: GatewaySettings, **options: object) -> httpx.AsyncClient:
    """An httpx client with a timeout on every call (connect, read, write, pool), each call a
    span of the trace that made it."""
    return trace_http_client(
        httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(settings.timeout_s),
            **options,  # type: ignore[arg-type]
        )
    )


async def with_retries(call: Callable[[], Awaitable[T]], settings: GatewaySettings) -> T:
    """Runs `call`, retrying transient failures with jittered backoff; the last error propagates."""
    return await retry_transient(call, is_transient=is_transient, backoff=settings.backoff)
