"""Each service's own HTTP app, built by its `build_app` from an environment, without its
lifespan: nothing starts, and only a route that reads the database reaches it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from services.notifier.app import build_app as notifier_app
from services.order.app import build_app as order_app
from services.payment.app import build_app as payment_app
from services.scheduler.app import build_app as scheduler_app
from tests.access import TOKEN_ENV

ADMIN_TOKEN = "service-apps-admin-token"
ENCRYPTION_KEY = Fernet.generate_key().decode()
BUILDERS: dict[str, Callable[[], FastAPI]] = {
    "order": order_app,
    "payment": payment_app,
    "notifier": notifier_app,
    "scheduler": scheduler_app,
}
SERVICES = sorted(BUILDERS)


def build_service_app(name: str, env: Mapping[str, str] | None = None) -> FastAPI:
    """The service's app with the tests' tokens and admin token, and `env` besides."""
    given = TOKEN_ENV | {"ADMIN_TOKEN": ADMIN_TOKEN, "PAYMENT_ENCRYPTION_KEY": ENCRYPTION_KEY}
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in (given | dict(env or {})).items():
            patch.setenv(variable, value)
        return BUILDERS[name]()
