"""`python -m services.panel`: run the restaurant panel until SIGTERM."""

from __future__ import annotations

from services.panel.app import SERVICE, build_app
from services.panel.config import Settings
from shared.entrypoint import run_service


def main() -> None:
    run_service(SERVICE, Settings, build_app)


if __name__ == "__main__":
    main()
