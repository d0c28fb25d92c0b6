"""`python -m services.order`: run the order service until SIGTERM."""

from __future__ import annotations

import asyncio

from services.order.app import SERVICE, build_app
from services.order.config import Settings
from shared.http import serve
from shared.logs import configure_logging


def main() -> None:
    configure_logging(SERVICE)
    settings = Settings()
    asyncio.run(serve(build_app(settings), settings.http))


if __name__ == "__main__":
    main()
