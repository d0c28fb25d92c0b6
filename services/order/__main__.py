"""`python -m services.order`: run the order service until SIGTERM."""

from __future__ import annotations

from services.order.app import SERVICE, build_app
from services.order.config import Settings
from shared.entrypoint import run_service


def main() -> None:
    run_service(SERVICE, Settings, build_app)


if __name__ == "__main__":
    main()
