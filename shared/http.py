"""The HTTP side every service shares: health, readiness, metrics, bounded JSON bodies, and
serving with uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Any, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from pymongo import AsyncMongoClient
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.contracts.limits import error_fields

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

ReadinessCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_http_app(
    name: str,
    *,
    lifespan: Lifespan,
    readiness: dict[str, ReadinessCheck],
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """A FastAPI app with `/healthz`, `/readyz` (each named check must pass) and `/metrics`,
    whose errors are problems (RFC 9457)."""
    app = FastAPI(title=name, lifespan=lifespan)
    answer_with_problems(app)

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
    client: AsyncMongoClient[Any], broker: KafkaBroker
) -> dict[str, ReadinessCheck]:
    """The readiness checks every service has: MongoDB answers a ping, Kafka a metadata call."""

    async def mongodb() -> bool:
        return bool((await client.admin.command("ping")).get("ok"))

    async def kafka() -> bool:
        return await broker.ping(timeout=2)

    return {"mongodb": mongodb, "kafka": kafka}


PROBLEM_MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[Mapping[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An RFC 9457 problem: `type` (about:blank: the status says it all), `title` (the status's
    phrase), `status`, `detail`, and for validation the `errors` (field paths, never input)."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = list(errors)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def answer_with_problems(app: FastAPI) -> None:
    """Makes every error `app` answers a problem: raised HTTPExceptions (a list as `detail` is a
    list of field errors), FastAPI's own validation of paths and queries, and the unforeseen."""

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if isinstance(error.detail, list):
            return problem(error.status_code, "the request has invalid fields", errors=error.detail)
        return problem(error.status_code, str(error.detail), headers=error.headers)

    async def invalid_request(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        return problem(422, "the request has invalid fields", errors=request_problems(error))

    async def unforeseen(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "the service failed to answer; it has been logged")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unforeseen)


def request_problems(error: RequestValidationError) -> list[dict[str, str]]:
    """FastAPI's errors of a path or query as a field and a problem each, never the input."""
    return [
        {
            "field": ".".join(str(part) for part in detail.get("loc", ())[1:]),
            "problem": str(detail.get("msg", ""))[:MAX_PROBLEM_LENGTH],
        }
        for detail in error.errors()
    ]


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


async def json_body(request: Request, limit: int) -> Any:
    """The request's JSON body; HTTPException(413) beyond `limit` bytes, (400) if unreadable."""
    try:
        return parse_json(await read_body(request, limit))
    except BodyRefused as refused:
        raise HTTPException(refused.status, refused.problem) from None


def validated(model: type[M], data: Any) -> M:
    """`data` as `model`; HTTPException(422) listing the fields at fault, never their values."""
    if not isinstance(data, dict):
        raise HTTPException(422, [{"field": "", "problem": "body must be a JSON object"}])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise HTTPException(422, field_problems(error)) from None


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
