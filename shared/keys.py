"""The one place that makes Kafka message keys (DESIGN.md section 3); no call site builds one."""

from __future__ import annotations

from shared.topics import STORES_CONFIG


def key_for(topic: str, client_id: str | None, store_id: str | None = None) -> bytes:
    """The key of a message on `topic`.

    Every topic is keyed by restaurant (`clientId`), so all events of one restaurant share a
    partition and stay in order; the compacted `stores.config` is keyed `<clientId>:<storeId>`
    so that compaction keeps the latest configuration of every store.
    """
    if not client_id:
        raise ValueError(f"a message on {topic} needs a clientId for its key")
    if topic == STORES_CONFIG:
        if not store_id:
            raise ValueError("a stores.config message needs a storeId for its key")
        return f"{client_id}:{store_id}".encode()
    return client_id.encode()
