"""The scheduler's use cases with the in-memory store and a recording sink."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.adapters.in_memory_timer_store import InMemoryTimerStore
from services.scheduler.service import FiringPolicy, TimerService
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer, ScheduleTimer, TimerFired, TimerPurpose
from tests import builders, sinks
from tests.unit.test_tracing import SENDER_TRACE, sender_span, traced
from tests.waiting import eventually


class RecordingSink(sinks.RecordingSink):
    def fired(self) -> list[TimerFired]:
        return [decode_as(record.value, TimerFired) for record in self.records]


def now() -> datetime:
    return datetime.now(UTC)


def schedule(timer_id: str, due_at: datetime) -> ScheduleTimer:
    return builders.schedule_timer(
        timer_id,
        due_at,
        correlation_id="turn-7",
        client_id="client-1",
        purpose=TimerPurpose.PAYMENT_DEADLINE,
        order_id="order-7",
        payload={"attempt": "1"},
    )


def cancel(timer_id: str) -> CancelTimer:
    return builders.cancel_timer(timer_id, correlation_id="turn-7", client_id="client-1")


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def running(sink: RecordingSink) -> AsyncIterator[TimerService]:
    """A scheduler whose loop naps up to 30 s unless something wakes it."""
    scheduler = TimerService(
        InMemoryTimerStore(), sink, now, FiringPolicy(max_sleep=timedelta(seconds=30))
    )
    loop = asyncio.create_task(scheduler.run())
    yield scheduler
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


async def test_a_due_timer_becomes_one_timer_fired_keyed_by_restaurant(
    sink: RecordingSink,
) -> None:
    scheduler = TimerService(InMemoryTimerStore(), sink, now)
    command = schedule("order-7:payment", now() - timedelta(seconds=1))
    await scheduler.schedule(command)

    assert await scheduler.fire_due() is None, "nothing else pending"
    assert await scheduler.fire_due() is None
    [record] = sink.records
    assert record.topic == "scheduler.events"
    assert record.key == b"client-1"
    [fired] = sink.fired()
    assert (fired.timer_id, fired.order_id, fired.purpose) == (
        "order-7:payment",
        "order-7",
        TimerPurpose.PAYMENT_DEADLINE,
    )
    assert fired.due_at == command.due_at
    assert fired.causation_id == str(command.event_id)
    assert fired.correlation_id == "turn-7"
    assert fired.payload == {"attempt": "1"}


async def test_a_new_timer_wakes_the_napping_loop_and_fires_not_before_its_due_time(
    running: TimerService, sink: RecordingSink
) -> None:
    due_at = now() + timedelta(milliseconds=300)
    await running.schedule(schedule("soon", due_at))

    await eventually(
        lambda: len(sink.records) == 1, timeout=10, what="fired long before the nap ends"
    )
    [fired] = sink.fired()
    assert fired.fired_at >= due_at


async def test_a_cancelled_timer_does_not_fire(running: TimerService, sink: RecordingSink) -> None:
    await running.schedule(schedule("cancelled", now() + timedelta(milliseconds=200)))
    await running.cancel(cancel("cancelled"))
    await running.schedule(schedule("witness", now() + timedelta(milliseconds=400)))

    await eventually(lambda: len(sink.records) >= 1, timeout=10, what="the witness fired")
    assert [fired.timer_id for fired in sink.fired()] == ["witness"]


async def test_a_fired_timer_continues_the_trace_of_the_handling_that_set_it(
    sink: RecordingSink,
) -> None:
    scheduler = TimerService(InMemoryTimerStore(), sink, now)
    with sender_span():
        await scheduler.schedule(schedule("order-7:payment", now() - timedelta(seconds=1)))
    with sender_span(trace_id=0xB2B2B2B2B2B2B2B2B2B2B2B2B2B2B2B2):  # the firing loop's own
        await scheduler.fire_due()

    [record] = sink.records
    assert traced(record.headers).trace_id == SENDER_TRACE
