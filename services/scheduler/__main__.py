"""`python -m services.scheduler`: run the scheduler until SIGTERM."""

from __future__ import annotations

from services.scheduler.app import SERVICE, build_app
from services.scheduler.config import Settings
from shared.entrypoint import run_service


def main() -> None:
    run_service(SERVICE, Settings, build_app)


if __name__ == "__main__":
    main()
