"""Store configurations reused by a replica's decisions: its own writes at once, another
replica's within the maximum age, never an older read over a newer write."""

from __future__ import annotations

import asyncio

import pytest

from services.order.recent_configs import RecentConfigs
from shared.contracts.orders import OrderRejected
from shared.contracts.stores import StoreOrderConfig
from shared.contracts.values import PaymentMethod, ReasonCode
from tests.builders import CLIENT, STORE, place_order
from tests.order.twins import OrderTwins
from tests.sinks import messages

MAX_AGE_S = 5.0
STORE_KEY = (CLIENT, STORE)


class Ticks:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def config(name: str, *methods: PaymentMethod) -> StoreOrderConfig:
    chosen = {"accepted_payment_methods": list(methods)} if methods else {}
    return StoreOrderConfig.model_validate(
        {"client_id": CLIENT, "store_id": STORE, "store_name": name} | chosen
    )


class Stored:
    """One store's configuration as the database holds it; counts the reads."""

    def __init__(self, current: StoreOrderConfig) -> None:
        self.current = current
        self.reads = 0

    async def read(self) -> StoreOrderConfig:
        self.reads += 1
        return self.current

    async def write(self, new: StoreOrderConfig) -> None:
        self.current = new


async def test_a_configuration_read_is_reused_until_its_maximum_age_then_read_again() -> None:
    ticks, stored = Ticks(), Stored(config("first"))
    recent = RecentConfigs(MAX_AGE_S, ticks)
    assert (await recent.get(STORE_KEY, stored.read)).store_name == "first"

    stored.current = config("second")  # written by another replica
    ticks.now += MAX_AGE_S - 0.01
    assert (await recent.get(STORE_KEY, stored.read)).store_name == "first"
    ticks.now += 0.01
    assert (await recent.get(STORE_KEY, stored.read)).store_name == "second"
    assert stored.reads == 2


async def test_a_replicas_own_write_is_what_it_reads_next_without_a_read() -> None:
    ticks, stored = Ticks(), Stored(config("first"))
    recent = RecentConfigs(MAX_AGE_S, ticks)
    await recent.get(STORE_KEY, stored.read)

    second = config("second")
    await recent.write(STORE_KEY, second, lambda: stored.write(second))

    assert (await recent.get(STORE_KEY, stored.read)).store_name == "second"
    assert stored.reads == 1


async def test_a_read_begun_before_a_write_keeps_nothing_and_the_write_stands() -> None:
    stored, reading, release = Stored(config("first")), asyncio.Event(), asyncio.Event()
    recent = RecentConfigs(MAX_AGE_S, Ticks())

    async def slow_read() -> StoreOrderConfig:
        old = stored.current
        reading.set()
        await release.wait()
        return old

    read = asyncio.create_task(recent.get(STORE_KEY, slow_read))
    await reading.wait()
    second = config("second")
    await recent.write(STORE_KEY, second, lambda: stored.write(second))
    release.set()

    assert (await read).store_name == "first"  # what that read saw, but not kept
    assert (await recent.get(STORE_KEY, stored.read)).store_name == "second"
    assert stored.reads == 0


async def test_a_failed_write_leaves_the_next_decision_to_read_the_database() -> None:
    stored = Stored(config("first"))
    recent = RecentConfigs(MAX_AGE_S, Ticks())
    await recent.get(STORE_KEY, stored.read)

    async def failing() -> None:
        raise ConnectionError("the database is away")

    with pytest.raises(ConnectionError):
        await recent.write(STORE_KEY, config("second"), failing)
    assert (await recent.get(STORE_KEY, stored.read)).store_name == "first"
    assert stored.reads == 2


async def test_a_maximum_age_of_zero_reads_the_database_for_every_decision() -> None:
    stored = Stored(config("first"))
    recent = RecentConfigs(0, Ticks())
    await recent.get(STORE_KEY, stored.read)
    await recent.write(STORE_KEY, config("second"), lambda: stored.write(config("second")))
    await recent.get(STORE_KEY, stored.read)
    assert stored.reads == 2


async def test_the_writing_replica_follows_its_change_at_once_another_within_the_max_age() -> None:
    ticks, twins = Ticks(), OrderTwins()
    writer, other = (twins.replica(RecentConfigs(MAX_AGE_S, ticks)) for _ in range(2))
    for service in (writer, other):
        assert (
            PaymentMethod.PIX in (await service.config_of(CLIENT, STORE)).accepted_payment_methods
        )

    await writer.put_config(config("cash only", PaymentMethod.CASH))
    await writer.place(place_order("PIX"))
    ticks.now += MAX_AGE_S - 0.01
    await other.place(place_order("PIX"))  # still on the configuration it read
    assert (await other.config_of(CLIENT, STORE)).store_name is None
    assert (await other.stored_config_of(CLIENT, STORE)).store_name == "cash only"  # the route's
    ticks.now += 0.01
    await other.place(place_order("PIX"))

    refusals = [answer.reason_code for answer in messages(twins.sink.records, OrderRejected)]
    assert refusals == [ReasonCode.PAYMENT_METHOD_NOT_ACCEPTED] * 2
    assert len(twins.orders.orders) == 1
