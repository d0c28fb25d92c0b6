"""The Strimzi KafkaUsers of deploy/k8s applied to a real broker: their ACLs, read from the
manifests, created through Kafka's CreateAcls API (aiokafka has the request but no admin method)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest

from deploy.local.servers import REPO_ROOT
from shared.settings import KafkaSettings

K8S = REPO_ROOT / "deploy" / "k8s"
SERVICE_USERS = K8S / "base" / "kafka-users.yaml"
POS_TEMPLATE = K8S / "examples" / "kafka-user-pos.yaml"
CHATBOT_TEMPLATE = K8S / "examples" / "kafka-user-chatbot.yaml"
TEMPLATE_CLIENT, TEMPLATE_STORE = "c123", "s1"

# Kafka's codes (org.apache.kafka.common.acl / resource).
RESOURCE_TYPES = {"topic": 2, "group": 3, "cluster": 4, "transactionalId": 5}
PATTERN_TYPES = {"literal": 3, "prefix": 4}
OPERATIONS = {
    "All": 2, "Read": 3, "Write": 4, "Create": 5, "Delete": 6, "Alter": 7, "Describe": 8,
    "ClusterAction": 9, "DescribeConfigs": 10, "AlterConfigs": 11, "IdempotentWrite": 12,
}  # fmt: skip
PERMISSIONS = {"deny": 2, "allow": 3}

Acl = dict[str, Any]


def kafka_users(path: Path) -> dict[str, list[Acl]]:
    """The KafkaUsers of a manifest: name -> ACLs."""
    return {
        document["metadata"]["name"]: document["spec"]["authorization"]["acls"]
        for document in yaml.safe_load_all(path.read_text())
        if document and document.get("kind") == "KafkaUser"
    }


def from_template(
    path: Path, client_id: str, store_id: str = TEMPLATE_STORE
) -> tuple[str, list[Acl]]:
    """A template's user for another restaurant (and store): its name and ACLs with the ids."""
    ((name, acls),) = kafka_users(path).items()

    def filled(text: str) -> str:
        text = text.replace(
            f"pos-{TEMPLATE_CLIENT}-{TEMPLATE_STORE}", f"pos-{client_id}-{store_id}"
        )
        text = text.replace(
            f"pos.{TEMPLATE_CLIENT}.{TEMPLATE_STORE}.", f"pos.{client_id}.{store_id}."
        )
        return text.replace(f"-{TEMPLATE_CLIENT}", f"-{client_id}")

    return filled(name), [
        acl | {"resource": acl["resource"] | {"name": filled(acl["resource"]["name"])}}
        for acl in acls
    ]


async def grant(admin: KafkaSettings, user: str, acls: list[Acl]) -> None:
    """Creates the ACLs of `user` (principal `User:<user>`) as Strimzi's User Operator would."""
    client = AIOKafkaAdminClient(**admin.client_options(), request_timeout_ms=15_000)
    await client.start()
    try:
        for acl in acls:
            resource = acl["resource"]
            for operation in acl["operations"]:
                request = CreateAclsRequest(
                    RESOURCE_TYPES[resource["type"]],
                    resource.get("name", "kafka-cluster"),
                    PATTERN_TYPES[resource.get("patternType", "literal")],
                    f"User:{user}",
                    acl.get("host", "*"),
                    OPERATIONS[operation],
                    PERMISSIONS[acl.get("type", "allow")],
                )
                response = await client._send_request(request)
                for error_code, message in response.creation_responses:
                    if error_code:
                        raise RuntimeError(f"ACL for {user} refused: {error_code} {message}")
    finally:
        await client.close()
