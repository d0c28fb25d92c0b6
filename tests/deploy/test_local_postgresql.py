"""The local PostgreSQL starts from a checkout its `postgres` user cannot reach (a clone in
/root, run as root): its cluster then lives in that user's own home."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from deploy.local.servers import PostgreSQLServer, free_port

pytestmark = pytest.mark.integration


def test_postgresql_starts_from_a_checkout_the_postgres_user_cannot_reach(tmp_path: Path) -> None:
    checkout = tmp_path / "root-only"
    checkout.mkdir(mode=0o700)
    server = PostgreSQLServer(home=checkout / ".local" / "state" / "postgresql", port=free_port())
    try:
        server.start()

        assert server.answers()
        if os.geteuid() == 0:
            assert not server.data_dir.is_relative_to(checkout)
            assert (server.data_dir / "PG_VERSION").exists()
        else:  # its own user runs it: the checkout is reachable
            assert server.data_dir == server.home / "data"
    finally:
        server.stop()
        if os.geteuid() == 0 and server.data_dir.exists():
            shutil.rmtree(server.data_dir)
