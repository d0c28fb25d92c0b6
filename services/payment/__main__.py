"""`python -m services.payment`: run the payment service until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from pydantic import ValidationError

from services.payment.app import SERVICE, build_app
from services.payment.config import Settings
from shared.http import serve
from shared.logs import configure_logging

ENV_NAMES = {"encryption_key": "PAYMENT_ENCRYPTION_KEY (a Fernet key, from a Kubernetes Secret)"}


def main() -> None:
    configure_logging(SERVICE)
    try:
        settings = Settings()
    except ValidationError as error:
        # Names and messages only: a setting's value may be a secret.
        problems = "; ".join(
            f"{ENV_NAMES.get(str(e['loc'][-1]), '.'.join(map(str, e['loc'])))}: {e['msg']}"
            for e in error.errors()
        )
        sys.exit(f"payment service: invalid settings: {problems}")
    asyncio.run(serve(build_app(settings), settings.http))


if __name__ == "__main__":
    main()
