"""The order service's use cases on the in-memory twins: what is stored, what is published where,
and what a repeated, refused, misdirected or concurrent message does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from services.order.adapters.in_memory import (
    InMemoryOrderNumbers,
    InMemoryOrderRepository,
    InMemoryStoreConfigRepository,
    InMemoryStoreTopics,
)
from services.order.domain.decisions import PosReport
from services.order.domain.errors import WrongStore
from services.order.domain.order import MAX_HANDLED_EVENTS, Order
from services.order.handlers import (
    PAYMENTS,
    answer_malformed,
    answer_unreadable_pos_update,
    decode_command,
    decode_pos_update,
    pos_update_handler,
)
from services.order.service import OrderService, order_id_for
from shared.consumer import ReceivedRecord
from shared.contracts.orders import OrderPlaced, OrderRejected, PlaceOrder
from shared.contracts.payments import (
    PaymentChargebackReported,
    PaymentSucceeded,
    RequestPayment,
    RequestRefund,
)
from shared.contracts.pos import (
    PosOrderCancelled,
    PosOrderConfirmed,
    PosOrderReceived,
    PosOrderRejected,
    PosOrderStatusUpdated,
    PosUpdateRejected,
)
from shared.contracts.registry import ContractError
from shared.contracts.scheduler import ScheduleTimer, TimerFired
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import OrderStatus, PaymentStatus, ReasonCode
from shared.errors import PermanentError
from shared.processed_events import event_key
from shared.records import OutgoingRecord
from shared.topics import (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PAYMENTS_COMMANDS,
    SCHEDULER_COMMANDS,
    pos_orders_topic,
    pos_updates_topic,
)
from tests.builders import CLIENT, STORE, cancel_order, caused, item, place_order, pos_update
from tests.sinks import RecordingSink, messages, sent

T0 = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
KITCHEN = pos_orders_topic(CLIENT, STORE)


class InterleavedOrders(InMemoryOrderRepository):
    """Runs `meanwhile` once, just before the next save: another replica's write landing
    between this replica's read and its write."""

    meanwhile: Callable[[], Awaitable[None]] | None = None

    async def save(
        self, order: Order, expected_version: int, records: Sequence[OutgoingRecord], now: datetime
    ) -> None:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            await meanwhile()
        await super().save(order, expected_version, records, now)


@dataclass
class World:
    orders: InterleavedOrders
    configs: InMemoryStoreConfigRepository
    store_topics: InMemoryStoreTopics
    sink: RecordingSink
    numbers: InMemoryOrderNumbers = field(default_factory=InMemoryOrderNumbers)

    def replica(self) -> OrderService:
        """An order service on these repositories (each call another replica)."""
        return OrderService(
            self.orders,
            self.configs,
            numbers=self.numbers,
            sink=self.sink,
            store_topics=self.store_topics,
            clock=lambda: T0,
        )

    async def configure(self, **fields: object) -> None:
        config = StoreOrderConfig.model_validate({"client_id": CLIENT, "store_id": STORE} | fields)
        await self.configs.put(config, [], T0)

    async def placed(self, service: OrderService, command: PlaceOrder) -> Order:
        """`command` placed through `service`, and the order it stored."""
        await service.place(command)
        return await self.stored(command)

    async def stored(self, command: PlaceOrder) -> Order:
        order = await self.orders.get(order_id_for(command))
        assert order is not None
        return order


def paid_for(request: RequestPayment) -> PaymentSucceeded:
    """The payment service's answer: the charge `request` asked for was paid."""
    return caused(
        request,
        PaymentSucceeded,
        order_id=request.order_id,
        payment_id="pay_1",
        amount_cents=request.amount_cents,
        paid_at=T0,
    )


def fired(timer: ScheduleTimer) -> TimerFired:
    """The scheduler's answer: `timer` came due."""
    return caused(
        timer,
        TimerFired,
        timer_id=timer.timer_id,
        purpose=timer.purpose,
        order_id=timer.order_id,
        due_at=timer.due_at,
        fired_at=timer.due_at,
    )


@pytest.fixture
def world() -> World:
    sink = RecordingSink()
    return World(
        InterleavedOrders(sink), InMemoryStoreConfigRepository(sink), InMemoryStoreTopics(), sink
    )


@pytest.fixture
def service(world: World) -> OrderService:
    return world.replica()


async def test_a_cash_order_is_stored_confirmed_and_sent_to_the_kitchen_of_its_store(
    world: World, service: OrderService
) -> None:
    command = place_order("CASH")

    await service.place(command)

    order = await world.stored(command)
    assert (order.status, order.payment_status) == (
        OrderStatus.CONFIRMED,
        PaymentStatus.NOT_APPLICABLE,
    )
    assert (order.total_cents, order.command_id, order.released_to_pos_at) == (
        3780,
        command.command_id,
        T0,
    )
    assert sent(world.sink.records) == [
        (ORDERS_EVENTS, "OrderPlaced"),
        (ORDERS_EVENTS, "OrderStatusChanged"),
        (KITCHEN, "PosOrderReceived"),
    ]
    [placed] = messages(world.sink.records, OrderPlaced)
    assert (placed.order_id, placed.causation_id) == (order.order_id, str(command.event_id))
    assert world.store_topics.ensured == [(CLIENT, STORE)]


async def test_an_online_order_asks_for_its_payment_and_waits_for_it_before_the_kitchen(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")

    await service.place(command)

    order = await world.stored(command)
    assert (order.status, order.payment_status) == (OrderStatus.PENDING, PaymentStatus.PENDING)
    assert not order.released
    assert sent(world.sink.records) == [
        (ORDERS_EVENTS, "OrderPlaced"),
        (PAYMENTS_COMMANDS, "RequestPayment"),
        (SCHEDULER_COMMANDS, "ScheduleTimer"),
    ]
    [request] = messages(world.sink.records, RequestPayment)
    assert (request.order_id, request.amount_cents) == (order.order_id, order.total_cents)
    [deadline] = messages(world.sink.records, ScheduleTimer)
    assert deadline.due_at == order.deadlines.payment


async def test_a_place_order_repeated_with_its_command_id_makes_no_second_order_or_order_placed(
    world: World, service: OrderService
) -> None:
    command = place_order("CASH")
    await service.place(command)

    # A new message (new eventId), so the consumer's dedupe does not catch it: the order does.
    await service.place(command.model_copy(update={"event_id": uuid.uuid4()}))

    assert list(world.orders.orders) == [order_id_for(command)]
    assert len(messages(world.sink.records, OrderPlaced)) == 1
    assert len(messages(world.sink.records, PosOrderReceived)) == 1


async def test_a_stores_orders_are_numbered_in_placement_order_and_a_repeat_keeps_its_number(
    world: World, service: OrderService
) -> None:
    first, second, third = (place_order("CASH") for _ in range(3))
    elsewhere = place_order("CASH", store_id="store-2")
    await service.place(first)
    await service.place(second)
    await service.place(first.model_copy(update={"event_id": uuid.uuid4()}))
    await service.place(third)
    await service.place(elsewhere)

    numbers = [(await world.stored(c)).order_number for c in (first, second, third, elsewhere)]
    assert numbers == [1, 2, 3, 1]
    assert [placed.order_number for placed in messages(world.sink.records, OrderPlaced)] == [
        1,
        2,
        3,
        1,
    ]
    assert [r.order_number for r in messages(world.sink.records, PosOrderReceived)] == [1, 2, 3, 1]


async def test_a_command_refused_now_but_accepted_before_finds_its_order(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")
    await service.place(command)
    await world.configure(accepted_payment_methods=["CASH"])  # PIX no longer accepted

    await service.place(command.model_copy(update={"event_id": uuid.uuid4()}))

    assert messages(world.sink.records, OrderRejected) == []
    assert (await world.stored(command)).order_number == 1


async def test_a_refused_place_order_is_answered_order_rejected_and_stores_nothing(
    world: World, service: OrderService
) -> None:
    await world.configure(accepted_payment_methods=["CASH"])
    command = place_order("PIX")

    await service.place(command)

    assert world.orders.orders == {}
    assert world.store_topics.ensured == []
    assert sent(world.sink.records) == [(ORDERS_EVENTS, "OrderRejected")]
    [rejected] = messages(world.sink.records, OrderRejected)
    assert rejected.reason_code is ReasonCode.PAYMENT_METHOD_NOT_ACCEPTED
    assert (rejected.command_id, rejected.phone_number) == (
        command.command_id,
        command.customer.phone_number,
    )
    assert rejected.causation_id == str(command.event_id)


async def test_cancelling_an_unknown_order_is_answered_order_not_found(
    world: World, service: OrderService
) -> None:
    await service.cancel(cancel_order("no-such-order"))

    [rejected] = messages(world.sink.records, OrderRejected)
    assert (rejected.reason_code, rejected.order_id) == (
        ReasonCode.ORDER_NOT_FOUND,
        "no-such-order",
    )
    assert world.orders.orders == {}


async def test_an_order_of_another_restaurant_is_not_found_by_its_cancel(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")
    order = await world.placed(service, command)

    await service.cancel(cancel_order(order.order_id, client_id="rest-2"))

    [rejected] = messages(world.sink.records, OrderRejected)
    assert rejected.reason_code is ReasonCode.ORDER_NOT_FOUND
    assert (await world.stored(command)).status is OrderStatus.PENDING


async def test_a_payment_succeeded_delivered_twice_changes_the_order_once(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")
    await service.place(command)
    [request] = messages(world.sink.records, RequestPayment)
    paid = paid_for(request)

    await service.on_payment_event(paid)
    await service.on_payment_event(paid)

    order = await world.stored(command)
    assert (order.payment_status, order.version) == (PaymentStatus.PAID, 1)
    assert len(messages(world.sink.records, PosOrderReceived)) == 1
    assert sent(world.sink.records).count((ORDERS_EVENTS, "OrderPaymentStatusChanged")) == 1


async def test_an_event_applied_to_an_order_is_remembered_there_and_not_decided_again(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")
    await service.place(command)
    [request] = messages(world.sink.records, RequestPayment)
    paid, paid_again = paid_for(request), paid_for(request)  # the second: an id of its own
    names = [event_key(PAYMENTS, paid.event_id), event_key(PAYMENTS, paid_again.event_id)]

    await service.on_payment_event(paid, handled_as=names[0])
    await service.on_payment_event(paid, handled_as=names[0])  # redelivered
    # One that changes nothing is recorded all the same (the order's one write takes it once).
    await service.on_payment_event(paid_again, handled_as=names[1])
    await service.on_payment_event(paid_again, handled_as=names[1])  # redelivered

    order = await world.stored(command)
    assert (order.payment_status, order.version, order.handled_events) == (
        PaymentStatus.PAID,
        2,
        names,
    )
    assert len(messages(world.sink.records, PosOrderReceived)) == 1


async def test_an_order_remembers_its_latest_events_only(
    world: World, service: OrderService
) -> None:
    order = await world.placed(service, place_order("CASH"))

    for n in range(MAX_HANDLED_EVENTS + 1):
        order = order.having_handled(f"order-pos|{n}")

    assert order.handled_events == [f"order-pos|{n}" for n in range(1, MAX_HANDLED_EVENTS + 1)]


async def test_another_stores_report_with_an_event_id_the_order_has_seen_is_still_refused(
    world: World, service: OrderService
) -> None:
    await world.configure(requires_confirmation=True)
    order = await world.placed(service, place_order("CASH"))
    confirmed = pos_update(PosOrderConfirmed, order.order_id)
    handle = pos_update_handler(service)

    def on(store: str) -> ReceivedRecord:
        topic = pos_updates_topic(CLIENT, store)
        return ReceivedRecord(topic, 0, 0, None, confirmed.to_json(), {})

    await handle(confirmed, on(STORE))
    with pytest.raises(PermanentError, match="does not belong"):  # dead-lettered
        await handle(confirmed, on("store-2"))  # the same eventId, from another store's POS

    [refused] = messages(world.sink.records, PosUpdateRejected)
    assert (refused.store_id, refused.reason) == ("store-2", ReasonCode.WRONG_STORE)


async def test_a_pos_update_that_came_on_another_stores_topic_is_refused(
    world: World, service: OrderService
) -> None:
    await world.configure(requires_confirmation=True)
    command = place_order("CASH")
    order = await world.placed(service, command)
    confirmed = pos_update(PosOrderConfirmed, order.order_id)

    with pytest.raises(WrongStore):
        await service.on_pos_update(confirmed, (CLIENT, "store-2"))
    assert (await world.stored(command)).status is OrderStatus.PENDING
    [refused] = messages(world.sink.records, PosUpdateRejected)
    assert refused.reason is ReasonCode.WRONG_STORE
    assert (refused.client_id, refused.store_id) == (CLIENT, "store-2")
    assert (refused.order_id, refused.refused_event_id) == (order.order_id, str(confirmed.event_id))
    # Nothing of the other store's order is told: neither its number nor its status.
    assert (refused.order_number, refused.current_status) == (None, None)
    assert (pos_orders_topic(CLIENT, "store-2"), "PosUpdateRejected") in sent(world.sink.records)

    await service.on_pos_update(confirmed, (CLIENT, STORE))
    assert (await world.stored(command)).status is OrderStatus.CONFIRMED


async def test_a_payment_whose_save_meets_a_concurrent_cancellation_is_decided_again_and_refunded(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")
    await service.place(command)
    [request] = messages(world.sink.records, RequestPayment)
    [deadline] = messages(world.sink.records, ScheduleTimer)
    paid = paid_for(request)
    # Another replica cancels the unpaid order at its deadline after this one read it as
    # pending: releasing the stale order to the kitchen would serve a cancelled order.
    world.orders.meanwhile = lambda: world.replica().on_timer_fired(fired(deadline))

    await service.on_payment_event(paid)

    order = await world.stored(command)
    assert (order.status, order.payment_status, order.version) == (
        OrderStatus.CANCELLED,
        PaymentStatus.REFUND_PENDING,
        2,
    )
    assert messages(world.sink.records, PosOrderReceived) == []
    [refund] = messages(world.sink.records, RequestRefund)
    assert (refund.payment_id, refund.causation_id) == ("pay_1", str(paid.event_id))


async def paid_awaiting_confirmation(world: World, service: OrderService) -> Order:
    """A PIX order paid and sent to a kitchen that must confirm it."""
    await world.configure(requires_confirmation=True, auto_confirmation_timeout=10)
    command = place_order("PIX")
    await service.place(command)
    [request] = messages(world.sink.records, RequestPayment)
    await service.on_payment_event(paid_for(request))
    order = await world.stored(command)
    assert (order.status, order.payment_status) == (OrderStatus.PENDING, PaymentStatus.PAID)
    return order


async def test_a_customer_cancelling_a_paid_order_awaiting_confirmation_is_refunded(
    world: World, service: OrderService
) -> None:
    order = await paid_awaiting_confirmation(world, service)

    await service.cancel(cancel_order(order.order_id))

    cancelled = await world.orders.get(order.order_id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.payment_status) == (
        OrderStatus.CANCELLED,
        PaymentStatus.REFUND_PENDING,
    )
    [refund] = messages(world.sink.records, RequestRefund)
    assert (refund.order_id, refund.payment_id) == (order.order_id, "pay_1")
    [told] = messages(world.sink.records, PosOrderCancelled)
    assert told.reason == ReasonCode.CUSTOMER_CANCELLED


async def test_a_restaurant_cancelling_a_paid_confirmed_order_is_refunded(
    world: World, service: OrderService
) -> None:
    order = await paid_awaiting_confirmation(world, service)
    await service.on_pos_update(pos_update(PosOrderConfirmed, order.order_id), (CLIENT, STORE))

    rejected = pos_update(PosOrderRejected, order.order_id, reason="Acabou o gás")
    await service.on_pos_update(rejected, (CLIENT, STORE))

    cancelled = await world.orders.get(order.order_id)
    assert cancelled is not None
    assert (cancelled.status, cancelled.payment_status) == (
        OrderStatus.CANCELLED,
        PaymentStatus.REFUND_PENDING,
    )
    assert cancelled.cancellation_reason == "Acabou o gás"
    [refund] = messages(world.sink.records, RequestRefund)
    assert refund.order_id == order.order_id
    assert messages(world.sink.records, PosOrderCancelled) == []  # the kitchen itself cancelled


async def test_a_chargeback_is_counted_for_on_call_and_changes_no_order(
    world: World, service: OrderService
) -> None:
    order = await paid_awaiting_confirmation(world, service)
    before = REGISTRY.get_sample_value("order_alerts_total", {"kind": "chargeback"}) or 0.0
    chargeback = caused(
        place_order("PIX"),
        PaymentChargebackReported,
        order_id=order.order_id,
        payment_id="pay_1",
        asaas_event="PAYMENT_CHARGEBACK_REQUESTED",
    )

    await service.on_payment_event(chargeback)

    after = REGISTRY.get_sample_value("order_alerts_total", {"kind": "chargeback"})
    assert after == before + 1
    assert await world.orders.get(order.order_id) == order


async def refusal_of(world: World, service: OrderService, update: PosReport) -> PosUpdateRejected:
    """The one answer the store's POS gets to `update`, which changes no order."""
    before = dict(world.orders.orders)
    await service.on_pos_update(update, (CLIENT, STORE))
    assert world.orders.orders == before
    [refused] = messages(world.sink.records, PosUpdateRejected)
    assert sent(world.sink.records)[-1] == (KITCHEN, "PosUpdateRejected")
    assert refused.refused_event_id == refused.causation_id == str(update.event_id)
    return refused


async def test_a_pos_update_of_an_unknown_order_is_answered_order_not_found(
    world: World, service: OrderService
) -> None:
    refused = await refusal_of(world, service, pos_update(PosOrderConfirmed, "no-such-order"))
    assert (refused.reason, refused.order_id) == (ReasonCode.ORDER_NOT_FOUND, "no-such-order")
    assert (refused.order_number, refused.current_status) == (None, None)


async def test_a_pos_update_of_an_order_the_pos_never_received_is_answered_order_not_found(
    world: World, service: OrderService
) -> None:
    command = place_order("PIX")  # unpaid: the kitchen never saw it
    order = await world.placed(service, command)

    refused = await refusal_of(world, service, pos_update(PosOrderConfirmed, order.order_id))

    assert refused.reason is ReasonCode.ORDER_NOT_FOUND
    assert (refused.order_number, refused.current_status) == (None, None)


async def test_a_pos_update_of_another_restaurants_order_is_answered_as_unknown(
    world: World, service: OrderService
) -> None:
    command = place_order("CASH", client_id="rest-2", store_id=STORE)
    order = await world.placed(service, command)

    with pytest.raises(WrongStore):  # dead-lettered, for whoever looks after the restaurants
        await service.on_pos_update(pos_update(PosOrderConfirmed, order.order_id), (CLIENT, STORE))

    [refused] = messages(world.sink.records, PosUpdateRejected)
    assert sent(world.sink.records)[-1] == (KITCHEN, "PosUpdateRejected")
    assert refused.reason is ReasonCode.ORDER_NOT_FOUND  # not even that the order exists
    assert (refused.order_number, refused.current_status) == (None, None)
    assert refused.correlation_id != order.correlation_id  # not that restaurant's conversation
    assert (await world.stored(command)).status is OrderStatus.CONFIRMED


async def test_a_pos_update_the_lifecycle_does_not_allow_is_answered_with_the_current_status(
    world: World, service: OrderService
) -> None:
    await world.configure(requires_confirmation=False)
    command = place_order("CASH")
    order = await world.placed(service, command)
    ready = pos_update(PosOrderStatusUpdated, order.order_id, status="READY")  # not PREPARING

    refused = await refusal_of(world, service, ready)

    assert refused.reason is ReasonCode.TRANSITION_NOT_ALLOWED
    assert (refused.order_id, refused.order_number) == (order.order_id, 1)
    assert refused.current_status is OrderStatus.CONFIRMED
    assert "CONFIRMED -> READY" in refused.detail
    assert refused.correlation_id == order.correlation_id


async def test_an_unreadable_pos_update_is_answered_malformed_with_what_could_be_read(
    world: World, service: OrderService
) -> None:
    update = pos_update(PosOrderStatusUpdated, "order-9", status="PREPARING").to_wire()
    update["status"] = "BURNT"
    raw = json.dumps(update).encode()
    with pytest.raises(ContractError) as unreadable:
        decode_pos_update(raw)
    record = ReceivedRecord(KITCHEN.replace(".orders", ".updates"), 0, 0, None, raw, {})

    await answer_unreadable_pos_update(service)(unreadable.value, record)

    [refused] = messages(world.sink.records, PosUpdateRejected)
    assert sent(world.sink.records) == [(KITCHEN, "PosUpdateRejected")]
    assert (refused.reason, refused.order_id) == (ReasonCode.MALFORMED_UPDATE, "order-9")
    assert refused.refused_event_id == update["eventId"]
    assert "status" in refused.detail
    assert "BURNT" not in refused.detail


async def answer_as_the_consumer_does(service: OrderService, raw: bytes) -> None:
    """Decode a command as the order consumer does and, unreadable, answer it."""
    with pytest.raises(ContractError) as unreadable:
        decode_command(raw)
    record = ReceivedRecord(ORDERS_COMMANDS, 0, 0, CLIENT.encode(), raw, {})
    await answer_malformed(service)(unreadable.value, record)


async def test_a_place_order_beyond_a_limit_is_answered_limit_exceeded_naming_the_field(
    world: World, service: OrderService
) -> None:
    command = place_order("CASH").to_wire()
    command["items"][0]["quantity"] = 10**19  # overflowed the database's int64 before limits

    await answer_as_the_consumer_does(service, json.dumps(command).encode())

    assert world.orders.orders == {}
    [rejected] = messages(world.sink.records, OrderRejected)
    assert rejected.reason_code is ReasonCode.LIMIT_EXCEEDED
    assert rejected.message == "O pedido passa dos limites aceitos em: items.0.quantity."
    assert (rejected.command_id, rejected.correlation_id) == (
        command["commandId"],
        command["correlationId"],
    )


async def test_a_place_order_beyond_a_limit_and_malformed_is_answered_malformed(
    world: World, service: OrderService
) -> None:
    command = place_order("CASH").to_wire()
    command["items"][0]["quantity"] = 1000
    command["items"][0]["unitPrice"] = "18.905"

    await answer_as_the_consumer_does(service, json.dumps(command).encode())

    [rejected] = messages(world.sink.records, OrderRejected)
    assert rejected.reason_code is ReasonCode.MALFORMED_COMMAND


async def test_an_unreadable_command_with_ids_too_long_to_answer_on_is_only_dead_lettered(
    world: World, service: OrderService
) -> None:
    command = place_order("CASH").to_wire()
    command["correlationId"] = "t" * 10_000
    command["commandId"] = "c" * 10_000

    await answer_as_the_consumer_does(service, json.dumps(command).encode())

    assert world.sink.records == []
    assert world.orders.orders == {}


async def test_an_order_beyond_the_maximum_total_is_answered_limit_exceeded_and_stores_nothing(
    world: World, service: OrderService
) -> None:
    banquet = [item(f"i{n}", quantity=999, unit_price="10000.00") for n in range(100)]

    await service.place(place_order("CASH", items=banquet))

    assert world.orders.orders == {}
    [rejected] = messages(world.sink.records, OrderRejected)
    assert rejected.reason_code is ReasonCode.LIMIT_EXCEEDED


def entered(status: OrderStatus) -> float:
    return REGISTRY.get_sample_value("order_status_entered_total", {"status": status}) or 0.0


async def test_each_status_an_order_enters_is_counted_for_the_dashboard(
    world: World, service: OrderService
) -> None:
    before = {status: entered(status) for status in OrderStatus}

    await service.place(place_order("CASH"))  # a cash order is confirmed at once

    after = {status: entered(status) for status in OrderStatus}
    grown = {status: after[status] - before[status] for status in OrderStatus}
    assert {status: n for status, n in grown.items() if n} == {
        OrderStatus.PENDING: 1,
        OrderStatus.CONFIRMED: 1,
    }
