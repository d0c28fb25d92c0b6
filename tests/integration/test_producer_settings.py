"""The producer every service publishes with waits for all in-sync replicas and is idempotent
(DESIGN.md section 9): read off the started client, not off the factory's arguments."""

from __future__ import annotations

from typing import Any

from tests.integration.kafka_helpers import running_broker


async def test_the_services_producer_waits_for_all_replicas_and_is_idempotent(
    kafka_bootstrap: str,
) -> None:
    async with running_broker(kafka_bootstrap) as broker:
        fast_producer: Any = broker.config.producer  # FastStream's wrapper of aiokafka's
        producer = fast_producer._producer.producer

        assert producer._sender._acks == -1  # aiokafka's spelling of acks=all
        assert producer._txn_manager is not None  # present only when idempotence is enabled
        assert producer.client._request_timeout_ms == 15_000
