"""Reads a dead-letter topic and replays its records to the topics they came from
(docs/operations.md, "Dead letters"): `python -m shared.dlq_replay list|show|replay ...`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared import command_line
from shared.command_line import Failed, say
from shared.records import (
    HEADER_DEAD_VALUE_BYTES,
    HEADER_DLQ_PREFIX,
    HEADER_ERROR,
    HEADER_EVENT_TYPE,
    HEADER_ORIGINAL_OFFSET,
    HEADER_ORIGINAL_PARTITION,
    HEADER_ORIGINAL_TOPIC,
)
from shared.settings import KafkaSettings, kafka_from_environment
from shared.topics import DLQ_SUFFIX

HEADER_REPLAYED_FROM = "replayed-from"
"""Set on a replayed record: the dead letter it was replayed from (`<topic>.dlq:P@N`)."""
MAX_SHOWN_ERROR = 120
MAX_REQUEST_BYTES = 16 * 1024 * 1024

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


@dataclass(frozen=True)
class Selection:
    """Which dead letters: a partition (or every one) and an inclusive range of offsets."""

    partition: int | None = None
    first: int = 0
    last: int | None = None


def text(value: bytes | None) -> str:
    return "" if value is None else value.decode(errors="backslashreplace")


def headers_of(record: Record) -> dict[str, str]:
    return {name: text(value) for name, value in record.headers}


def position(record: Record) -> str:
    return f"{record.partition}@{record.offset}"


def origin(headers: dict[str, str]) -> str:
    """Where a dead letter was read: `topic[partition]@offset`."""
    return (
        f"{headers.get(HEADER_ORIGINAL_TOPIC, '?')}[{headers.get(HEADER_ORIGINAL_PARTITION, '?')}]"
        f"@{headers.get(HEADER_ORIGINAL_OFFSET, '?')}"
    )


async def partitions_of(kafka: KafkaSettings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    numbers = [
        partition["partition"]
        for found in described
        if found.get("topic") == topic and not found.get("error_code")
        for partition in found.get("partitions", [])
    ]
    if not numbers:
        raise Failed(f"topic {topic} does not exist")
    return numbers


async def dead_letters(
    kafka: KafkaSettings, topic: str, selection: Selection
) -> AsyncIterator[Record]:
    """The records of `topic` the selection names, partition by partition, up to the end the
    topic has now."""
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        numbers = await partitions_of(kafka, topic)
        chosen = sorted(numbers) if selection.partition is None else [selection.partition]
        partitions = [TopicPartition(topic, number) for number in chosen]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        for partition in partitions:
            start = max(selection.first, beginnings[partition])
            end = (
                ends[partition]
                if selection.last is None
                else min(ends[partition], selection.last + 1)
            )
            if start >= end:
                continue
            consumer.seek(partition, start)
            while await consumer.position(partition) < end:
                batch = await consumer.getmany(partition, timeout_ms=1_000)
                for record in batch.get(partition, []):
                    if record.offset < end:
                        yield record
    finally:
        await consumer.stop()


async def list_records(kafka: KafkaSettings, topic: str, selection: Selection, out: TextIO) -> int:
    count = 0
    async for record in dead_letters(kafka, topic, selection):
        headers = headers_of(record)
        error = headers.get(HEADER_ERROR, "")[:MAX_SHOWN_ERROR]
        event_type = headers.get(HEADER_EVENT_TYPE, "-")[:40]
        print(f"{position(record)}\t{origin(headers)}\t{event_type}\t{error}", file=out)
        count += 1
    print(f"{count} dead letter(s) in {topic}", file=out)
    return count


async def show(kafka: KafkaSettings, topic: str, selection: Selection, out: TextIO) -> int:
    count = 0
    async for record in dead_letters(kafka, topic, selection):
        print(f"== {topic} {position(record)}  key={text(record.key)}", file=out)
        for name, value in record.headers:
            print(f"{name}: {text(value)}", file=out)
        print(f"\n{text(record.value)}\n", file=out)
        count += 1
    if not count:
        print(f"no dead letter at that offset in {topic}", file=out)
    return count


async def replay(kafka: KafkaSettings, topic: str, selection: Selection, out: TextIO) -> int:
    """Publishes each selected dead letter to its original topic with its key and headers
    (without the DLQ's own); returns how many were replayed."""
    producer = AIOKafkaProducer(
        **kafka.client_options(),
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_REQUEST_BYTES,
    )
    await producer.start()
    replayed = 0
    try:
        async for record in dead_letters(kafka, topic, selection):
            headers = headers_of(record)
            original = headers.get(HEADER_ORIGINAL_TOPIC)
            where = f"{topic} {position(record)}"
            if not original:
                print(f"skipped {where}: no {HEADER_ORIGINAL_TOPIC} header", file=out)
                continue
            if HEADER_DEAD_VALUE_BYTES in headers:
                print(
                    f"skipped {where}: its value was cut to fit the DLQ; the whole record is "
                    f"{origin(headers)} (until its retention ends)",
                    file=out,
                )
                continue
            kept = [
                (name, value or b"")
                for name, value in record.headers
                if not name.startswith(HEADER_DLQ_PREFIX) and name != HEADER_REPLAYED_FROM
            ]
            kept.append((HEADER_REPLAYED_FROM, f"{topic}:{position(record)}".encode()))
            sent = await producer.send_and_wait(
                original, record.value, key=record.key, headers=kept
            )
            print(f"replayed {where} -> {original}[{sent.partition}]@{sent.offset}", file=out)
            replayed += 1
    finally:
        await producer.stop()
    print(f"{replayed} record(s) replayed", file=out)
    return replayed


EXAMPLES = """\
examples (docs/operations.md, "Dead letters"):
  python -m shared.dlq_replay list orders.commands.dlq
  python -m shared.dlq_replay show orders.commands.dlq 12 --partition 3
  python -m shared.dlq_replay replay orders.commands.dlq --offset 12 --partition 3
  python -m shared.dlq_replay --bootstrap 127.0.0.1:9092 replay orders.commands.dlq \\
      --from 10 --to 20
"""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m shared.dlq_replay",
        description="List, show and replay the records of a dead-letter topic (<topic>.dlq).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument(
        "--bootstrap",
        "--bootstrap-servers",
        dest="bootstrap_servers",
        help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:9092); "
        "TLS and the SASL identity come from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME, ...",
    )
    commands = root.add_subparsers(dest="command", required=True)
    helps = {
        "list": "one line per dead letter: where, whence, error",
        "show": "the headers and value of the dead letter(s) at OFFSET",
        "replay": "publish dead letters to their original topic",
    }
    found = {}
    for name, summary in helps.items():
        command = found[name] = commands.add_parser(name, help=summary)
        command.add_argument("topic", help="the dead-letter topic, e.g. orders.commands.dlq")
        command.add_argument(
            "--partition",
            type=int,
            help="the DLQ partition (offsets are per partition; default: every partition)",
        )
    found["show"].add_argument("offset", type=int)
    chosen = found["replay"].add_mutually_exclusive_group(required=True)
    chosen.add_argument("--offset", type=int, help="the dead letter at this offset")
    chosen.add_argument("--from", dest="first", type=int, help="the first offset of a range")
    found["replay"].add_argument("--to", dest="last", type=int, help="the last offset (inclusive)")
    return root


def selection_of(arguments: argparse.Namespace) -> Selection:
    partition = arguments.partition
    if arguments.command == "list":
        return Selection(partition)
    if arguments.command == "show":
        return Selection(partition, arguments.offset, arguments.offset)
    if arguments.offset is not None:
        return Selection(partition, arguments.offset, arguments.offset)
    return Selection(partition, arguments.first, arguments.last)


def arguments_of(argv: Sequence[str] | None) -> argparse.Namespace:
    root = parser()
    arguments = root.parse_args(argv)
    if not arguments.topic.endswith(DLQ_SUFFIX):
        root.error(f"{arguments.topic} is not a dead-letter topic (<topic>{DLQ_SUFFIX})")
    return arguments


async def act(arguments: argparse.Namespace, kafka: KafkaSettings, out: TextIO) -> int:
    action: Any = {"list": list_records, "show": show, "replay": replay}[arguments.command]
    return int(await action(kafka, arguments.topic, selection_of(arguments), out))


async def run(argv: Sequence[str], out: TextIO = sys.stdout) -> int:
    """The tool on `argv`, printing to `out`; returns how many dead letters it went through."""
    arguments = arguments_of(argv)
    return await act(arguments, kafka_from_environment(arguments.bootstrap_servers), out)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = arguments_of(argv)
    kafka = kafka_from_environment(arguments.bootstrap_servers)
    say(f"{arguments.command} {arguments.topic} on Kafka at {kafka.bootstrap_servers}")
    command_line.run(act(arguments, kafka, sys.stdout), kafka=kafka.bootstrap_servers)


if __name__ == "__main__":
    main()
