"""The notifier's consumer on FastStream's test broker, with the in-memory ledger and store
configurations and a fake messenger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from services.notifier.adapters.in_memory_ledger import InMemoryNotificationLedger
from services.notifier.adapters.store_configs import InMemoryStoreConfigs
from services.notifier.handlers import subscriptions
from services.notifier.service import NotificationService
from shared.broker import BrokerSink
from shared.contracts.notifications import NotificationSent
from shared.contracts.payments import RefundFailed
from shared.contracts.values import OrderStatus
from shared.topics import NOTIFICATIONS_EVENTS, ORDERS_EVENTS, PAYMENTS_EVENTS
from tests.builders import PHONE, envelope, now
from tests.component.wiring import Running, in_memory_broker, running
from tests.notifier.events import status_changed
from tests.notifier.fakes import FakeMessenger


@dataclass
class Component:
    kafka: Running
    messenger: FakeMessenger


@pytest.fixture
async def component() -> AsyncIterator[Component]:
    broker = in_memory_broker()
    messenger = FakeMessenger()
    notifications = NotificationService(
        InMemoryNotificationLedger(BrokerSink(broker)),
        messenger,
        InMemoryStoreConfigs(),
        now,
        templates={},
    )
    async with running(broker, subscriptions(notifications), NOTIFICATIONS_EVENTS) as kafka:
        yield Component(kafka, messenger)


async def test_an_order_event_becomes_one_whatsapp_message_and_its_audit_event(
    component: Component,
) -> None:
    event = status_changed("o1", OrderStatus.READY)

    await component.kafka.send(ORDERS_EVENTS, event)

    assert [message["to"] for message in component.messenger.sent] == [PHONE]
    assert component.kafka.outputs.sent() == [(NOTIFICATIONS_EVENTS, "NotificationSent")]
    [audit] = component.kafka.outputs.messages(NotificationSent)
    assert (audit.source_event_id, audit.causation_id) == (event.event_id, str(event.event_id))


async def test_the_same_order_event_delivered_twice_sends_one_message(
    component: Component,
) -> None:
    event = status_changed("o1", OrderStatus.CONFIRMED)

    await component.kafka.send(ORDERS_EVENTS, event)
    await component.kafka.send(ORDERS_EVENTS, event)

    assert len(component.messenger.sent) == 1
    assert len(component.kafka.outputs.messages(NotificationSent)) == 1
    assert component.kafka.dead_letters.records == []


async def test_a_payment_alert_is_consumed_and_tells_the_customer_nothing(
    component: Component,
) -> None:
    alert = RefundFailed(
        **envelope(), order_id="o1", payment_id="pay_1", reason="insufficient balance", attempts=5
    )

    await component.kafka.send(PAYMENTS_EVENTS, alert)

    assert component.messenger.sent == []
    assert component.kafka.outputs.records == []
    assert component.kafka.dead_letters.records == []
