"""The HTTP side every service shares: health, readiness, metrics, bounded JSON bodies, and
serving with uvicorn."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from motor.motor_asyncio import AsyncIOMotorClient
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import SecretStr, ValidationError

from shared.contracts.limits import error_fields

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_http_app(
    name: str,
    *,
    lifespan: Lifespan,
    readiness: dict[str, ReadinessCheck],
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """A FastAPI app with `/healthz`, `/readyz` (each named check must pass) and `/metrics`."""
    app = FastAPI(title=name, lifespan=lifespan)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        results = {check: await _passes(run) for check, run in readiness.items()}
        ready = all(results.values())
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


def dependencies_ready(
    client: AsyncIOMotorClient[Any], broker: KafkaBroker
) -> dict[str, ReadinessCheck]:
    """The readiness checks every service has: MongoDB answers a ping, Kafka a metadata call."""

    async def mongodb() -> bool:
        return bool((await client.admin.command("ping")).get("ok"))

    async def kafka() -> bool:
        return await broker.ping(timeout=2)

    return {"mongodb": mongodb, "kafka": kafka}


_bearer = HTTPBearer(auto_error=False)


def bearer_guard(token: SecretStr) -> Any:
    """A route dependency refusing requests without `Authorization: Bearer <token>` (401);
    the comparison takes the same time whatever the given token."""
    expected = token.get_secret_value().encode()

    async def guard(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    return Depends(guard)


MAX_PROBLEM_LENGTH = 200
"""The most of one validation problem an answer says (a message may quote a little input)."""


class BodyRefused(Exception):
    """A request body that cannot be read: too large (413) or not JSON (400)."""

    def __init__(self, status: int, problem: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, counted while it streams in: BodyRefused(413) beyond `limit` bytes,
    whether the client declared its length or not."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyRefused(413, f"body larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyRefused(413, f"body larger than {limit} bytes")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """`body` as JSON: BodyRefused(400) when it is not, nests too deep or holds a number too long
    for Python to read (which raise RecursionError and ValueError, not JSONDecodeError)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        raise BodyRefused(400, "body is not readable JSON") from None


def field_problems(error: ValidationError) -> list[dict[str, str]]:
    """pydantic's errors as a field path and a problem each, never the input."""
    errors = error.errors(include_url=False, include_context=False, include_input=False)
    return [
        {"field": field, "problem": problem["msg"][:MAX_PROBLEM_LENGTH]}
        for field, problem in zip(error_fields(errors), errors, strict=True)
    ]


async def _passes(check: ReadinessCheck) -> bool:
    try:
        async with asyncio.timeout(2):
            return await check()
    except Exception:
        log.warning("readiness check failed", exc_info=True)
        return False


async def serve(app: FastAPI, host: str, port: int) -> None:
    """Serves `app` until SIGINT/SIGTERM; the app's lifespan then stops consumers cleanly."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    await uvicorn.Server(config).serve()
