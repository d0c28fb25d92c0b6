"""What every command line of the repository does alike: lines for the person at the terminal
on stderr (stdout is the answer), progress while it waits, and one line instead of a traceback
when it fails or is interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any, NoReturn, TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from shared.contracts.registry import describe_validation

T = TypeVar("T")

PROGRESS_EVERY_S = 5.0
INTERRUPTED = 130
"""The exit code of a command ended by Ctrl-C (128 + SIGINT), as shells report it."""


class Failed(Exception):
    """A command that could not be done, in words for whoever typed it."""


def say(text: str) -> None:
    """A line for the person at the terminal: on stderr, so stdout stays the command's answer."""
    print(text, file=sys.stderr, flush=True)


def fail(text: str) -> NoReturn:
    say(f"error: {text}")
    sys.exit(1)


@contextlib.asynccontextmanager
async def progress(what: str, every: float = PROGRESS_EVERY_S) -> AsyncIterator[None]:
    """Says `still waiting for <what> (N s)` every `every` seconds until the block ends."""
    started = time.monotonic()

    async def tell() -> None:
        while True:
            await asyncio.sleep(every)
            say(f"still waiting for {what} ({time.monotonic() - started:.0f} s)")

    telling = asyncio.create_task(tell())
    try:
        yield
    finally:
        telling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await telling


def _unless_an_unstarted_kafka_client(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    # FastStream leaves the producer of a broker that could not start unclosed, and aiokafka
    # reports it when it is collected: noise after the line that said what failed.
    if not str(context.get("message", "")).startswith("Unclosed AIOKafka"):
        loop.default_exception_handler(context)


def run(main: Coroutine[Any, Any, T], *, kafka: str | None = None) -> T:
    """Runs `main`; a failure exits 1 with one line (`kafka`: the servers to name when Kafka
    cannot be reached), Ctrl-C exits 130 quietly."""
    where = f"Kafka at {kafka}" if kafka else "Kafka"
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the failure is said in one line
    try:
        with asyncio.Runner() as runner:
            runner.get_loop().set_exception_handler(_unless_an_unstarted_kafka_client)
            return runner.run(main)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(INTERRUPTED)
    except Failed as failed:
        fail(str(failed))
    except KafkaConnectionError:
        fail(f"{where} cannot be reached: is it running? (KAFKA_BOOTSTRAP_SERVERS or --bootstrap)")
    except KafkaError as error:
        fail(f"{where} failed: {type(error).__name__}")
    except ValidationError as error:
        fail(f"not valid: {describe_validation(error)}")
