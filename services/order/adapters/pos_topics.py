"""Creates a store's two POS topics (and the DLQ of its updates) the first time the service meets
the store."""

from __future__ import annotations

from shared.broker import ensure_topics
from shared.settings import KafkaSettings
from shared.topics import dlq_topic, pos_orders_topic, pos_updates_topic


class PosTopics:
    """Remembers the stores whose topics exist, so that only a new store costs a round trip."""

    def __init__(self, kafka: KafkaSettings, partitions: int) -> None:
        self._kafka = kafka
        self._partitions = partitions
        self._known: set[tuple[str, str]] = set()

    async def ensure(self, client_id: str, store_id: str) -> None:
        if (client_id, store_id) in self._known:
            return
        updates = pos_updates_topic(client_id, store_id)
        # The DLQ too: with topic auto-creation off, a dead letter of a POS would have nowhere
        # to go and its partition would wait on it.
        await ensure_topics(
            self._kafka,
            [pos_orders_topic(client_id, store_id), updates, dlq_topic(updates)],
            partitions=self._partitions,
        )
        self._known.add((client_id, store_id))
