"""The scheduler's consumer on FastStream's test broker, with the in-memory timer store; the
firing loop is stood in for by calling `fire_due` (what the loop does at each tick)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from services.scheduler.adapters.in_memory_timer_store import InMemoryTimerStore
from services.scheduler.handlers import subscriptions
from services.scheduler.service import TimerService
from shared.broker import BrokerSink
from shared.contracts.scheduler import TimerFired
from shared.topics import SCHEDULER_COMMANDS, SCHEDULER_EVENTS
from tests.builders import cancel_timer, now, schedule_timer
from tests.component.wiring import Running, in_memory_broker, running


@dataclass
class Component:
    kafka: Running
    timers: TimerService


@pytest.fixture
async def component() -> AsyncIterator[Component]:
    broker = in_memory_broker()
    timers = TimerService(InMemoryTimerStore(), BrokerSink(broker), now)
    async with running(broker, subscriptions(timers), SCHEDULER_EVENTS) as kafka:
        yield Component(kafka, timers)


async def test_a_timer_scheduled_on_the_commands_topic_fires_on_the_events_topic(
    component: Component,
) -> None:
    command = schedule_timer("order-1:confirmation", now() - timedelta(seconds=1), order_id="o1")

    await component.kafka.send(SCHEDULER_COMMANDS, command)
    await component.timers.fire_due()

    assert component.kafka.outputs.sent() == [(SCHEDULER_EVENTS, "TimerFired")]
    [fired] = component.kafka.outputs.messages(TimerFired)
    assert (fired.timer_id, fired.order_id, fired.causation_id) == (
        command.timer_id,
        "o1",
        str(command.event_id),
    )


async def test_a_timer_cancelled_on_the_commands_topic_never_fires(component: Component) -> None:
    due_at = now() - timedelta(seconds=1)

    await component.kafka.send(SCHEDULER_COMMANDS, schedule_timer("t-1", due_at))
    await component.kafka.send(SCHEDULER_COMMANDS, cancel_timer("t-1"))
    await component.timers.fire_due()

    assert component.kafka.outputs.records == []
    assert component.kafka.dead_letters.records == []


async def test_the_same_schedule_timer_delivered_twice_fires_once(component: Component) -> None:
    command = schedule_timer("t-1", now() - timedelta(seconds=1))

    await component.kafka.send(SCHEDULER_COMMANDS, command)
    await component.timers.fire_due()
    await component.kafka.send(SCHEDULER_COMMANDS, command)
    await component.timers.fire_due()

    assert len(component.kafka.outputs.messages(TimerFired)) == 1
    assert component.kafka.dead_letters.records == []
