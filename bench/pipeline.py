"""Order pipeline benchmark: `PlaceOrder` to `PosOrderReceived` through the whole local system.

Runs the four services and both emulators as processes on the real broker and MongoDB-protocol
server (the tests' selection), and reports every figure beside a baseline measured in the same
run on the same machine:

- baselines: raw aiokafka produce-to-consume rate and latency (`acks=all`, idempotent) on one
  partition and on several; raw MongoDB-protocol inserts and conditional updates (Motor);
- cash orders: sustained throughput from `PlaceOrder` to `PosOrderReceived`, as a ratio of the
  raw Kafka rate, then latency p50/p95/p99 at half that rate.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from motor.motor_asyncio import AsyncIOMotorClient

from bench.scheduler import percentile
from services.order.service import order_id_for
from shared.broker import ensure_topics
from shared.clients.chatbot import ChatbotClient
from shared.contracts.pos import PosOrderReceived
from shared.contracts.registry import ContractError, decode
from shared.topics import pos_orders_topic
from tests.infrastructure import session_servers
from tests.system.conftest import Restaurant, start_system

RESULTS = Path(__file__).resolve().parents[1] / "bench-results"
BASELINE_MESSAGES = 5_000
MONGO_WRITES = 1_000
RESTAURANTS = 6
THROUGHPUT_ORDERS = 600
LATENCY_SECONDS = 20


def say(text: str) -> None:
    print(text, flush=True)


async def kafka_baseline(bootstrap: str, partitions: int) -> dict[str, float]:
    """Produce-to-consume of small records, as fast as the producer goes, then per record."""
    topic = f"bench.raw.{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, [topic], partitions=partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await producer.start()
    await consumer.start()
    try:
        started = time.perf_counter()
        sends = [
            await producer.send(topic, str(time.perf_counter()).encode(), key=str(n).encode())
            for n in range(BASELINE_MESSAGES)
        ]
        await asyncio.gather(*sends)
        latencies, received = [], 0
        while received < BASELINE_MESSAGES:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                now = time.perf_counter()
                latencies += [now - float(record.value or b"0") for record in batch]
                received += len(batch)
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "partitions": partitions,
        "rate_per_s": BASELINE_MESSAGES / elapsed,
        "p50_s": percentile(latencies, 0.5),
    }


async def mongo_baseline(uri: str) -> dict[str, float]:
    """Sequential inserts, then sequential conditional (versioned) updates, through Motor."""
    client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(uri)
    collection = client[f"bench_raw_{uuid.uuid4().hex[:6]}"]["documents"]
    try:
        started = time.perf_counter()
        for n in range(MONGO_WRITES):
            await collection.insert_one({"_id": n, "version": 0, "status": "PENDING"})
        inserts = MONGO_WRITES / (time.perf_counter() - started)
        started = time.perf_counter()
        for n in range(MONGO_WRITES):
            await collection.update_one(
                {"_id": n, "version": 0}, {"$set": {"status": "CONFIRMED"}, "$inc": {"version": 1}}
            )
        updates = MONGO_WRITES / (time.perf_counter() - started)
        await client.drop_database(collection.database.name)
    finally:
        client.close()
    return {"inserts_per_s": inserts, "conditional_updates_per_s": updates}


class PosWatch:
    """Notes when each order reaches its store's POS topic."""

    def __init__(self, bootstrap: str, restaurants: list[Restaurant]) -> None:
        topics = [pos_orders_topic(r.client_id, r.store_id) for r in restaurants]
        self.consumer = AIOKafkaConsumer(
            *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
        )
        self.arrived: dict[str, float] = {}
        self._arrival = asyncio.Event()
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
                self.arrived.setdefault(message.order_id, time.perf_counter())
                self._arrival.set()

    async def until(self, order_ids: set[str], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not order_ids <= self.arrived.keys():
                self._arrival.clear()
                await self._arrival.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.consumer.stop()


async def cash_pipeline(bootstrap: str, restaurants: list[Restaurant]) -> dict[str, float]:
    watch = PosWatch(bootstrap, restaurants)
    await watch.start()
    try:
        async with ChatbotClient(bootstrap) as chatbot:
            say(f"  {THROUGHPUT_ORDERS} cash orders as fast as the chatbot sends them...")
            commands = [
                restaurants[n % len(restaurants)].order("CASH") for n in range(THROUGHPUT_ORDERS)
            ]
            started = time.perf_counter()
            for command in commands:
                await chatbot.send(command)
            await watch.until({order_id_for(c) for c in commands}, timeout=600)
            throughput = THROUGHPUT_ORDERS / (time.perf_counter() - started)
            say(f"  ... {throughput:.0f} orders/s")
            rate = throughput / 2
            say(f"  latency at {rate:.0f} orders/s for {LATENCY_SECONDS}s...")
            sent: dict[str, float] = {}
            paced_from = time.perf_counter()
            for n in range(int(rate * LATENCY_SECONDS)):
                await asyncio.sleep(max(0.0, paced_from + n / rate - time.perf_counter()))
                command = restaurants[n % len(restaurants)].order("CASH")
                sent[order_id_for(command)] = time.perf_counter()
                await chatbot.send(command)
            await watch.until(set(sent), timeout=600)
    finally:
        await watch.stop()
    latencies = [watch.arrived[order_id] - at for order_id, at in sent.items()]
    return {
        "throughput_per_s": throughput,
        "offered_per_s": rate,
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "mean_s": statistics.fmean(latencies),
    }


async def run(kafka: str, mongodb: str, logs: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    say("baselines")
    for partitions in (1, 6):
        row = await kafka_baseline(kafka, partitions)
        results[f"kafka_{partitions}_partitions"] = row
        say(f"  kafka, {partitions} partition(s): {row['rate_per_s']:.0f} records/s")
    results["mongo"] = await mongo_baseline(mongodb)
    say(f"  mongo: {results['mongo']['inserts_per_s']:.0f} inserts/s")
    say("starting the system (4 services, 2 emulators)...")
    system = await asyncio.to_thread(start_system, kafka, mongodb, logs)
    try:
        restaurants = [Restaurant(system) for _ in range(RESTAURANTS)]
        for restaurant in restaurants:
            await restaurant.onboard(requiresConfirmation=False)
        say("cash orders, PlaceOrder to PosOrderReceived")
        results["cash_pipeline"] = await cash_pipeline(kafka, restaurants)
        for restaurant in restaurants:
            await restaurant.close()
    finally:
        await asyncio.to_thread(system.stop)
    return results


def report(results: dict[str, Any]) -> None:
    raw = results["kafka_6_partitions"]
    cash = results["cash_pipeline"]
    mongo = results["mongo"]
    say("\npipeline                                  value        ratio")
    for partitions in (1, 6):
        row = results[f"kafka_{partitions}_partitions"]
        say(f"kafka produce->consume, {partitions} partition(s) {row['rate_per_s']:9.0f} /s")
    say(f"mongo inserts                        {mongo['inserts_per_s']:9.0f} /s")
    say(f"mongo conditional updates            {mongo['conditional_updates_per_s']:9.0f} /s")
    say(
        f"cash orders to the POS               {cash['throughput_per_s']:9.1f} /s"
        f"  {cash['throughput_per_s'] / raw['rate_per_s']:.4f} x raw kafka"
        f"  {cash['throughput_per_s'] / mongo['conditional_updates_per_s']:.3f} x mongo updates"
    )
    for key in ("p50_s", "p95_s", "p99_s"):
        say(
            f"cash latency {key[:3]} at {cash['offered_per_s']:.0f}/s        "
            f"{cash[key] * 1000:9.1f} ms  {cash[key] / raw['p50_s']:.1f} x raw kafka p50"
        )


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with session_servers() as servers, tempfile.TemporaryDirectory() as logs:
        say(f"servers: {servers.origin}")
        results = asyncio.run(run(servers.kafka_bootstrap_servers, servers.mongodb_uri, Path(logs)))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"pipeline-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2))
    report(results)
    say(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
