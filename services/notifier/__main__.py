"""`python -m services.notifier`: run the notifier until SIGTERM."""

from __future__ import annotations

import asyncio

from services.notifier.app import SERVICE, build_app
from services.notifier.config import Settings
from shared.http import serve
from shared.logs import configure_logging


def main() -> None:
    configure_logging(SERVICE)
    settings = Settings()
    asyncio.run(serve(build_app(settings), settings.http))


if __name__ == "__main__":
    main()
