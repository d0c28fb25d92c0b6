"""The AsyncAPI 3 document of the Kafka contract and a JSON Schema per message, generated from the
contract models and the topics each service declares, so that neither drifts from the code."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic.json_schema import models_json_schema

from shared import records, topics
from shared.contracts.base import Message
from shared.contracts.registry import (
    MESSAGE_TYPES,
    POS_ORDER_MESSAGES,
    POS_UPDATE_MESSAGES,
    TOPIC_MESSAGES,
)

if TYPE_CHECKING:
    from shared.runtime import KafkaUsage

ASYNCAPI_VERSION = "3.0.0"
CONTRACT_VERSION = "1.0.0"
"""The contract's own version: additive changes within a message's `eventVersion` keep it."""
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_REF = "#/components/schemas/{model}"

POS_ORDERS = "pos.{clientId}.{storeId}.orders"
POS_UPDATES = "pos.{clientId}.{storeId}.updates"

PURPOSES: Mapping[str, str] = {
    topics.ORDERS_COMMANDS: "What the chatbot asks of the order service.",
    topics.ORDERS_EVENTS: "What happened to orders: the order service's facts.",
    topics.PAYMENTS_COMMANDS: "What the order service asks of the payment service.",
    topics.PAYMENTS_EVENTS: "What happened to payments on Asaas.",
    topics.SCHEDULER_COMMANDS: "Timers to set or cancel (deadlines of orders).",
    topics.SCHEDULER_EVENTS: "Timers that reached their due time.",
    topics.STORES_CONFIG: "Each store's order configuration, compacted by store.",
    topics.NOTIFICATIONS_EVENTS: "WhatsApp messages sent to customers, or not.",
    topics.AUTH_REVOCATIONS: "A restaurant's revoked tokens, compacted by restaurant.",
    POS_ORDERS: "To a store's POS: its orders, their cancellations, and refused updates.",
    POS_UPDATES: "From a store's POS: confirmations, refusals and status updates.",
}
"""One line per channel; a test checks that every topic has one."""

_CHANNEL_MESSAGES: Mapping[str, tuple[type[Message], ...]] = {
    **TOPIC_MESSAGES,
    POS_ORDERS: POS_ORDER_MESSAGES,
    POS_UPDATES: POS_UPDATE_MESSAGES,
}

_HEADERS = {
    "type": "object",
    "properties": {
        records.HEADER_EVENT_TYPE: {"type": "string", "description": "The body's `eventType`."},
        records.HEADER_EVENT_ID: {"type": "string", "description": "The body's `eventId`."},
        records.HEADER_EVENT_VERSION: {
            "type": "string",
            "description": "The body's `eventVersion`, as decimal digits.",
        },
        records.HEADER_CORRELATION_ID: {
            "type": "string",
            "description": "The body's `correlationId`, when it has one.",
        },
    },
}
_KEY = {
    "type": "string",
    "description": "The restaurant id (`clientId`): every message of one restaurant stays in "
    "order on one partition.",
}


def channel_id(address: str) -> str:
    """A channel's id in the document: its address without dots and parameters."""
    return address.replace("{", "").replace("}", "").replace(".", "-")


def summary_of(message_type: type[Message]) -> str:
    """A message's first docstring line: what it says, in one sentence."""
    return (inspect.getdoc(message_type) or message_type.__name__).splitlines()[0]


def message_schemas() -> dict[str, Any]:
    """JSON Schemas of every message and of the models they use, by model name, referring to each
    other under `#/components/schemas/` (what a message must be to be accepted)."""
    models = [(message_type, "validation") for message_type in MESSAGE_TYPES.values()]
    _, top = models_json_schema(models, by_alias=True, ref_template=SCHEMAS_REF)  # type: ignore[arg-type]
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def standalone_schema(message_type: type[Message]) -> dict[str, Any]:
    """One message's JSON Schema on its own (its models under `$defs`), for a POS vendor's tools."""
    return {"$schema": JSON_SCHEMA_DIALECT} | message_type.model_json_schema(by_alias=True)


def _channels() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for address, message_types in _CHANNEL_MESSAGES.items():
        channel: dict[str, Any] = {
            "address": address,
            "description": PURPOSES[address],
            "messages": {
                message_type.__name__: {"$ref": f"#/components/messages/{message_type.__name__}"}
                for message_type in message_types
            },
        }
        if "{" in address:
            channel["parameters"] = {
                "clientId": {"description": "The restaurant's id."},
                "storeId": {"description": "The store's id within the restaurant."},
            }
        channels[channel_id(address)] = channel
    return channels


def _messages() -> dict[str, Any]:
    return {
        name: {
            "name": name,
            "title": name,
            "summary": summary_of(message_type),
            "contentType": "application/json",
            "headers": _HEADERS,
            "payload": {"$ref": SCHEMAS_REF.format(model=name)},
            "bindings": {"kafka": {"key": _KEY, "bindingVersion": "0.5.0"}},
        }
        for name, message_type in MESSAGE_TYPES.items()
    }


def _addresses(declared: set[str], *, reading: bool, as_pos: bool = False) -> list[str]:
    """The channels behind a service's declared topics: dead-letter topics are left out, and the
    POS prefix is the updates topics when read and the orders topics when written (DESIGN.md
    section 3: the system reads only what a POS sends and writes only what a POS reads), the
    other way round for a service that acts as a POS (`as_pos`: the restaurant panel)."""
    addresses = []
    for topic in sorted(declared):
        if topic == topics.POS_TOPICS:
            addresses.append(POS_UPDATES if reading != as_pos else POS_ORDERS)
        elif topic in TOPIC_MESSAGES:
            addresses.append(topic)
    return addresses


def _operations(usages: Mapping[str, KafkaUsage]) -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for service, usage in sorted(usages.items()):
        for action, declared in (("receive", usage.read), ("send", usage.write)):
            reading = action == "receive"
            for address in _addresses(declared, reading=reading, as_pos=usage.as_pos):
                channel = channel_id(address)
                operations[f"{service}-{action}s-{channel}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "summary": f"The {service} service {action}s {address}.",
                    "messages": [
                        {"$ref": f"#/channels/{channel}/messages/{message_type.__name__}"}
                        for message_type in _CHANNEL_MESSAGES[address]
                    ],
                }
    return operations


def asyncapi_document(title: str, usages: Mapping[str, KafkaUsage]) -> dict[str, Any]:
    """The AsyncAPI 3 document of every topic and message, with what each of `usages`' services
    sends and receives as its operations."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": CONTRACT_VERSION,
            "description": "Orders, payments, deadlines and WhatsApp notifications of restaurants "
            "selling through a WhatsApp chatbot. JSON bodies with camelCase fields; every message "
            "is keyed by its restaurant (`clientId`); money is integer centavos.",
        },
        "defaultContentType": "application/json",
        "channels": _channels(),
        "operations": _operations(usages),
        "components": {"messages": _messages(), "schemas": message_schemas()},
    }
