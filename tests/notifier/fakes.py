"""The notifier's messenger as its tests fake it: it records what it is asked to send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.gateway import GatewayRefused, GatewayUnavailable


@dataclass
class FakeMessenger:
    """Records what it is asked to send; answers with the errors queued per recipient."""

    sent: list[dict[str, object]] = field(default_factory=list)
    refuse_free_form: dict[str, str] = field(default_factory=dict)
    unavailable: bool = False

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
        return f"SM{len(self.sent):032x}"

    async def find_sent(
        self, to: str, body: str, since: datetime, from_: str | None = None
    ) -> str | None:
        for number, sent in enumerate(self.sent, start=1):
            if (sent["to"], sent["body"]) == (to, body):
                return f"SM{number:032x}"
        return None
