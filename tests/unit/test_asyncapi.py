"""The AsyncAPI document and JSON Schemas in `docs/contract/` are what the code says: every topic
and message of the registry with its schema, every reference resolvable, and each service serving
its own part at `/asyncapi.json`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from deploy.contract import CONTRACT_DIR, SERVICES, contract_files, stale_files
from deploy.k8s.check import build_service_app, import_kafka_usage
from shared.asyncapi import POS_ORDERS, POS_UPDATES, asyncapi_document, channel_id
from shared.contracts.registry import (
    MESSAGE_TYPES,
    POS_ORDER_MESSAGES,
    POS_UPDATE_MESSAGES,
    TOPIC_MESSAGES,
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONTRACT_DIR / "asyncapi.json").read_text())
    return loaded


def test_the_checked_in_contract_is_what_the_code_says() -> None:
    assert stale_files(CONTRACT_DIR, contract_files()) == [], "run `make contract`"


def test_every_topic_of_the_registry_is_a_channel_with_exactly_its_messages(
    document: dict[str, Any],
) -> None:
    expected = {topic: types for topic, types in TOPIC_MESSAGES.items()}
    expected |= {POS_ORDERS: POS_ORDER_MESSAGES, POS_UPDATES: POS_UPDATE_MESSAGES}
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == set(expected)
    for address, message_types in expected.items():
        assert set(channels[address]["messages"]) == {t.__name__ for t in message_types}
        assert channels[address]["description"]
    assert set(document["channels"]["pos-clientId-storeId-updates"]["parameters"]) == {
        "clientId",
        "storeId",
    }


def test_every_message_has_its_schema_with_the_wire_names_of_its_fields(
    document: dict[str, Any],
) -> None:
    messages, schemas = document["components"]["messages"], document["components"]["schemas"]
    assert set(messages) == set(MESSAGE_TYPES)
    for name, message_type in MESSAGE_TYPES.items():
        schema = resolve(document, messages[name]["payload"]["$ref"])
        assert schema is schemas[name]
        aliases = {
            field.alias or field_name for field_name, field in message_type.model_fields.items()
        }
        assert set(schema["properties"]) == aliases, name
        required = {
            field.alias or field_name
            for field_name, field in message_type.model_fields.items()
            if field.is_required()
        }
        assert set(schema.get("required", [])) == required, name
        assert schema["properties"]["eventType"]["const"] == name
        assert messages[name]["bindings"]["kafka"]["key"]["type"] == "string"


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    references = list(refs(document))
    assert len(references) > len(MESSAGE_TYPES)
    for reference in references:
        assert resolve(document, reference) is not None, reference


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_serves_its_own_sends_and_receives(service: str) -> None:
    usage = import_kafka_usage(service)
    app = build_service_app(service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as http:
        answer = await http.get("/asyncapi.json")
    assert answer.status_code == 200
    served = answer.json()
    assert served == asyncapi_document(f"{service} service", {service: usage})
    operations = served["operations"]
    assert operations, f"{service} declares no topic"
    assert all(name.startswith(f"{service}-") for name in operations)
    received = {op["channel"]["$ref"] for op in operations.values() if op["action"] == "receive"}
    wanted = {f"#/channels/{channel_id(topic)}" for topic in usage.read if topic in TOPIC_MESSAGES}
    assert wanted <= received


def test_the_order_service_receives_pos_updates_and_sends_pos_orders(
    document: dict[str, Any],
) -> None:
    operations = document["operations"]
    assert operations["order-receives-pos-clientId-storeId-updates"]["action"] == "receive"
    assert operations["order-sends-pos-clientId-storeId-orders"]["action"] == "send"
    assert not [name for name in operations if "dlq" in name]


def test_the_panel_acts_as_a_pos_receiving_pos_orders_and_sending_pos_updates(
    document: dict[str, Any],
) -> None:
    operations = document["operations"]
    assert operations["panel-receives-pos-clientId-storeId-orders"]["action"] == "receive"
    assert operations["panel-sends-pos-clientId-storeId-updates"]["action"] == "send"
    assert "panel-sends-pos-clientId-storeId-orders" not in operations


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/")
    node: Any = document
    for part in reference[2:].split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node
