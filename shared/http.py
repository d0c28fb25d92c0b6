"""The HTTP side every service shares: health, readiness, metrics, bounded JSON bodies, and
serving with uvicorn."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Any, Literal, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field, ValidationError
from pydantic.json_schema import models_json_schema
from pymongo import AsyncMongoClient
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.contracts.limits import error_fields, nested_deeper_than

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

ReadinessCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


class Health(BaseModel):
    """Answer of `GET /healthz`: the process serves HTTP."""

    status: Literal["ok"] = Field(description="Always `ok`.")
    service: str = Field(description="The service's name.")


class Readiness(BaseModel):
    """Answer of `GET /readyz` when every check passes (otherwise a 503 problem with `checks`)."""

    ready: bool = Field(description="Whether every check passed.")
    checks: dict[str, bool] = Field(description="Each check (mongodb, kafka, ...) and its result.")


class FieldProblem(BaseModel):
    """One invalid field of a request: where it is and what is wrong, never its value."""

    field: str = Field(description="The field's path, dot-separated (`items.0.quantity`).")
    problem: str = Field(description="What is wrong with it.")


class Problem(BaseModel):
    """An RFC 9457 problem: every 4xx and 5xx answer of every service."""

    type: str = Field(description="`about:blank`: the status says what kind of problem it is.")
    title: str = Field(description="The status's phrase, e.g. `Not Found`.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, in words.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="For an invalid request: each field at fault."
    )
    checks: dict[str, bool] | None = Field(
        default=None, description="For a service not ready: each readiness check and its result."
    )


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": description}
    for code, description in (
        ("4XX", "The request was refused: a problem (RFC 9457) says why."),
        ("5XX", "The service failed or is not ready: a problem (RFC 9457)."),
    )
}
"""What OpenAPI says every route may answer besides its success."""


def service_http_app(
    name: str,
    *,
    lifespan: Lifespan,
    readiness: dict[str, ReadinessCheck],
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """A FastAPI app with `/healthz`, `/readyz` (each named check must pass) and `/metrics`,
    whose errors are problems (RFC 9457)."""
    app = FastAPI(title=name, lifespan=lifespan, responses=PROBLEM_RESPONSES)
    answer_with_problems(app)
    document_problems_and_bodies(app)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> Health:
        """The process serves HTTP (liveness)."""
        return Health(status="ok", service=name)

    @app.get("/readyz", tags=["operations"], response_model=Readiness)
    async def readyz() -> Readiness | Response:
        """Every dependency answers (readiness); 503 with each check's result otherwise."""
        results = {check: await _passes(run) for check, run in readiness.items()}
        if not all(results.values()):
            return problem(503, "a dependency does not answer", checks=results)
        return Readiness(ready=True, checks=results)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus metrics, in its text format."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    return app


SCHEMAS = "#/components/schemas/"
BODY_SCHEMAS = "x-body-schemas"
"""Where `request_body` leaves its models' schemas for `document_problems_and_bodies`."""


def request_body(model: type[BaseModel], **operation: Any) -> dict[str, Any]:
    """`openapi_extra` of a route that reads its own JSON body (bounded, see `json_body`) as
    `model`: OpenAPI shows the body as that model (`operation`: more of the operation)."""
    _, schemas = models_json_schema([(model, "validation")], ref_template=SCHEMAS + "{model}")
    schema = {"$ref": SCHEMAS + model.__name__}
    content = {"application/json": {"schema": schema}}
    return (
        {"requestBody": {"required": True, "content": content}}
        | operation
        | {BODY_SCHEMAS: schemas["$defs"]}
    )


def document_problems_and_bodies(app: FastAPI) -> None:
    """Completes `app`'s OpenAPI: error answers as `application/problem+json` (FastAPI puts
    every model under application/json) and the models of the bodies routes read themselves."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # cached by FastAPI; what follows changes nothing the second time
        known = document.setdefault("components", {}).setdefault("schemas", {})
        for operation in (op for path in document["paths"].values() for op in path.values()):
            for name, schema in operation.pop(BODY_SCHEMAS, {}).items():
                if known.setdefault(name, schema) != schema:
                    raise ValueError(f"two schemas are named {name}: rename one of the models")
            for code, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if code[0] in "45" and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def dependencies_ready(
    client: AsyncMongoClient[Any], broker: KafkaBroker
) -> dict[str, ReadinessCheck]:
    """The readiness checks every service has: MongoDB answers a ping, Kafka a metadata call."""

    async def mongodb() -> bool:
        return bool((await client.admin.command("ping")).get("ok"))

    async def kafka() -> bool:
        return await broker.ping(timeout=2)

    return {"mongodb": mongodb, "kafka": kafka}


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[Mapping[str, str]] | None = None,
    checks: Mapping[str, bool] | None = None,
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
    if checks is not None:
        body["checks"] = dict(checks)
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
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        raise BodyRefused(400, "body is not readable JSON") from None
    if nested_deeper_than(parsed):
        raise BodyRefused(400, "body is not readable JSON: nested too deeply")
    return parsed


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


KEEP_ALIVE_S = 75
"""How long an idle connection stays open: longer than its clients keep one to reuse (httpx
5 s, a proxy's upstream pool 60 s), so that the client always closes first. Uvicorn's 5 s
default equals httpx's, and a request sent as the server closed its connection failed now and
then (`httpx.ReadError`, or a 502 behind a proxy)."""


HTTP_PARSER = "h11"
"""h11, never uvicorn's "auto" (httptools when installed): h11 refuses a request whose headers
pass 16 KiB, where httptools 0.9 read 20 MB of headers and answered (docs/benchmarks.md,
"uvloop, and the startup heap frozen")."""


def server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """The HTTP server of every service: logs through the service's handler, no access log."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=HTTP_PARSER,
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return uvicorn.Server(config)


async def serve(app: FastAPI, host: str, port: int) -> None:
    """Serves `app` until SIGINT/SIGTERM; the app's lifespan then stops consumers cleanly."""
    await server(app, host, port).serve()
