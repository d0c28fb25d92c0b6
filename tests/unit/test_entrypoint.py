"""A service's start: settings read from the environment, and errors that name, never show."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys

import pytest
import uvloop
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import AliasChoices, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notifier.config import Settings as NotifierSettings
from services.order.config import Settings as OrderSettings
from services.payment.config import ASAAS_APIS, AsaasSettings
from services.payment.config import Settings as PaymentSettings
from shared import entrypoint
from shared.entrypoint import InvalidSettings, load_settings, run_service
from shared.settings import ServiceSettings

# Values that must never be echoed, whichever setting they were given to.
WRONG_VALUES = {
    "KAFKA_TOPIC_PARTITIONS": "s3cret-partitions",
    "PAYMENT_ENCRYPTION_KEY": "s3cret-not-a-fernet-key",
    "ASAAS_ATTEMPTS": "s3cret-attempts",
    "HTTP_PORT": "s3cret-port",
}


@pytest.fixture(autouse=True)
def local_system(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the environment as the local run gives it (the default ADMIN_TOKEN)."""
    monkeypatch.setenv("LOCAL_RUN", "true")
    monkeypatch.delenv("ADMIN_TOKEN", raising=False)


def refusal(settings_type: type[ServiceSettings]) -> InvalidSettings:
    """What reading `settings_type` from the environment raises (it must raise)."""
    with pytest.raises(InvalidSettings) as raised:
        load_settings(settings_type)
    return raised.value


def test_every_wrong_variable_is_named_and_no_value_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, value in WRONG_VALUES.items():
        monkeypatch.setenv(variable, value)

    refused = refusal(PaymentSettings)

    named = {problem.split(":")[0].split("[")[0] for problem in refused.problems}
    assert named == set(WRONG_VALUES)
    assert "key #1 is not a Fernet key" in str(refused)
    for value in WRONG_VALUES.values():
        assert value not in str(refused)


def test_a_missing_required_secret_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYMENT_ENCRYPTION_KEY", raising=False)

    refused = refusal(PaymentSettings)

    assert refused.problems == ["PAYMENT_ENCRYPTION_KEY: Field required"]


def test_a_wrong_entry_of_a_map_setting_is_named_by_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_CONTENT_TEMPLATES", '{"ORDER_STATUS": ["s3cret"]}')

    refused = refusal(NotifierSettings)

    assert refused.problems == [
        "TWILIO_CONTENT_TEMPLATES[ORDER_STATUS]: Input should be a valid string"
    ]
    assert "s3cret" not in str(refused)


class _Aliased(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ALIASED_", extra="ignore")

    rate: int = Field(default=1, validation_alias="RATE_PER_S")
    limit: int = Field(default=1, validation_alias=AliasChoices("ALIASED_LIMIT", "OLD_LIMIT"))
    floor: int = 0
    ceiling: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> _Aliased:
        if self.floor > self.ceiling:
            raise ValueError("ALIASED_FLOOR is above ALIASED_CEILING")
        return self


class _AliasedSettings(ServiceSettings):
    aliased: _Aliased = Field(default_factory=_Aliased)


def test_a_setting_read_under_an_alias_is_named_by_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_PER_S", "s3cret-rate")
    monkeypatch.setenv("OLD_LIMIT", "s3cret-limit")

    refused = refusal(_AliasedSettings)

    named = sorted(problem.split(":")[0] for problem in refused.problems)
    assert named == ["ALIASED_LIMIT or OLD_LIMIT", "RATE_PER_S"]
    assert "s3cret" not in str(refused)


def test_a_rule_across_settings_is_reported_under_its_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALIASED_FLOOR", "11")

    refused = refusal(_AliasedSettings)

    assert refused.problems == ["ALIASED_*: Value error, ALIASED_FLOOR is above ALIASED_CEILING"]


def test_valid_settings_take_the_environment_and_the_service_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "3")
    monkeypatch.delenv("HTTP_PORT", raising=False)

    settings = load_settings(OrderSettings)

    assert settings.kafka.topic_partitions == 3
    assert settings.port == 8081
    assert settings.database == "orders"
    assert settings == OrderSettings()


def test_the_environment_overrides_a_services_own_port_and_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PORT", "9181")
    monkeypatch.setenv("MONGODB_DATABASE", "orders_eu")

    settings = load_settings(OrderSettings)

    assert (settings.port, settings.database) == (9181, "orders_eu")


def start(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m <module>` with `env`, run to its end (a refusing service exits at once)."""
    return subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_service_serves_on_uvloop_with_its_startup_heap_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[tuple[FastAPI, str, int, type]] = []
    frozen: list[int] = []

    async def serve(app: FastAPI, host: str, port: int) -> None:
        served.append((app, host, port, type(asyncio.get_running_loop())))
        frozen.append(gc.get_freeze_count())
        gc.unfreeze()  # this test process goes on

    monkeypatch.setattr(entrypoint, "serve", serve)
    monkeypatch.setattr(entrypoint, "configure_logging", lambda name: None)
    app = FastAPI()

    run_service("order", OrderSettings, lambda settings: app)

    assert served == [(app, "127.0.0.1", 8081, uvloop.Loop)]
    assert frozen[0] > 10_000


def test_a_service_started_with_a_wrong_secret_exits_naming_it() -> None:
    wrong = f"{Fernet.generate_key().decode()},s3cret-second-key"

    started = start("services.payment", dict(os.environ) | {"PAYMENT_ENCRYPTION_KEY": wrong})

    assert started.returncode == 1
    assert started.stderr.startswith(
        "payment service: invalid settings: PAYMENT_ENCRYPTION_KEY: Value error, "
        "PAYMENT_ENCRYPTION_KEY key #2 is not a Fernet key"
    )
    assert "s3cret" not in started.stderr
    assert wrong.split(",")[0] not in started.stderr


@pytest.mark.parametrize("settings_type", [OrderSettings, PaymentSettings])
def test_the_local_default_admin_token_is_refused_outside_the_local_system(
    monkeypatch: pytest.MonkeyPatch, settings_type: type[ServiceSettings]
) -> None:
    monkeypatch.setenv("PAYMENT_ENCRYPTION_KEY", Fernet.generate_key().decode())
    monkeypatch.delenv("LOCAL_RUN")

    refused = refusal(settings_type)

    assert refused.problems == [
        "ADMIN_TOKEN: Value error, is the local default, which only the local system accepts "
        "(LOCAL_RUN=true); set a secret token"
    ]
    assert "local-admin-token" not in str(refused)


def test_a_secret_admin_token_needs_no_local_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_RUN")
    monkeypatch.setenv("ADMIN_TOKEN", "a-secret-operator-token")

    settings = load_settings(OrderSettings)

    assert settings.access.admin_token.get_secret_value() == "a-secret-operator-token"
    assert not settings.access.local_run


def test_the_local_system_takes_the_local_default_admin_token() -> None:
    settings = load_settings(OrderSettings)

    assert settings.access.admin_token.get_secret_value() == "local-admin-token"


def test_an_order_service_deployed_with_the_local_admin_token_does_not_start() -> None:
    env = {name: value for name, value in os.environ.items() if name != "LOCAL_RUN"}

    started = start("services.order", env | {"ADMIN_TOKEN": "local-admin-token"})

    assert started.returncode == 1
    assert started.stderr.startswith(
        "order service: invalid settings: ADMIN_TOKEN: Value error, is the local default"
    )


def test_the_asaas_apis_a_restaurant_may_name_are_https_or_the_local_emulator() -> None:
    assert AsaasSettings().base_urls == list(ASAAS_APIS)
    local = AsaasSettings(base_urls="https://api.asaas.com/v3/, http://127.0.0.1:8701/v3")
    assert local.base_urls == ["https://api.asaas.com/v3", "http://127.0.0.1:8701/v3"]
    for refused in ("http://asaas.example/v3", "ftp://127.0.0.1/v3", "https:///v3"):
        with pytest.raises(ValidationError, match="https"):
            AsaasSettings(base_urls=refused)
