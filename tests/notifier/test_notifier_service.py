"""The notifier's use cases on the in-memory twins: once per event, fallbacks, failures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast

from services.notifier.adapters.in_memory_ledger import InMemoryNotificationLedger
from services.notifier.adapters.store_configs import InMemoryStoreConfigs
from services.notifier.ports import Claim, LedgerState
from services.notifier.service import NotificationService
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.contracts.registry import decode_as
from shared.contracts.values import NotificationKind, OrderStatus, PaymentStatus
from shared.topics import NOTIFICATIONS_EVENTS
from tests.notifier.events import order_placed, payment_status_changed, status_changed
from tests.notifier.fakes import FakeMessenger
from tests.sinks import RecordingSink

TEMPLATES = {"ORDER_STATUS": "HXstatus", "PAYMENT_CONFIRMED": "HXpaid"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Ledger(InMemoryNotificationLedger):
    """The in-memory ledger with the sink it publishes to."""

    def __init__(self) -> None:
        self.sink = RecordingSink()
        super().__init__(self.sink)


def build(
    messenger: FakeMessenger, templates: Mapping[str, str] | None = None
) -> tuple[NotificationService, Ledger, Clock]:
    ledger = Ledger()
    clock = Clock()
    notifier = NotificationService(
        ledger, messenger, InMemoryStoreConfigs(), clock, templates=templates or {}
    )
    return notifier, ledger, clock


def audit(ledger: Ledger) -> list[NotificationSent | NotificationFailed]:
    assert {record.topic for record in ledger.sink.records} <= {NOTIFICATIONS_EVENTS}
    return [
        cast(
            NotificationSent | NotificationFailed,
            decode_as(record.value, NotificationSent, NotificationFailed),
        )
        for record in ledger.sink.records
    ]


async def test_an_event_handled_twice_sends_one_message() -> None:
    messenger = FakeMessenger()
    notifier, ledger, _ = build(messenger)
    event = status_changed("o1", OrderStatus.CONFIRMED)

    await notifier.notify(event)
    await notifier.notify(event)

    assert len(messenger.sent) == 1
    [sent] = audit(ledger)
    assert isinstance(sent, NotificationSent)
    assert sent.causation_id == str(event.event_id)
    assert sent.correlation_id == event.correlation_id
    assert (sent.client_id, sent.store_id) == (event.client_id, event.store_id)
    assert sent.kind is NotificationKind.ORDER_STATUS


async def test_a_claim_left_unfinished_by_a_crash_is_sent_again_and_marked() -> None:
    messenger = FakeMessenger()
    notifier, ledger, clock = build(messenger)
    event = status_changed("o1", OrderStatus.READY)
    notification_id = f"{event.event_id}:ORDER_STATUS"
    await ledger.claim(
        Claim(
            notification_id,
            str(event.event_id),
            NotificationKind.ORDER_STATUS,
            "o1",
            event.client_id,
            event.store_id,
            event.phone_number,
            clock(),
        )
    )

    await notifier.notify(event)

    assert len(messenger.sent) == 1
    entry = await ledger.entry(notification_id)
    assert entry is not None
    assert entry["possibleDuplicate"] is True
    assert entry["state"] is LedgerState.SENT


async def test_an_unfinished_claim_whose_message_twilio_lists_is_not_sent_again() -> None:
    messenger = FakeMessenger()
    notifier, ledger, clock = build(messenger)
    event = status_changed("o1", OrderStatus.READY)
    notification_id = f"{event.event_id}:ORDER_STATUS"
    await ledger.claim(
        Claim(
            notification_id,
            str(event.event_id),
            NotificationKind.ORDER_STATUS,
            "o1",
            event.client_id,
            event.store_id,
            event.phone_number,
            clock(),
        )
    )
    body = "Seu pedido #o1 está pronto! Em breve sairá para entrega."
    sid = await messenger.send(event.phone_number, body=body)  # then the process died

    await notifier.notify(event)

    assert len(messenger.sent) == 1
    [sent] = audit(ledger)
    assert isinstance(sent, NotificationSent)
    assert sent.twilio_sid == sid


async def test_63016_is_answered_by_sending_the_approved_template_once() -> None:
    messenger = FakeMessenger(refuse_free_form={"+5511987654321": "63016"})
    notifier, ledger, _ = build(messenger, TEMPLATES)

    await notifier.notify(status_changed("o1", OrderStatus.DELIVERED))

    assert messenger.sent == [{"to": "+5511987654321", "body": None, "content_sid": "HXstatus"}]
    [sent] = audit(ledger)
    assert isinstance(sent, NotificationSent)
    assert sent.template_sid == "HXstatus"


async def test_63016_without_a_configured_template_is_recorded_as_failed() -> None:
    messenger = FakeMessenger(refuse_free_form={"+5511987654321": "63016"})
    notifier, ledger, _ = build(messenger, {"PAYMENT_CONFIRMED": "HXpaid"})

    await notifier.notify(status_changed("o1", OrderStatus.DELIVERED))

    [failed] = audit(ledger)
    assert isinstance(failed, NotificationFailed)
    assert (failed.error_code, failed.permanent) == ("63016", True)


async def test_a_message_a_day_after_the_order_was_placed_uses_the_template_directly() -> None:
    messenger = FakeMessenger()
    notifier, _, clock = build(messenger, TEMPLATES)
    await notifier.notify(order_placed("o1", at=clock.now))
    clock.now += timedelta(hours=25)

    await notifier.notify(payment_status_changed("o1", PaymentStatus.PAID))

    assert [sent["content_sid"] for sent in messenger.sent] == [None, "HXpaid"]


async def test_twilio_still_unavailable_is_recorded_as_a_transient_failure() -> None:
    # The retries are the Twilio client's (tests/notifier/test_twilio_emulator.py); here the
    # messenger answers as the client does once they are spent.
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, _ = build(messenger)

    await notifier.notify(status_changed("o1", OrderStatus.READY))

    [failed] = audit(ledger)
    assert isinstance(failed, NotificationFailed)
    assert (failed.error_code, failed.permanent) == ("20503", False)
