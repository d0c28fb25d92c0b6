"""The one retry policy: jittered exponential backoff on transient errors only, bounded."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """How long and how often to retry: full-jitter exponential waits, capped in count and time."""

    attempts: int = 5
    initial: float = 0.2
    maximum: float = 5.0
    max_elapsed: float = 60.0

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (0 for the first) of work that is retried
        later rather than in place (a job due again, a refund tried again): the same
        full-jitter exponential curve as `retry_transient`'s waits, capped at `maximum`."""
        ceiling = min(self.maximum, self.initial * 2 ** min(max(0, retry), 32))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not crypto


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    is_transient: Callable[[BaseException], bool],
    backoff: Backoff = Backoff(),
) -> T:
    """Runs `call`, retrying it while it raises a transient error; the last error propagates."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient),
        wait=wait_random_exponential(multiplier=backoff.initial, max=backoff.maximum),
        stop=stop_after_attempt(backoff.attempts) | stop_after_delay(backoff.max_elapsed),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity either returns or reraises")
