"""Waiting in tests polls a condition until a deadline; there are no bare sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = 20.0,
    what: str = "",
    every: float = 0.05,
) -> None:
    """Returns as soon as `condition()` is true (asked `every` seconds); fails with `what` when
    `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {what or condition}")
        await asyncio.sleep(every)
