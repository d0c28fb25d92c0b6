"""Each service's OpenAPI document types every body: each request and answer is a model (no
bare `object` nor an untyped value anywhere in it), every reference resolves, and every error
answer is declared as an RFC 9457 problem."""

from __future__ import annotations

from typing import Any

import pytest

from shared.http import PROBLEM_MEDIA_TYPE
from tests.service_apps import SERVICES, build_service_app

ANNOTATIONS = {"title", "description", "default", "examples", "deprecated", "readOnly"}


def untyped_parts(document: dict[str, Any]) -> list[str]:
    """Where a body of `document` (or a part of one) is untyped, or a reference leads nowhere."""
    schemas = document.get("components", {}).get("schemas", {})
    found: list[str] = []

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/components/schemas/")
            if name not in schemas:
                found.append(f"{where}: {schema['$ref']} leads nowhere")
            elif name not in seen:
                walk(schemas[name], f"{where} > {name}", seen | {name})
            return
        if not set(schema) - ANNOTATIONS:
            found.append(f"{where}: any value")
        if schema.get("type") == "object" and not (
            schema.get("properties") or isinstance(schema.get("additionalProperties"), dict)
        ):
            found.append(f"{where}: an object without properties")
        for field, part in schema.get("properties", {}).items():
            walk(part, f"{where}.{field}", seen)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(schema[key], f"{where}[{key}]", seen)
        for key in ("anyOf", "oneOf", "allOf"):
            for number, part in enumerate(schema.get(key, [])):
                walk(part, f"{where}|{number}", seen)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            bodies = [("request", operation.get("requestBody", {}))]
            bodies += list(operation.get("responses", {}).items())
            for name, body in bodies:
                for media_type, content in body.get("content", {}).items():
                    where = f"{method.upper()} {path} {name} {media_type}"
                    if "schema" not in content:
                        found.append(f"{where}: no schema")
                    walk(content.get("schema", {}), where, frozenset())
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_request_and_answer_body_of_a_service_is_typed(service: str) -> None:
    document = build_service_app(service).openapi()

    assert untyped_parts(document) == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_declares_its_errors_as_problems(service: str) -> None:
    document = build_service_app(service).openapi()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code: answer for code, answer in operation["responses"].items()
                      if code[0] in "45"}  # fmt: skip
            assert set(errors) >= {"4XX", "5XX"}, (method, path)
            for answer in errors.values():
                assert list(answer["content"]) == [PROBLEM_MEDIA_TYPE], (method, path)
                schema = answer["content"][PROBLEM_MEDIA_TYPE]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}


def test_the_walk_finds_an_untyped_body() -> None:
    document = {
        "paths": {"/x": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": {"content": {"application/json": {"schema": {}}}}},
        }}},
    }  # fmt: skip

    assert untyped_parts(document) == [
        "POST /x request application/json: an object without properties",
        "POST /x 200 application/json: any value",
    ]


def test_the_routes_the_services_must_serve_are_in_their_documents() -> None:
    paths = {service: set(build_service_app(service).openapi()["paths"]) for service in SERVICES}

    operations = {"/healthz", "/readyz", "/metrics"}
    assert all(operations <= served for served in paths.values())
    assert {"/stores/{client_id}/{store_id}/config", "/orders", "/auth/tokens"} <= paths["order"]
    assert {"/restaurants/{client_id}/asaas", "/webhooks/asaas/{client_id}"} <= paths["payment"]
