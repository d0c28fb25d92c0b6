"""The notifier's use cases on the in-memory twins: once per event, fallbacks, failures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import cast

from services.notifier.adapters.in_memory_ledger import InMemoryNotificationLedger
from services.notifier.adapters.store_configs import InMemoryStoreConfigs
from services.notifier.domain import messages_for
from services.notifier.messages import CustomerEvent
from services.notifier.ports import Claim, LedgerState
from services.notifier.service import NotificationService
from shared.contracts.notifications import (
    NotificationDropped,
    NotificationFailed,
    NotificationSent,
)
from shared.contracts.registry import decode_as
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import NotificationKind, OrderStatus, PaymentMethod, PaymentStatus
from shared.topics import NOTIFICATIONS_EVENTS
from tests.notifier.events import (
    instructions,
    order_placed,
    payment_status_changed,
    status_changed,
)
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
    messenger.clock = clock
    notifier = NotificationService(
        ledger, messenger, InMemoryStoreConfigs(), clock, templates=templates or {}
    )
    return notifier, ledger, clock


def claim_of(event: CustomerEvent, now: datetime) -> Claim:
    """The claim the notifier takes for the event's one message (with the default config)."""
    [message] = messages_for(event, StoreOrderConfig.default_for(event.client_id, event.store_id))
    return Claim(
        message.notification_id(event.event_id),
        str(event.event_id),
        message.kind,
        message.order_id,
        event.client_id,
        event.store_id,
        message.to,
        now,
        message,
        event,
        position=int(now.timestamp() * 1_000_000) + 1,
    )


Audit = NotificationSent | NotificationFailed | NotificationDropped


def audit(ledger: Ledger) -> list[Audit]:
    assert {record.topic for record in ledger.sink.records} <= {NOTIFICATIONS_EVENTS}
    return [
        cast(
            Audit,
            decode_as(record.value, NotificationSent, NotificationFailed, NotificationDropped),
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
    await ledger.claim(claim_of(event, clock()))

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
    await ledger.claim(claim_of(event, clock()))
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


async def test_a_message_waits_while_twilio_is_unavailable_and_goes_when_it_is_back() -> None:
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    event = status_changed("o1", OrderStatus.READY)

    await notifier.notify(event)

    assert audit(ledger) == []
    [waiting] = await ledger.waiting()
    assert waiting.last_error == "20503"
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)  # past the backoff

    await settle(notifier)

    [sent] = audit(ledger)
    assert isinstance(sent, NotificationSent)
    assert sent.causation_id == str(event.event_id)
    assert [m["body"] for m in messenger.sent] == [
        "Seu pedido #o1 está pronto! Em breve sairá para entrega."
    ]
    assert await ledger.waiting() == []


async def test_once_twilio_answers_again_every_waiting_message_goes_before_its_backoff_ends() -> (
    None
):
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    await notifier.notify(status_changed("o1", OrderStatus.READY))
    await notifier.notify(status_changed("o2", OrderStatus.READY, phone="+5511900001111"))
    for entry in await ledger.waiting():  # after a long outage, the next tries are minutes away
        retry_at = clock.now + timedelta(minutes=5)
        await ledger.wait(entry.notification_id, retry_at, attempt_at=None, error="20503")
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)  # past the in-line pause after Twilio failed

    await notifier.notify(status_changed("o3", OrderStatus.READY, phone="+5511900002222"))
    await settle(notifier)

    assert await ledger.waiting() == []
    assert sorted(str(m["body"]).split(" ")[2] for m in messenger.sent) == ["#o1", "#o2", "#o3"]


async def test_later_messages_of_an_order_queue_behind_one_waiting_and_keep_their_order() -> None:
    messenger = FakeMessenger(unavailable=True)
    notifier, _ledger, clock = build(messenger)
    paid = payment_status_changed("o1", PaymentStatus.PAID)
    await notifier.notify(paid)
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)  # past the in-line pause after Twilio failed

    await notifier.notify(status_changed("o1", OrderStatus.CONFIRMED))
    await notifier.notify(status_changed("o2", OrderStatus.CONFIRMED, phone="+5511900001111"))

    assert [m["to"] for m in messenger.sent] == ["+5511900001111"]  # o2 was not held up
    await settle(notifier)
    bodies = [str(m["body"]) for m in messenger.sent if m["to"] != "+5511900001111"]
    assert [body.split(" ")[0] for body in bodies] == ["Recebemos", "Seu"]
    assert "confirmado" in bodies[1]


async def test_a_waiting_status_message_passed_by_a_later_status_is_dropped_never_sent() -> None:
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    preparing = status_changed("o1", OrderStatus.PREPARING)
    delivered = status_changed("o1", OrderStatus.DELIVERED)
    await notifier.notify(preparing)

    await notifier.notify(delivered)
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)
    await settle(notifier)

    assert [m["body"] for m in messenger.sent] == ["Seu pedido #o1 foi entregue. Bom apetite!"]
    dropped, sent = audit(ledger)
    assert isinstance(dropped, NotificationDropped)
    assert (dropped.source_event_id, dropped.superseded_by) == (
        preparing.event_id,
        delivered.event_id,
    )
    assert isinstance(sent, NotificationSent)
    entry = await ledger.entry(f"{preparing.event_id}:ORDER_STATUS")
    assert entry is not None
    assert entry["state"] is LedgerState.DROPPED


async def test_a_later_status_queued_while_a_send_held_the_waiting_one_drops_it_in_the_loop() -> (
    None
):
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    preparing = status_changed("o1", OrderStatus.PREPARING)
    delivered = status_changed("o1", OrderStatus.DELIVERED)
    await notifier.notify(preparing)
    held = f"{preparing.event_id}:ORDER_STATUS"
    # The retry loop is sending it (its lease) when the later status comes: no drop then.
    assert await ledger.lease(held, clock.now, clock.now + timedelta(seconds=30))
    await notifier.notify(delivered)
    assert len(await ledger.waiting("o1")) == 2
    await ledger.wait(held, clock.now, attempt_at=clock.now, error="20503")  # that send failed

    await settle(notifier)  # Twilio still away

    [dropped] = audit(ledger)
    assert isinstance(dropped, NotificationDropped)
    assert (dropped.source_event_id, dropped.superseded_by) == (
        preparing.event_id,
        delivered.event_id,
    )
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)
    await settle(notifier)
    assert [m["body"] for m in messenger.sent] == ["Seu pedido #o1 foi entregue. Bom apetite!"]


async def test_waiting_payment_instructions_are_dropped_once_paid_and_the_payment_still_told() -> (
    None
):
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    await notifier.notify(instructions("o1", PaymentMethod.PIX))
    await notifier.notify(payment_status_changed("o1", PaymentStatus.PAID))
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)

    await settle(notifier)

    [body] = [m["body"] for m in messenger.sent]
    assert str(body).startswith("Recebemos o pagamento")
    assert [type(event) for event in audit(ledger)] == [NotificationDropped, NotificationSent]


async def test_a_message_still_waiting_when_its_window_ends_is_recorded_failed() -> None:
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    await notifier.notify(status_changed("o1", OrderStatus.READY))
    clock.now += timedelta(hours=7)

    await settle(notifier)

    [failed] = audit(ledger)
    assert isinstance(failed, NotificationFailed)
    assert (failed.error_code, failed.permanent) == ("20503", False)
    assert await ledger.waiting() == []
    assert messenger.sent == []


async def test_a_template_send_whose_answer_was_lost_is_found_in_twilio_not_sent_again() -> None:
    messenger = FakeMessenger(lose_answers=1)
    notifier, ledger, clock = build(messenger, TEMPLATES)
    await notifier.notify(order_placed("o1", at=clock.now))
    clock.now += timedelta(hours=25)  # outside the free-form window: templates only
    paid = payment_status_changed("o1", PaymentStatus.PAID)

    await notifier.notify(paid)
    clock.now += timedelta(seconds=10)
    await settle(notifier)

    assert [m["content_sid"] for m in messenger.sent] == [None, "HXpaid"]
    sent = audit(ledger)[-1]
    assert isinstance(sent, NotificationSent)
    assert (sent.twilio_sid, sent.template_sid) == (f"SM{2:032x}", "HXpaid")


async def test_a_lost_template_answer_is_not_matched_to_a_message_another_notification_holds() -> (
    None
):
    messenger = FakeMessenger()
    notifier, ledger, clock = build(messenger, TEMPLATES)
    await notifier.notify(order_placed("o1", at=clock.now - timedelta(hours=25)))
    paid = payment_status_changed("o1", PaymentStatus.PAID)
    await ledger.claim(claim_of(paid, clock()))  # claimed, then the process died unsent

    await notifier.notify(paid)

    # The status template just before is listed in Twilio, but it is the PENDING message's.
    assert [m["content_sid"] for m in messenger.sent] == ["HXstatus", "HXpaid"]


async def test_an_unfinished_claim_behind_a_waiting_message_of_its_order_queues_behind_it() -> None:
    messenger = FakeMessenger(unavailable=True)
    notifier, ledger, clock = build(messenger)
    await notifier.notify(payment_status_changed("o1", PaymentStatus.PAID))
    confirmed = status_changed("o1", OrderStatus.CONFIRMED)
    await ledger.claim(claim_of(confirmed, clock()))  # queued, then the process died
    messenger.unavailable = False
    clock.now += timedelta(seconds=10)

    await notifier.notify(confirmed)

    assert messenger.sent == []
    await settle(notifier)
    assert [str(m["body"]).split(" ")[0] for m in messenger.sent] == ["Recebemos", "Seu"]


async def settle(notifier: NotificationService) -> None:
    """Runs the retry loop's passes until one settles nothing."""
    while await notifier.send_waiting():
        pass


async def test_what_the_configuration_left_out_stays_unsent_when_its_event_comes_again() -> None:
    messenger = FakeMessenger()
    configs = InMemoryStoreConfigs()
    ledger = Ledger()
    notifier = NotificationService(ledger, messenger, configs, Clock())
    confirmed = status_changed("o1", OrderStatus.CONFIRMED)
    refunded = payment_status_changed("o1", PaymentStatus.REFUNDED)
    quiet = StoreOrderConfig(
        client_id=confirmed.client_id,
        store_id=confirmed.store_id,
        notify_customer_on_status_change=False,
    )
    configs.put(quiet)
    await notifier.notify(confirmed)
    configs.put(quiet.model_copy(update={"notify_customer_on_status_change": True}))
    await notifier.notify(refunded)  # told by the REFUNDED status message
    configs.put(quiet)

    # Both come again (a crash before their commit), each under the other configuration.
    await notifier.notify(refunded)
    configs.put(quiet.model_copy(update={"notify_customer_on_status_change": True}))
    await notifier.notify(confirmed)

    assert messenger.sent == []
    await notifier.notify(status_changed("o1", OrderStatus.READY))
    assert len(messenger.sent) == 1
