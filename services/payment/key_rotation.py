"""`python -m services.payment.key_rotation`: re-encrypts every restaurant's stored Asaas
credentials with the newest key of PAYMENT_ENCRYPTION_KEY, so that older keys can be dropped.

Rotation: put the new key first in PAYMENT_ENCRYPTION_KEY (`new,old`) and roll the payment service
out; run this once; then drop the old key. Prints counts and restaurant ids, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field, replace
from typing import ClassVar

from cryptography.fernet import InvalidToken, MultiFernet
from pydantic import Field
from pymongo.errors import PyMongoError

from services.payment.adapters.mongo import MongoCredentialsRepository
from services.payment.config import EncryptionSettings, Settings
from services.payment.ports import CredentialsRepository
from shared.entrypoint import InvalidSettings, load_settings
from shared.mongo import connect
from shared.settings import ServiceSettings


class RotationSettings(ServiceSettings):
    """What a rotation reads: the payment service's database and its keys (no access settings)."""

    PORT: ClassVar[int] = Settings.PORT
    DATABASE: ClassVar[str] = Settings.DATABASE

    encryption: EncryptionSettings = Field(default_factory=EncryptionSettings)


@dataclass
class KeyRotation:
    """What one rotation did."""

    rotated: int = 0
    changed_meanwhile: int = 0
    """Stored anew while the rotation ran (by a service that encrypts with the newest key)."""
    unreadable: list[str] = field(default_factory=list)
    """Restaurants whose credentials no configured key opens: left as they are."""


async def rotate_keys(repository: CredentialsRepository, cipher: MultiFernet) -> KeyRotation:
    """Re-encrypts each restaurant's secrets with `cipher`'s first key; a restaurant whose
    credentials changed since they were read is left with the newer ones."""
    report = KeyRotation()
    client_ids = [client_id async for client_id in repository.client_ids()]
    for client_id in client_ids:
        stored = await repository.get(client_id)
        if stored is None:
            continue
        try:
            rotated = replace(
                stored,
                api_key_encrypted=cipher.rotate(stored.api_key_encrypted.encode()).decode(),
                webhook_token_encrypted=cipher.rotate(
                    stored.webhook_token_encrypted.encode()
                ).decode(),
            )
        except InvalidToken:
            report.unreadable.append(client_id)
            continue
        if await repository.replace_secrets(stored, rotated):
            report.rotated += 1
        else:
            report.changed_meanwhile += 1
    return report


async def _rotate(settings: RotationSettings) -> KeyRotation:
    client = connect(settings.mongo, app_name="payment-key-rotation")
    try:
        repository = MongoCredentialsRepository(client[settings.database])
        return await rotate_keys(repository, settings.encryption.cipher())
    finally:
        await client.close()


def main() -> None:
    argparse.ArgumentParser(
        prog="python -m services.payment.key_rotation",
        description="Re-encrypts every restaurant's stored Asaas credentials with the newest key "
        "of PAYMENT_ENCRYPTION_KEY (the first), so that older keys can be dropped. Reads "
        "MONGODB_URI, MONGODB_DATABASE and PAYMENT_ENCRYPTION_KEY.",
        epilog="example: PAYMENT_ENCRYPTION_KEY=NEW_KEY,OLD_KEY python -m "
        "services.payment.key_rotation",
    ).parse_args()
    try:
        settings = load_settings(RotationSettings)
    except InvalidSettings as error:
        sys.exit(f"key rotation: invalid settings: {error}")
    print(f"Re-encrypting stored Asaas credentials in database {settings.database!r}...")
    try:
        report = asyncio.run(_rotate(settings))
    except PyMongoError as error:  # the URI may hold a password: only the error's kind is told
        sys.exit(f"key rotation: MongoDB failed ({type(error).__name__}); nothing was rotated")
    print(
        f"{report.rotated} restaurant(s) re-encrypted with the newest key; "
        f"{report.changed_meanwhile} stored anew meanwhile (already under it)."
    )
    if report.unreadable:
        sys.exit(
            f"{len(report.unreadable)} restaurant(s) could not be decrypted with any configured "
            f"key and were left as they are: {', '.join(report.unreadable)}. Keep the key that "
            "opens them, or have those restaurants send their credentials again."
        )


if __name__ == "__main__":
    main()
