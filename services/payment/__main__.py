"""`python -m services.payment`: run the payment service until SIGTERM."""

from __future__ import annotations

from services.payment.app import SERVICE, build_app
from services.payment.config import Settings
from shared.entrypoint import run_service


def main() -> None:
    run_service(SERVICE, Settings, build_app)


if __name__ == "__main__":
    main()
