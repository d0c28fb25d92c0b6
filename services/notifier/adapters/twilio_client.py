"""Twilio's Messages API (WhatsApp) through the shared gateway: form-encoded, HTTP Basic auth.

429, code 20429, 5xx and network failures are retried with the gateway's backoff; any other
answer is final and raised as GatewayRefused with Twilio's code. Creating a message is not
idempotent, so after a failure that may have lost an answer (read timeout, dropped connection)
the recipient's latest messages are read before trying again; a template's text is Twilio's, so
a template send whose answer was lost raises AnswerLost for the caller to look it up. The auth
token never leaves the Authorization header: errors carry Twilio's code and message only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from services.notifier.config import TwilioSettings
from services.notifier.metrics import TWILIO_RETRIES
from services.notifier.ports import Listed
from shared.gateway import (
    GatewayError,
    GatewayRefused,
    GatewayUnavailable,
    http_client,
    is_transient_status,
    with_retries,
)

log = logging.getLogger(__name__)

PROVIDER = "twilio"
ANSWER_LOST = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)
"""Failures after the request went out: Twilio may have accepted the message."""
LOOK_BACK = 20
"""How many of a recipient's latest messages `latest` reads."""
THROTTLED = "20429"


class AnswerLost(GatewayError):
    """A template send may have been accepted with its answer lost: look before sending again."""


def whatsapp_address(number: str) -> str:
    """`+5511...` -> `whatsapp:+5511...` (unchanged if already prefixed)."""
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


class TwilioClient:
    def __init__(self, settings: TwilioSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or http_client(
            settings.base_url,
            settings,
            auth=httpx.BasicAuth(settings.account_sid, settings.auth_token.get_secret_value()),
        )
        self._path = f"/2010-04-01/Accounts/{settings.account_sid}/Messages.json"

    async def aclose(self) -> None:
        await self._client.aclose()

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
        """Sends one message (free-form `body` with the image at `media_url`, if any, or the
        approved template `content_sid`), from `from_` (a store's own sender) or the platform's."""
        sender = from_ or self._settings.sender
        form: dict[str, str] = {"To": whatsapp_address(to), "From": sender}
        if content_sid is not None:
            form["ContentSid"] = content_sid
            if content_variables:
                form["ContentVariables"] = json.dumps(dict(content_variables), ensure_ascii=False)
        elif body is not None:
            form["Body"] = body
            if media_url is not None:
                form["MediaUrl"] = media_url
        else:
            raise ValueError("a message needs a body or a content_sid")
        last_failure: list[str] = []
        answer_lost = False
        started = datetime.now(UTC)

        async def attempt() -> str:
            nonlocal answer_lost
            if last_failure:
                TWILIO_RETRIES.labels(last_failure[-1]).inc()
            if answer_lost and body is None:
                raise AnswerLost(PROVIDER, 0, last_failure[-1], "answer lost")
            if answer_lost and body is not None:
                # The last request may have been accepted with its answer lost: look first.
                sid = await self._accepted_meanwhile(to, body, started, sender)
                if sid is not None:
                    return sid
            try:
                return await self._post(form)
            except GatewayUnavailable as error:
                last_failure.append(error.code)
                raise
            except httpx.TransportError as error:
                last_failure.append(type(error).__name__)
                answer_lost = isinstance(error, ANSWER_LOST)
                raise

        return await with_retries(attempt, self._settings)

    async def _accepted_meanwhile(
        self, to: str, body: str, since: datetime, sender: str
    ) -> str | None:
        try:
            return await self._find(to, body, since, sender)
        except (GatewayError, httpx.TransportError) as error:
            log.warning("could not check whether Twilio accepted the last try: %s", error)
            return None

    async def latest(self, to: str, from_: str | None = None) -> list[Listed]:
        """The latest messages to `to` from `from_` (else the platform's sender), newest first."""
        sender = from_ or self._settings.sender
        return await with_retries(lambda: self._latest(to, sender), self._settings)

    async def _find(self, to: str, body: str, since: datetime, sender: str) -> str | None:
        # Twilio's dates have whole seconds; the claim was taken before the first send.
        return next(
            (
                found.sid
                for found in await self._latest(to, sender)
                if found.body == body and found.created_at >= since - timedelta(seconds=1)
            ),
            None,
        )

    async def _latest(self, to: str, sender: str) -> list[Listed]:
        params = {
            "To": whatsapp_address(to),
            "From": sender,
            "PageSize": str(LOOK_BACK),
        }
        payload = await self._get(params)
        listed = []
        for message in payload.get("messages") or []:
            if not isinstance(message, dict) or not isinstance(message.get("sid"), str):
                continue
            try:
                created = parsedate_to_datetime(str(message.get("date_created")))
            except (TypeError, ValueError):
                continue
            listed.append(Listed(message["sid"], str(message.get("body") or ""), created))
        return listed

    async def _get(self, params: Mapping[str, str]) -> dict[str, Any]:
        response = await self._client.get(self._path, params=dict(params))
        if response.status_code == 200:
            return _json(response)
        raise self._error(response)

    async def _post(self, form: Mapping[str, str]) -> str:
        response = await self._client.post(self._path, data=dict(form))
        if response.status_code in (200, 201):
            sid = _json(response).get("sid")
            if not isinstance(sid, str):
                raise GatewayUnavailable(PROVIDER, response.status_code, "", "answer without sid")
            return sid
        raise self._error(response)

    @staticmethod
    def _error(response: httpx.Response) -> GatewayRefused | GatewayUnavailable:
        payload = _json(response)
        code = str(payload.get("code") or response.status_code)
        message = str(payload.get("message") or response.reason_phrase)
        if is_transient_status(response.status_code) or code == THROTTLED:
            return GatewayUnavailable(PROVIDER, response.status_code, code, message)
        return GatewayRefused(PROVIDER, response.status_code, code, message)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
