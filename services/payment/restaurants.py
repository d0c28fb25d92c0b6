"""Per-restaurant Asaas credentials: encrypted at rest, webhook registered in the same call.

The API key and webhook token are Fernet-encrypted before they reach MongoDB and are held as
`SecretStr` in memory, so they appear in no log line, event, error or HTTP answer.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet
from pydantic import SecretStr

from services.payment.adapters.asaas_client import AsaasClients
from services.payment.domain import WEBHOOK_SIGNALS
from services.payment.ports import AsaasAccount, CredentialsRepository, StoredCredentials
from shared.gateway import GatewayRefused

log = logging.getLogger(__name__)

WEBHOOK_EVENTS = sorted(WEBHOOK_SIGNALS)
_DUMMY_TOKEN = b"no-restaurant-has-this-token-0000000000000000"
WEBHOOK_TOKEN_TRUST = timedelta(seconds=5)
"""How long a webhook token that matched the stored one is taken without reading it again: a
token replaced through another replica is still taken that long by this one (a new token is
taken at once: a token that does not match is always read again)."""


class Restaurants:
    def __init__(
        self,
        repository: CredentialsRepository,
        cipher: MultiFernet,
        clients: AsaasClients,
        *,
        public_base_url: str,
        webhook_email: str,
        clock: Callable[[], datetime],
        webhook_token_trust: timedelta = WEBHOOK_TOKEN_TRUST,
    ) -> None:
        self._repository = repository
        self._cipher = cipher
        self._clients = clients
        self._public_base_url = public_base_url.rstrip("/")
        self._webhook_email = webhook_email
        self._clock = clock
        self._token_trust = webhook_token_trust
        self._matched_tokens: dict[str, tuple[SecretStr, datetime]] = {}
        """Per restaurant, the webhook token last read that a webhook matched, and when read."""

    def webhook_url(self, client_id: str) -> str:
        return f"{self._public_base_url}/webhooks/asaas/{client_id}"

    def _decrypt(self, token: str) -> SecretStr | None:
        try:
            return SecretStr(self._cipher.decrypt(token.encode()).decode())
        except InvalidToken:
            log.error("stored Asaas credentials cannot be decrypted with the configured keys")
            return None

    async def account(self, client_id: str) -> AsaasAccount | None:
        """The restaurant's Asaas account, or None when it has no (readable) credentials."""
        stored = await self._repository.get(client_id)
        if stored is None:
            return None
        api_key = self._decrypt(stored.api_key_encrypted)
        return None if api_key is None else self._clients.account(stored.base_url, api_key)

    async def webhook_token_matches(self, client_id: str, given: str | None) -> bool:
        """Constant-time check of the `asaas-access-token` header against the stored token,
        read again unless it matched within `webhook_token_trust` (a busy restaurant's webhooks
        then cost no read each)."""
        recent = self._matched_tokens.get(client_id)
        if (
            recent is not None
            and self._clock() - recent[1] < self._token_trust
            and _same_token(given, recent[0])
        ):
            return True
        read_at = self._clock()
        stored = await self._repository.get(client_id)
        expected = None if stored is None else self._decrypt(stored.webhook_token_encrypted)
        if not _same_token(given, expected):
            return False
        assert expected is not None
        self._matched_tokens[client_id] = (expected, read_at)
        return True

    async def configure(
        self, client_id: str, api_key: SecretStr, webhook_token: SecretStr, base_url: str
    ) -> dict[str, Any]:
        """Registers (or updates) the restaurant's webhook on Asaas, then stores the
        credentials encrypted. Raises the gateway's errors when Asaas refuses or fails."""
        account = self._clients.account(base_url, api_key)
        url = self.webhook_url(client_id)
        fields = {
            "name": f"restaurant-orders {client_id}",
            "url": url,
            "email": self._webhook_email,
            "enabled": True,
            "interrupted": False,
            "apiVersion": 3,
            "authToken": webhook_token.get_secret_value(),
            "sendType": "SEQUENTIALLY",
            "events": WEBHOOK_EVENTS,
        }
        previous = await self._repository.get(client_id)
        existing = [hook for hook in await account.list_webhooks() if hook.get("url") == url]
        if not existing and previous is not None and previous.webhook_id:
            existing = [{"id": previous.webhook_id}] if previous.base_url == base_url else []
        webhook_id = str(existing[0]["id"]) if existing else None
        if webhook_id is not None:
            try:
                await account.update_webhook(webhook_id, fields)
            except GatewayRefused as error:
                if error.status != 404:
                    raise
                webhook_id = None  # deleted on Asaas since we stored its id: register anew
        if webhook_id is None:
            webhook_id = str((await account.create_webhook(fields))["id"])
        stored = StoredCredentials(
            client_id=client_id,
            api_key_encrypted=self._cipher.encrypt(api_key.get_secret_value().encode()).decode(),
            webhook_token_encrypted=self._cipher.encrypt(
                webhook_token.get_secret_value().encode()
            ).decode(),
            base_url=base_url,
            webhook_id=webhook_id,
            webhook_url=url,
            updated_at=self._clock(),
        )
        await self._repository.put(stored)
        self._matched_tokens.pop(client_id, None)
        log.info(
            "Asaas credentials of %s stored; webhook %s points at %s", client_id, webhook_id, url
        )
        return self._summary(stored)

    async def summary(self, client_id: str) -> dict[str, Any] | None:
        """What may be shown about a restaurant's Asaas setup: nothing secret."""
        stored = await self._repository.get(client_id)
        return None if stored is None else self._summary(stored)

    @staticmethod
    def _summary(stored: StoredCredentials) -> dict[str, Any]:
        return {
            "clientId": stored.client_id,
            "configured": True,
            "baseUrl": stored.base_url,
            "webhookId": stored.webhook_id,
            "webhookUrl": stored.webhook_url,
            "updatedAt": stored.updated_at.isoformat(),
        }


def _same_token(given: str | None, expected: SecretStr | None) -> bool:
    """Constant-time comparison; False without a given or an expected token."""
    wanted = _DUMMY_TOKEN if expected is None else expected.get_secret_value().encode()
    matches = hmac.compare_digest((given or "").encode(), wanted)
    return matches and expected is not None and given is not None
