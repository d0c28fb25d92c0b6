"""Background loops (outbox sweep, timer firing) that live as long as the service."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundLoops:
    """Starts named loops; one that dies stops the process (SIGTERM), so it restarts whole."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, loop: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(loop, name=name)
        task.add_done_callback(self._on_done)
        self._tasks[name] = task

    def _on_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        log.critical("background loop %s ended (%r); stopping the service", task.get_name(), error)
        os.kill(os.getpid(), signal.SIGTERM)

    async def stop(self) -> None:
        """Cancels every loop and waits for them to end."""
        for task in self._tasks.values():
            task.remove_done_callback(self._on_done)
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
