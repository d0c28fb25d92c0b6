"""The PIX QR images the customer's WhatsApp fetches: kept under an unguessable token until the
code expires, served at `<PUBLIC_BASE_URL>/pix/<token>.png`."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from services.payment.ports import PixImage, PixImageStore
from shared.contracts.payments import PaymentInstructions
from shared.remembered import Remembered

log = logging.getLogger(__name__)

TOKEN_BYTES = 24
"""192 random bits name an image: its address is its only key."""
UNDATED_LIFETIME = timedelta(hours=24)
"""How long the image of a code Asaas gave no expiration lives (its charge's due day)."""
PRUNE_INTERVAL_S = 600.0
RECENT_IMAGES = 1000
"""Images this process stored last, kept in memory too: WhatsApp fetches an image seconds after
its charge is made, mostly from the replica that made it, which then reads no database."""


def image_path(token: str) -> str:
    """The public path of an image (the route and the HTTPRoute name its prefix `/pix/`)."""
    return f"/pix/{token}.png"


class PixImages:
    """Stores each charge's QR image and answers for it while its code is valid."""

    def __init__(
        self, store: PixImageStore, public_base_url: str, clock: Callable[[], datetime]
    ) -> None:
        self._store = store
        self._base_url = public_base_url.rstrip("/")
        self._clock = clock
        self._recent: Remembered[str, PixImage] = Remembered(RECENT_IMAGES)

    async def publish(self, instructions: PaymentInstructions) -> PaymentInstructions:
        """The instructions with their QR image's public URL, once the image is stored (as they
        are when they carry no readable image)."""
        if not instructions.pix_qr_code_image:
            return instructions
        try:
            png = base64.b64decode(instructions.pix_qr_code_image, validate=True)
        except binascii.Error:
            log.warning("Asaas's PIX QR image is not base64; the code is sent without it")
            return instructions
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = instructions.expires_at or self._clock() + UNDATED_LIFETIME
        image = PixImage(token=token, png=png, expires_at=expires_at)
        await self._store.put(image)
        self._recent.put(token, image)
        url = f"{self._base_url}{image_path(token)}"
        return instructions.model_copy(update={"pix_qr_code_url": url})

    async def image(self, token: str) -> bytes | None:
        """The PNG named `token`, or None when there is none or its code expired."""
        found = self._recent.get(token) or await self._store.get(token)
        if found is None or found.expires_at <= self._clock():
            return None
        return found.png

    async def prune(self) -> None:
        """Forgets expired images (a background loop)."""
        while True:
            try:
                forgotten = await self._store.prune(self._clock())
                if forgotten:
                    log.info("forgot %d expired PIX image(s)", forgotten)
            except Exception:
                log.exception("pruning PIX images failed; trying again later")
            await asyncio.sleep(PRUNE_INTERVAL_S)
