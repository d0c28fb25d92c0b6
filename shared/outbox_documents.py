"""The outbox inside a document: its fields, its index, and the writes that fill it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from shared.mongo import Document
from shared.records import OutgoingRecord

OUTBOX = "outbox"
PENDING_SINCE = "outboxPendingSince"
"""When the document's outbox became due for the sweep: its oldest record's save, or its last
failed attempt."""
PARKED = "outboxParked"
"""Records Kafka refused for good, each with the error, moved out of the outbox (never swept)."""
OUTBOX_INDEX = IndexModel([(PENDING_SINCE, ASCENDING)], name="outbox_pending")
"""Lets the sweep find documents with pending records without scanning the collection."""


def with_outbox(document: Document, records: Sequence[OutgoingRecord], now: datetime) -> Document:
    """A new document carrying `records` in its outbox, for an insert."""
    if not records:
        return document
    return document | {OUTBOX: [record.to_document() for record in records], PENDING_SINCE: now}


def outbox_update(records: Sequence[OutgoingRecord], now: datetime) -> Document:
    """Update operators appending `records` to a document's outbox; merge into the state update."""
    if not records:
        return {}
    return {
        "$push": {OUTBOX: {"$each": [record.to_document() for record in records]}},
        "$min": {PENDING_SINCE: now},
    }


def merge_updates(*updates: Document) -> Document:
    """Combines update documents operator by operator (`$set` with `$set`, and so on)."""
    merged: dict[str, dict[str, Any]] = {}
    for update in updates:
        for operator, fields in update.items():
            target = merged.setdefault(operator, {})
            overlap = target.keys() & fields.keys()
            if overlap:
                raise ValueError(f"fields {sorted(overlap)} are updated twice by {operator}")
            target.update(fields)
    return merged
