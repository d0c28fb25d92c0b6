"""`python -m services.<name>`: the one way a service starts (logging, settings, serving).

Settings are read group by group, so that one start reports every wrong variable; each problem
names its environment variable and never its value, which may be a secret.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from typing import TypeVar

import uvloop
from fastapi import FastAPI
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from shared.http import serve
from shared.logs import configure_logging
from shared.settings import ServiceSettings, settings_groups, variable_names

S = TypeVar("S", bound=ServiceSettings)


class InvalidSettings(Exception):
    """The environment does not make valid settings; `problems` name the variables."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings(settings_type: type[S]) -> S:
    """The service's `Settings`, each of its groups read from the environment."""
    groups: dict[str, BaseSettings] = {}
    problems: list[str] = []
    for name, group in settings_groups(settings_type).items():
        try:
            groups[name] = group()
        except ValidationError as error:
            problems.extend(_problems(group, error))
    if problems:
        raise InvalidSettings(problems)
    return settings_type(**groups)


def run_service(name: str, settings_type: type[S], build_app: Callable[[S], FastAPI]) -> None:
    """Configures logging, reads the settings and serves the app until SIGTERM; exits with a
    message naming each wrong variable when the settings are invalid.

    Two things only a service's own process does (docs/benchmarks.md, "uvloop, and the startup
    heap frozen"): it runs on uvloop, the same asyncio code on libuv for less CPU a message, and
    it freezes what its imports and app made (`gc.freeze`), so that the collector's full passes
    no longer walk it. Tests that run a service inside their own process use asyncio's loop;
    those that start it as a process, uvloop."""
    configure_logging(name)
    try:
        settings = load_settings(settings_type)
    except InvalidSettings as error:
        sys.exit(f"{name} service: invalid settings: {error}")
    app = build_app(settings)
    gc.freeze()  # over 100,000 objects, which live as long as the process
    uvloop.run(serve(app, settings.http.host, settings.port))


def _problems(group: type[BaseSettings], error: ValidationError) -> list[str]:
    problems = []
    for detail in error.errors(include_input=False, include_url=False, include_context=False):
        # A rule across fields has no location: it is named by the group's prefix.
        field, *inner = detail["loc"] or (f"{group.model_config.get('env_prefix') or ''}*",)
        where = "".join(f"[{part}]" for part in inner)
        problems.append(f"{_variable(group, str(field))}{where}: {detail['msg']}")
    return problems


def _variable(group: type[BaseSettings], loc: str) -> str:
    # pydantic locates an error by the field's name, or by its (first) alias when it has one.
    for field in group.model_fields:
        names = variable_names(group, field)
        if field == loc or loc.upper() in names:
            return " or ".join(names)
    return loc.upper()
