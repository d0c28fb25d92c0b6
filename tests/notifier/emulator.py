"""The Twilio emulator as a real process, and a test's handle on it (Twilio API + control API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.processes import ServiceProcess, Services

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "local-twilio-token"
SENDER = "whatsapp:+5511900000000"
STORE_SENDER = "whatsapp:+5511900000077"
"""A store's own WhatsApp number, a sender of the emulator's account besides the platform's."""
EMULATOR = "deploy.emulators.twilio"


class TwilioEmulator:
    def __init__(self, process: ServiceProcess) -> None:
        self.process = process
        self.url = process.url
        self._http = httpx.Client(base_url=self.url, timeout=10)
        self._auth = httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)
        self.messages_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"

    def close(self) -> None:
        self._http.close()

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Every message (to `to`), oldest first, read through Twilio's paged list endpoint."""
        found: list[dict[str, Any]] = []
        params = {"PageSize": "50"} | ({"To": f"whatsapp:{to}"} if to else {})
        response = self._http.get(self.messages_path, params=params, auth=self._auth)
        while True:
            response.raise_for_status()
            page = response.json()
            found.extend(page["messages"])
            if not page["next_page_uri"]:
                return list(reversed(found))  # Twilio lists newest first
            response = self._http.get(page["next_page_uri"], auth=self._auth)

    def send(self, to: str, body: str) -> str:
        """Sends a message through the Twilio API itself; returns its SID."""
        response = self._http.post(
            self.messages_path,
            data={"To": f"whatsapp:{to}", "From": SENDER, "Body": body},
            auth=self._auth,
        )
        response.raise_for_status()
        return str(response.json()["sid"])

    def send_template(self, to: str, content_sid: str) -> str:
        """Sends an approved template through the Twilio API itself; returns its SID."""
        response = self._http.post(
            self.messages_path,
            data={"To": f"whatsapp:{to}", "From": SENDER, "ContentSid": content_sid},
            auth=self._auth,
        )
        response.raise_for_status()
        return str(response.json()["sid"])

    def bodies(self, to: str) -> list[str]:
        return [message["body"] for message in self.messages(to)]

    def control(self, path: str, **body: Any) -> dict[str, Any]:
        response = self._http.post(f"/_control/{path}", json=body)
        response.raise_for_status()
        return dict(response.json())

    def state(self) -> dict[str, Any]:
        return dict(self._http.get("/_control/state").json())


@pytest.fixture
def twilio(services: Services) -> Iterator[TwilioEmulator]:
    emulator = TwilioEmulator(
        services.start(EMULATOR, TWILIO_EMULATOR_SENDERS=STORE_SENDER).wait_ready()
    )
    yield emulator
    emulator.close()
