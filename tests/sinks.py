"""The record sink of unit and component tests: it keeps what it is given, in order."""

from __future__ import annotations

from shared.records import OutgoingRecord


class RecordingSink:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def send(self, *records: OutgoingRecord) -> None:
        self.records.extend(records)
