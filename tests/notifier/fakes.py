"""The notifier's messenger as its tests fake it: it records what it is asked to send."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from services.notifier.ports import Listed
from shared.gateway import GatewayRefused, GatewayUnavailable


@dataclass
class FakeMessenger:
    """Records what it is asked to send; answers with the errors queued per recipient."""

    sent: list[dict[str, object]] = field(default_factory=list)
    created: list[datetime] = field(default_factory=list)
    refuse_free_form: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """When Twilio creates a message (the notifier's clock in its tests)."""
    lose_answers: int = 0
    """The next sends are made but their answers lost (a crash before the record, say)."""

    async def send(
        self,
        to: str,
        *,
        body: str | None = None,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
        from_: str | None = None,
        media_url: str | None = None,
    ) -> str:
        if self.unavailable:
            raise GatewayUnavailable("twilio", 503, "20503", "Service Unavailable")
        if body is not None and to in self.refuse_free_form:
            code = self.refuse_free_form[to]
            raise GatewayRefused("twilio", 400, code, f"refused {code}")
        sent: dict[str, object] = {"to": to, "body": body, "content_sid": content_sid}
        extra = ({"from": from_} if from_ else {}) | ({"media_url": media_url} if media_url else {})
        self.sent.append(sent | extra)
        self.created.append(self.clock())
        if self.lose_answers:
            self.lose_answers -= 1
            raise httpx.ReadTimeout("answer lost")
        return f"SM{len(self.sent):032x}"

    async def latest(self, to: str, from_: str | None = None) -> list[Listed]:
        """What it sent to `to`, newest first, as Twilio lists it (a template's text rendered)."""
        return [
            Listed(
                f"SM{number:032x}",
                str(sent["body"] or f"template {sent['content_sid']}"),
                self.created[number - 1],
            )
            for number, sent in reversed(list(enumerate(self.sent, start=1)))
            if sent["to"] == to and sent.get("from") == from_
        ]
