"""Key rotation: every stored credential re-encrypted with the newest key, so that the old key
can be dropped; what no key opens is left and named; newer credentials are never overwritten."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from deploy.local.servers import REPO_ROOT
from services.payment.adapters.in_memory import InMemoryCredentialsRepository
from services.payment.adapters.mongo import MongoCredentialsRepository
from services.payment.key_rotation import rotate_keys
from services.payment.ports import StoredCredentials
from shared.mongo import Database

OLD, NEW, FOREIGN = (Fernet.generate_key() for _ in range(3))
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def sealed(client_id: str, key: bytes, api_key: str = "api-key") -> StoredCredentials:
    fernet = Fernet(key)
    return StoredCredentials(
        client_id=client_id,
        api_key_encrypted=fernet.encrypt(f"{api_key}-{client_id}".encode()).decode(),
        webhook_token_encrypted=fernet.encrypt(f"token-{client_id}".encode()).decode(),
        base_url="https://api-sandbox.asaas.com/v3",
        webhook_id="wh-1",
        webhook_url="https://payments.example/webhooks/asaas/" + client_id,
        updated_at=NOW,
    )


def opened(stored: StoredCredentials | None, key: bytes) -> tuple[str, str]:
    assert stored is not None
    fernet = Fernet(key)
    return (
        fernet.decrypt(stored.api_key_encrypted.encode()).decode(),
        fernet.decrypt(stored.webhook_token_encrypted.encode()).decode(),
    )


async def test_credentials_under_the_old_key_open_with_the_new_key_alone_after_rotation(
    database: Database,
) -> None:
    repository = MongoCredentialsRepository(database)
    for client_id in ("r-1", "r-2"):
        await repository.put(sealed(client_id, OLD))
    await repository.put(sealed("r-lost", FOREIGN))

    report = await rotate_keys(repository, MultiFernet([Fernet(NEW), Fernet(OLD)]))

    assert (report.rotated, report.changed_meanwhile, report.unreadable) == (2, 0, ["r-lost"])
    assert opened(await repository.get("r-1"), NEW) == ("api-key-r-1", "token-r-1")
    assert opened(await repository.get("r-2"), NEW) == ("api-key-r-2", "token-r-2")
    assert opened(await repository.get("r-lost"), FOREIGN) == ("api-key-r-lost", "token-r-lost")
    with pytest.raises(InvalidToken):
        opened(await repository.get("r-1"), OLD)


async def test_credentials_stored_anew_during_the_rotation_are_not_overwritten() -> None:
    class PutDuringRotation(InMemoryCredentialsRepository):
        async def get(self, client_id: str) -> StoredCredentials | None:
            found = await super().get(client_id)
            # The restaurant sends new credentials right after the rotation read its old ones.
            await self.put(replace(sealed(client_id, NEW, api_key="fresh"), webhook_id="wh-2"))
            return found

    repository = PutDuringRotation()
    await repository.put(sealed("r-3", OLD))

    report = await rotate_keys(repository, MultiFernet([Fernet(NEW), Fernet(OLD)]))

    assert (report.rotated, report.changed_meanwhile) == (0, 1)
    assert opened(repository.credentials["r-3"], NEW) == ("fresh-r-3", "token-r-3")
    assert repository.credentials["r-3"].webhook_id == "wh-2"


async def test_the_command_line_rotates_and_names_what_it_could_not_open(
    database: Database, mongodb_uri: str
) -> None:
    repository = MongoCredentialsRepository(database)
    await repository.put(sealed("r-4", OLD))
    await repository.put(sealed("r-5", FOREIGN))
    env = os.environ | {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": database.name,
        "PAYMENT_ENCRYPTION_KEY": f"{NEW.decode()},{OLD.decode()}",
    }

    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.payment.key_rotation"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 1
    assert "1 restaurant(s) re-encrypted with the newest key" in run.stdout
    assert "could not be decrypted with any configured key" in run.stderr
    assert "r-5" in run.stderr
    assert "Traceback" not in run.stderr
    for secret in (NEW.decode(), OLD.decode(), "api-key-r-4"):
        assert secret not in run.stdout + run.stderr
    assert opened(await repository.get("r-4"), NEW) == ("api-key-r-4", "token-r-4")
