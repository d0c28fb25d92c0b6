"""Order pipeline benchmark: orders to the restaurant's POS through the whole local system.

Runs the five services (the panel idle) and both emulators as processes on the real broker and
MongoDB-protocol server (the tests' selection), and reports every figure beside a baseline
measured in the same run on the same machine (`bench.baselines`):

- cash orders: sustained throughput from `PlaceOrder` to `PosOrderReceived`, then latency
  p50/p95/p99 at half that rate;
- PIX orders: the same from Asaas's confirmation (the emulator posts the webhook at once) to
  `PosOrderReceived`, the charges being created beforehand;
- at saturation, the CPU each process used until the system settled (every consumer group caught
  up: `bench.settling`), as cores and milliseconds per order (a cost that noise moves less than
  throughput), and each service's database time by command and collection
  (`bench.profiling`), to show where the time goes;
- idle, between the warm-up and the cash orders: the CPU each process uses a second with no
  order coming (heartbeats, empty fetches, sweeps).

Nothing is measured before 300 cash orders (as fast as they go, then for 30 s at half that rate)
and 75 PIX orders have gone through (`--cold` to skip that): the broker's JVM compiles its hot
paths during its first real work. The services keep their production defaults (sweep and poll
intervals), not the tests' short ones.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bench import baselines
from bench.harness import Results, percentile, run_benchmark, say
from bench.profiling import CpuByProcess, DatabaseTime
from bench.settling import settled
from services.order.service import order_id_for
from shared.clients.chatbot import ChatbotClient
from shared.contracts.payments import PaymentCreated
from shared.contracts.pos import PosOrderReceived
from shared.contracts.registry import ContractError, decode
from shared.topics import PAYMENTS_EVENTS, pos_orders_topic
from tests.infrastructure import Servers
from tests.system.conftest import Restaurant, System, start_system

RESTAURANTS = 6
LATENCY_SECONDS = 20
PAID_RESERVE = 80
"""PIX orders charged beforehand for the paced latency phase (it uses at most these)."""
WARM_UP_ORDERS = 300
"""Cash orders sent through before anything is measured (and a quarter as many PIX orders)."""
WARM_UP_PACED_SECONDS = 30
"""How long the warm-up then sends cash orders at half the rate they went through."""
SERVICES = ("order", "payment", "notifier", "scheduler")
IDLE_SECONDS = 20
"""How long the system is watched with no order coming: what it costs by the second
(heartbeats, empty fetches, sweeps)."""


class Watch:
    """Notes when each order reaches its store's POS topic, and each order's Asaas charge."""

    def __init__(self, system: System, restaurants: list[Restaurant]) -> None:
        self.system = system
        self.bootstrap = system.bootstrap
        topics = [pos_orders_topic(r.client_id, r.store_id) for r in restaurants]
        self.consumer = AIOKafkaConsumer(
            *topics, PAYMENTS_EVENTS, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest"
        )
        self.at_pos: dict[str, float] = {}
        self.charges: dict[str, str] = {}
        self._news = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        async for record in self.consumer:
            try:
                message = decode(record.value or b"")
            except ContractError:
                continue
            if isinstance(message, PosOrderReceived):
                self.at_pos.setdefault(message.order_id, time.perf_counter())
            elif isinstance(message, PaymentCreated):
                self.charges[message.order_id] = message.payment_id
            self._news.set()

    async def until(self, done: Callable[[], bool], timeout: float = 900) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._news.clear()
                await self._news.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


class Profile:
    """CPU by process and database time by service, command and collection, over one phase."""

    def __init__(self, system: System) -> None:
        self.cpu = CpuByProcess()
        self.database = DatabaseTime({name: f"{system.url(name)}/metrics" for name in SERVICES})
        self._started = 0.0

    def start(self) -> None:
        self.cpu.start()
        self.database.start()
        self._started = time.perf_counter()

    def stop(self) -> Results:
        elapsed = time.perf_counter() - self._started
        cpu_seconds = self.cpu.stop()
        return {
            "seconds": elapsed,
            "cpu_seconds": cpu_seconds,
            "cores": {name: seconds / elapsed for name, seconds in cpu_seconds.items()},
            "database": self.database.stop(),
        }


Start = Callable[[int], Awaitable[str]]
"""Starts the n-th order's trip (sends its command, or confirms its charge); returns its id."""


async def trips(watch: Watch, start: Start, count: int) -> None:
    """Starts `count` trips as fast as they go and waits for all at the POS."""
    ids = {await start(n) for n in range(count)}
    await watch.until(lambda: ids <= watch.at_pos.keys())


async def saturate(watch: Watch, start: Start, count: int, profile: Profile) -> Results:
    """Starts `count` trips as fast as they go and waits for all at the POS (the throughput),
    then for the work they left behind (the CPU they cost)."""
    profile.start()
    began = time.perf_counter()
    await trips(watch, start, count)
    throughput = count / (time.perf_counter() - began)
    say(f"  ... {throughput:.1f} orders/s")
    tail = await settled(watch.bootstrap, watch.system.url("twilio"))
    say(f"  ... the system settled {tail:.1f} s after the last order reached its POS")
    used = profile.stop()
    return {
        "throughput_per_s": throughput,
        "settled_after_s": tail,
        "cpu_ms_per_order": {
            name: seconds * 1000 / count for name, seconds in used["cpu_seconds"].items()
        },
        "profile": used,
    }


async def paced(watch: Watch, start: Start, rate: float, count: int) -> Results:
    """Starts `count` trips at `rate` per second; the latency of each to the POS."""
    say(f"  latency: {count} orders at {rate:.1f} orders/s...")
    started: dict[str, float] = {}
    began, began_at = time.perf_counter(), time.time()
    for n in range(count):
        await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
        at = time.perf_counter()
        started[await start(n)] = at
    await watch.until(lambda: started.keys() <= watch.at_pos.keys())
    latencies = [watch.at_pos[order_id] - at for order_id, at in started.items()]
    say(f"  ... p50 {percentile(latencies, 0.5) * 1000:.0f} ms")
    return {
        "offered_per_s": rate,
        "orders": count,
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "mean_s": statistics.fmean(latencies),
        # When each trip started (seconds after `began_at`, Unix time) and how long it took:
        # whether the slow ones come together (a pause of one process) or spread out (a queue).
        "began_at": began_at,
        "timeline": [
            [round(at - began, 3), round(latency, 4)]
            for at, latency in zip(started.values(), latencies, strict=True)
        ],
    }


def placing(chatbot: ChatbotClient, restaurants: list[Restaurant]) -> Start:
    async def place(n: int) -> str:
        command = restaurants[n % len(restaurants)].order("CASH")
        await chatbot.send(command)
        return order_id_for(command)

    return place


def confirming(watch: Watch, pending: list[tuple[Restaurant, str]]) -> Start:
    async def confirm(n: int) -> str:
        restaurant, order_id = pending[n]
        response = await restaurant.asaas.post(
            f"/v3/sandbox/payment/{watch.charges[order_id]}/confirm"
        )
        response.raise_for_status()
        return order_id

    return confirm


async def warm_up(system: System, watch: Watch, restaurants: list[Restaurant]) -> None:
    """Cash and PIX orders through the whole system before anything is measured: the broker's
    JVM compiles its hot paths during its first real work, a cost paid once, not per order.
    Which paths are hot depends on the load, so the cash orders come as the cash phase sends
    them: as fast as they go, then paced at half that rate (fetches that wait for the next
    order among the requests)."""
    say(f"  {WARM_UP_ORDERS} cash and {WARM_UP_ORDERS // 4} PIX orders, not measured...")
    async with ChatbotClient(system.bootstrap) as chatbot:
        place = placing(chatbot, restaurants)
        began = time.perf_counter()
        await trips(watch, place, WARM_UP_ORDERS)
        rate = WARM_UP_ORDERS / (time.perf_counter() - began) / 2
        await paced(watch, place, rate, round(rate * WARM_UP_PACED_SECONDS))
    charged = await charged_pix_orders(system, watch, restaurants, WARM_UP_ORDERS // 4)
    await trips(watch, confirming(watch, charged), len(charged))
    await settled(system.bootstrap, system.url("twilio"))


async def idle(system: System) -> Results:
    """The CPU each process uses a second while no order comes (after the warm-up's)."""
    say(f"  {IDLE_SECONDS} s without orders...")
    profile = Profile(system)
    profile.start()
    await asyncio.sleep(IDLE_SECONDS)  # the window measured, not a wait for something
    used = profile.stop()
    return {"cpu_ms_per_s": {name: cores * 1000 for name, cores in used["cores"].items()}}


async def cash_orders(
    system: System, watch: Watch, restaurants: list[Restaurant], orders: int
) -> Results:
    async with ChatbotClient(system.bootstrap) as chatbot:
        place = placing(chatbot, restaurants)
        say(f"  {orders} cash orders as fast as the chatbot sends them...")
        figures = await saturate(watch, place, orders, Profile(system))
        rate = figures["throughput_per_s"] / 2
        count = max(10, round(rate * LATENCY_SECONDS))
        return figures | await paced(watch, place, rate, count)


async def charged_pix_orders(
    system: System, watch: Watch, restaurants: list[Restaurant], count: int
) -> list[tuple[Restaurant, str]]:
    """`count` PIX orders placed and charged on Asaas, waiting for their customer's payment."""
    async with ChatbotClient(system.bootstrap) as chatbot:
        placed = []
        for n in range(count):
            restaurant = restaurants[n % len(restaurants)]
            command = restaurant.order("PIX")
            await chatbot.send(command)
            placed.append((restaurant, order_id_for(command)))
    await watch.until(lambda: all(order_id in watch.charges for _, order_id in placed))
    # Their instructions sent and their images fetched: not in the next phase's figures.
    await settled(system.bootstrap, system.url("twilio"))
    return placed


async def paid_orders(
    system: System, watch: Watch, restaurants: list[Restaurant], orders: int
) -> Results:
    say(f"  charging {orders + PAID_RESERVE} PIX orders on Asaas first...")
    charged = await charged_pix_orders(system, watch, restaurants, orders + PAID_RESERVE)
    say(f"  {orders} PIX payments confirmed as fast as Asaas takes them...")
    figures = await saturate(watch, confirming(watch, charged[:orders]), orders, Profile(system))
    rate = figures["throughput_per_s"] / 2
    count = min(PAID_RESERVE, max(10, round(rate * LATENCY_SECONDS)))
    return figures | await paced(watch, confirming(watch, charged[orders:]), rate, count)


async def run(servers: Servers, orders: int, *, warm: bool = True) -> Results:
    kafka, mongodb = servers.kafka_bootstrap_servers, servers.mongodb_uri
    results: Results = {}
    say("baselines")
    for partitions in (1, 6):
        row = await baselines.kafka_produce_consume(kafka, partitions)
        results[f"kafka_{partitions}_partitions"] = row
        say(f"  kafka, {partitions} partition(s): {row['rate_per_s']:.0f} records/s")
    # What else ran meanwhile (the broker's JVM after its baseline): a baseline of a busy
    # machine makes every ratio to it look better than it is.
    beside = CpuByProcess()
    beside.start()
    results["mongo"] = await baselines.mongo_writes(mongodb)
    results["mongo"]["cpu_seconds"] = beside.stop()
    say(
        f"  mongo: {results['mongo']['inserts_per_s']:.0f} inserts/s, "
        f"{results['mongo']['conditional_updates_per_s']:.0f} conditional updates/s"
    )
    say("starting the system (4 services, 2 emulators)...")
    with tempfile.TemporaryDirectory() as logs:
        system = await asyncio.to_thread(
            functools.partial(start_system, kafka, mongodb, Path(logs), fast=False)
        )
        restaurants = [Restaurant(system) for _ in range(RESTAURANTS)]
        watch = Watch(system, restaurants)
        try:
            for restaurant in restaurants:
                await restaurant.onboard(requiresConfirmation=False)
            await watch.start()
            if warm:
                say("warming up")
                await warm_up(system, watch, restaurants)
            say("idle")
            results["idle"] = await idle(system)
            say("cash orders, PlaceOrder to PosOrderReceived")
            results["cash"] = await cash_orders(system, watch, restaurants, orders)
            say("PIX orders, payment confirmed to PosOrderReceived")
            results["paid"] = await paid_orders(system, watch, restaurants, orders // 2)
        finally:
            await watch.stop()
            for restaurant in restaurants:
                await restaurant.close()
            await asyncio.to_thread(system.stop)
    return results


def report(results: Results) -> None:
    raw = results["kafka_6_partitions"]
    mongo = results["mongo"]
    say("\npipeline                                   value   ratio to the baseline")
    for partitions in (1, 6):
        row = results[f"kafka_{partitions}_partitions"]
        say(f"kafka produce->consume, {partitions} partition(s) {row['rate_per_s']:9.0f} /s")
    say(f"kafka round trip p50, idle            {raw['round_trip_p50_s'] * 1000:9.1f} ms")
    say(f"mongo inserts                         {mongo['inserts_per_s']:9.0f} /s")
    say(f"mongo conditional updates             {mongo['conditional_updates_per_s']:9.0f} /s")
    for name, trip in (("cash", "order to POS"), ("paid", "payment to POS")):
        row = results[name]
        say(
            f"{name} {trip:<20}             {row['throughput_per_s']:9.1f} /s"
            f"  {row['throughput_per_s'] / raw['rate_per_s']:.5f} x kafka,"
            f" {row['throughput_per_s'] / mongo['conditional_updates_per_s']:.3f} x mongo updates"
        )
        for key in ("p50_s", "p95_s", "p99_s"):
            say(
                f"{name} latency {key[:3]} at {row['offered_per_s']:4.1f}/s          "
                f"{row[key] * 1000:9.0f} ms  {row[key] / raw['round_trip_p50_s']:.1f} x"
                " a kafka round trip"
            )
    idle_cost = results["idle"]["cpu_ms_per_s"]
    say(f"\nidle, CPU ms a second: {', '.join(f'{k} {v:.0f}' for k, v in idle_cost.items())}")
    for name in ("cash", "paid"):
        profile = results[name]["profile"]
        cores = ", ".join(f"{k} {v:.2f}" for k, v in list(profile["cores"].items())[:6])
        say(f"\n{name} at saturation, cores used: {cores}")
        cost = results[name]["cpu_ms_per_order"]
        say(f"  CPU ms per order: {', '.join(f'{k} {v:.1f}' for k, v in cost.items())}")
        say("  database time      service   command        collection           calls   mean")
        for row in profile["database"][:8]:
            say(
                f"  {row['seconds'] / profile['seconds']:6.1%} of the phase"
                f" {row['service']:<9} {row['command']:<14} {row['collection']:<20}"
                f" {row['calls']:6} {row['seconds'] / row['calls'] * 1000:6.1f} ms"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders", type=int, default=400, help="cash orders at saturation (half as many PIX)"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="measure from the first order, without the warm-up (as runs before 7 December)",
    )
    args = parser.parse_args()
    return run_benchmark(
        "pipeline", lambda servers: run(servers, args.orders, warm=not args.cold), report
    )


if __name__ == "__main__":
    sys.exit(main())
