"""`python -m services.notifier`: run the notifier until SIGTERM."""

from __future__ import annotations

from services.notifier.app import SERVICE, build_app
from services.notifier.config import Settings
from shared.entrypoint import run_service


def main() -> None:
    run_service(SERVICE, Settings, build_app)


if __name__ == "__main__":
    main()
