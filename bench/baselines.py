"""The ceilings the pipeline is made of, measured on the same machine in the same run."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from bench.harness import percentile
from shared.broker import ensure_topics

KAFKA_MESSAGES = 5_000
MONGO_WRITES = 1_000
ROUND_TRIPS = 200


async def kafka_produce_consume(bootstrap: str, partitions: int) -> dict[str, float]:
    """Produce-to-consume of small records (`acks=all`, idempotent) as fast as they go, then
    one at a time: the round trip of a record on an idle broker (the latency baseline)."""
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
            for n in range(KAFKA_MESSAGES)
        ]
        await asyncio.gather(*sends)
        latencies: list[float] = []
        while len(latencies) < KAFKA_MESSAGES:
            for batch in (await consumer.getmany(timeout_ms=1000)).values():
                now = time.perf_counter()
                latencies += [now - float(record.value or b"0") for record in batch]
        elapsed = time.perf_counter() - started
        round_trips = []
        for n in range(ROUND_TRIPS):
            sent_at = time.perf_counter()
            await producer.send_and_wait(topic, b"ping", key=str(n).encode())
            await consumer.getone()
            round_trips.append(time.perf_counter() - sent_at)
    finally:
        await consumer.stop()
        await producer.stop()
    return {
        "partitions": partitions,
        "rate_per_s": KAFKA_MESSAGES / elapsed,
        "p50_s": percentile(latencies, 0.5),
        "round_trip_p50_s": percentile(round_trips, 0.5),
    }


async def mongo_writes(uri: str) -> dict[str, float]:
    """Sequential inserts, then sequential conditional (versioned) updates, through PyMongo."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    collection = client[f"bench_raw_{uuid.uuid4().hex[:6]}"]["documents"]
    try:
        started = time.perf_counter()
        for n in range(MONGO_WRITES):
            await collection.insert_one({"_id": f"doc-{n}", "version": 0, "status": "PENDING"})
        inserts = MONGO_WRITES / (time.perf_counter() - started)
        started = time.perf_counter()
        for n in range(MONGO_WRITES):
            await collection.update_one(
                {"_id": f"doc-{n}", "version": 0},
                {"$set": {"status": "CONFIRMED"}, "$inc": {"version": 1}},
            )
        updates = MONGO_WRITES / (time.perf_counter() - started)
        await client.drop_database(collection.database.name)
    finally:
        await client.close()
    return {"inserts_per_s": inserts, "conditional_updates_per_s": updates}
