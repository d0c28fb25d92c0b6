"""The panel's forms: bounded url-encoded bodies, and the store configuration as a form and back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from fastapi import HTTPException, Request

from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus, PaymentMethod
from shared.http import BodyRefused, read_body

FORM_LIMIT = 128 * 1024
"""Bytes of one form: the configuration's nine templates of 1000 characters fit several times."""

Form = Mapping[str, list[str]]

CHECKBOXES = (
    "requiresConfirmation",
    "refundUnconfirmedOrders",
    "notifyCustomerOnStatusChange",
    "operatingHoursCheck",
)
METHODS = frozenset(method.value for method in PaymentMethod)
NUMBERS = ("autoConfirmationTimeout", "refundTimeout", "paymentTimeout")


async def form_of(request: Request) -> Form:
    """The request's url-encoded form; 413 beyond the limit, 400 when it is not one."""
    try:
        body = await read_body(request, FORM_LIMIT)
        return parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200)
    except BodyRefused as refused:
        raise HTTPException(refused.status, refused.problem) from None
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "o formulário não pôde ser lido") from None


def field(form: Form, name: str) -> str:
    """A form field's first value, stripped ('' when absent)."""
    return (form.get(name) or [""])[0].strip()


def config_fields(config: StoreOrderConfig) -> dict[str, Any]:
    """What the configuration form shows for `config`."""
    wire = config.to_wire()
    return {
        **{name: wire[name] for name in (*CHECKBOXES, "timeZone")},
        **{name: f"{wire[name]:g}" for name in NUMBERS},
        "storeName": config.store_name or "",
        "minimumOrderValue": f"{config.minimum_order_value:.2f}".replace(".", ","),
        "acceptedPaymentMethods": [method.value for method in config.accepted_payment_methods],
        "operatingHours": "\n".join(
            f"{hours.day} {hours.opens} {hours.closes}" for hours in config.operating_hours
        ),
        "whatsappSender": config.whatsapp_sender or "",
        "notificationTemplates": {
            status.value: text for status, text in config.notification_templates.items()
        },
    }


def config_document(form: Form, current: StoreOrderConfig) -> dict[str, Any]:
    """The configuration the form asks for, as the order service's PUT body: the current one
    with the form's fields over it (what the form does not show, e.g. approved templates, kept).
    Values go as typed, so that the order service's validation names whatever is wrong."""
    document = current.to_wire()
    for kept_out in ("clientId", "storeId", "updatedAt"):
        document.pop(kept_out, None)
    document |= {name: field(form, name) == "on" for name in CHECKBOXES}
    document |= {name: field(form, name) for name in NUMBERS}
    document |= {
        "storeName": field(form, "storeName") or None,
        "timeZone": field(form, "timeZone"),
        "minimumOrderValue": field(form, "minimumOrderValue").replace(",", ".") or "0",
        "acceptedPaymentMethods": [
            method for method in form.get("acceptedPaymentMethods", []) if method in METHODS
        ],
        "operatingHours": [_hours(line) for line in field(form, "operatingHours").splitlines()],
        "whatsappSender": field(form, "whatsappSender") or None,
        "notificationTemplates": {
            status.value: (form.get(f"template.{status.value}") or [""])[0]
            for status in OrderStatus
            if f"template.{status.value}" in form
        },
    }
    document["operatingHours"] = [hours for hours in document["operatingHours"] if hours]
    return document


def _hours(line: str) -> dict[str, str]:
    # `day opens closes`; a line of another shape goes as it is, for the order service to refuse.
    parts = line.split()
    if not parts:
        return {}
    return dict(zip(("day", "opens", "closes"), parts, strict=False))


def form_values(form: Form) -> dict[str, Any]:
    """A refused form's values, shown again as typed."""
    return {
        **{name: field(form, name) == "on" for name in CHECKBOXES},
        **{
            name: field(form, name)
            for name in (*NUMBERS, "storeName", "timeZone", "minimumOrderValue", "whatsappSender")
        },
        "operatingHours": field(form, "operatingHours"),
        "acceptedPaymentMethods": form.get("acceptedPaymentMethods", []),
        "notificationTemplates": {
            status.value: (form.get(f"template.{status.value}") or [""])[0]
            for status in OrderStatus
        },
    }


PROBLEMS_IN_PORTUGUESE = (
    (re.compile(r"Input should be greater than or equal to (\S+)"), "Deve ser no mínimo {0}."),
    (re.compile(r"Input should be less than or equal to (\S+)"), "Deve ser no máximo {0}."),
    (re.compile(r"Input should be a valid (number|decimal)"), "Informe um número."),
    (
        re.compile(r"Decimal input should have no more than (\d+) decimal"),
        "Use até {0} casas decimais.",
    ),
    (re.compile(r"String should have at most (\d+) characters"), "Use até {0} caracteres."),
    (re.compile(r"String should match pattern"), "Formato inválido."),
    (re.compile(r"List should have at least 1 item"), "Escolha ao menos um."),
    (re.compile(r"Field required"), "Obrigatório."),
    (re.compile(r"unknown time zone"), "Fuso horário desconhecido (ex.: America/Sao_Paulo)."),
    (re.compile(r"unknown day"), "Dia desconhecido: use 0 a 6 (0 = segunda) ou mon … sun."),
    (re.compile(r"unknown placeholder (\{[^}]*\})"), "Marcador desconhecido: {0}."),
)
"""The order service's validation problems said in Portuguese; any other is shown as it came."""


def in_portuguese(problem: str) -> str:
    for pattern, words in PROBLEMS_IN_PORTUGUESE:
        found = pattern.search(problem)
        if found:
            return words.format(*found.groups())
    return problem


def errors_by_field(errors: list[dict[str, str]]) -> dict[str, list[str]]:
    """The order service's field errors keyed by the form field they belong beside
    (`notificationTemplates.READY` beside that template, `operatingHours.0.opens` beside hours)."""
    found: dict[str, list[str]] = {}
    for error in errors:
        path = str(error.get("field", "")).split(".")
        name = path[0]
        if name == "notificationTemplates" and len(path) > 1:
            name = f"template.{path[1]}"
        found.setdefault(name or "geral", []).append(in_portuguese(str(error.get("problem", ""))))
    return found
