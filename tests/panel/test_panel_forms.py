"""The configuration form to the order service's body and back, and its errors beside fields."""

from __future__ import annotations

from services.panel.forms import config_document, config_fields, errors_by_field
from shared.contracts.stores import StoreOrderConfig

CURRENT = StoreOrderConfig.model_validate(
    {
        "clientId": "c1",
        "storeId": "s1",
        "storeName": "Burger da Praça",
        "whatsappTemplates": {"ORDER_STATUS": "HX" + "0" * 32},
    }
)


def test_the_form_shows_the_configuration_as_a_person_reads_it() -> None:
    fields = config_fields(CURRENT)

    assert fields["storeName"] == "Burger da Praça"
    assert fields["minimumOrderValue"] == "0,00"
    assert fields["refundTimeout"] == "60"
    assert fields["acceptedPaymentMethods"] == ["PIX", "CREDIT", "DEBIT", "CASH"]
    assert fields["notificationTemplates"]["READY"].startswith("Seu pedido")


def test_the_form_becomes_the_whole_configuration_keeping_what_it_does_not_show() -> None:
    form = {
        "storeName": [" Burger Novo "],
        "requiresConfirmation": ["on"],
        "autoConfirmationTimeout": ["5"],
        "acceptedPaymentMethods": ["PIX", "CASH", "BITCOIN"],
        "minimumOrderValue": ["25,50"],
        "operatingHours": ["0 11:00 23:00\n\nsun 18:00"],
        "whatsappSender": [""],
        "template.READY": ["Pronto, {customer_name}!"],
    }

    document = config_document(form, CURRENT)

    assert document["storeName"] == "Burger Novo"
    assert document["requiresConfirmation"] is True
    assert document["refundUnconfirmedOrders"] is False
    assert document["acceptedPaymentMethods"] == ["PIX", "CASH"]
    assert document["minimumOrderValue"] == "25.50"
    assert document["operatingHours"] == [
        {"day": "0", "opens": "11:00", "closes": "23:00"},
        {"day": "sun", "opens": "18:00"},
    ]
    assert document["whatsappSender"] is None
    assert document["notificationTemplates"] == {"READY": "Pronto, {customer_name}!"}
    assert document["whatsappTemplates"] == {"ORDER_STATUS": "HX" + "0" * 32}
    assert "clientId" not in document


def test_each_error_goes_beside_its_field_in_portuguese_and_a_template_beside_its_status() -> None:
    errors = errors_by_field(
        [
            {
                "field": "autoConfirmationTimeout",
                "problem": "Input should be greater than or equal to 0",
            },
            {"field": "operatingHours.1.closes", "problem": "Field required"},
            {
                "field": "notificationTemplates.READY",
                "problem": "String should have at most 1000 characters",
            },
            {"field": "", "problem": "body must be a JSON object"},
        ]
    )

    assert errors == {
        "autoConfirmationTimeout": ["Deve ser no mínimo 0."],
        "operatingHours": ["Obrigatório."],
        "template.READY": ["Use até 1000 caracteres."],
        "geral": ["body must be a JSON object"],
    }
