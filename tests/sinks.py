"""The record sink of unit and component tests, and what tests read off the records they got."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from shared.contracts.base import Message
from shared.contracts.registry import decode
from shared.records import HEADER_EVENT_TYPE, OutgoingRecord

M = TypeVar("M", bound=Message)


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, *records: OutgoingRecord) -> None:
        self.records.extend(records)


class Record(Protocol):
    """A record as sent (`OutgoingRecord`) or as received (`ReceivedRecord`)."""

    @property
    def topic(self) -> str: ...

    @property
    def value(self) -> bytes: ...

    @property
    def headers(self) -> dict[str, str]: ...


def sent(records: Iterable[Record]) -> list[tuple[str, str]]:
    """(topic, eventType) of each record, in order."""
    return [(record.topic, record.headers[HEADER_EVENT_TYPE]) for record in records]


def messages(records: Iterable[Record], kind: type[M]) -> list[M]:
    """The messages of type `kind` among the records, in order."""
    found = (decode(record.value) for record in records)
    return [message for message in found if isinstance(message, kind)]
