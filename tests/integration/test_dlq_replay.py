"""The DLQ replay tool on the real broker: a message whose handler failed is dead-lettered, the
handler is fixed, the dead letter is replayed to its topic and handled this time."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter

import pytest

from shared.broker import BrokerSink, ensure_topics
from shared.consumer import IdempotentConsumer, ReceivedRecord, Subscription, subscribe
from shared.contracts.registry import decode_as
from shared.contracts.scheduler import CancelTimer
from shared.dlq_replay import HEADER_REPLAYED_FROM, run
from shared.mongo import Database
from shared.processed_events import MongoProcessedEvents
from shared.records import HEADER_ORIGINAL_TOPIC, OutgoingRecord
from shared.settings import ConsumerSettings
from shared.topics import dlq_topic
from tests.builders import cancel_timer
from tests.conftest import NewTopics
from tests.integration.kafka_helpers import at_least, read_until, running_broker
from tests.waiting import eventually

pytestmark = pytest.mark.integration


async def tool(*argv: str) -> str:
    out = io.StringIO()
    await run(argv, out)
    return out.getvalue()


async def test_a_dead_letter_replayed_after_the_fix_is_handled(
    kafka_bootstrap: str, new_topics: NewTopics, database: Database
) -> None:
    [topic] = await new_topics("scheduler.commands", partitions=1)
    dlq = dlq_topic(topic)
    await ensure_topics(kafka_bootstrap, [dlq], partitions=1)
    broken = {"r1:2"}
    handled: Counter[str] = Counter()

    async def handler(message: CancelTimer, received: ReceivedRecord) -> None:
        if message.timer_id in broken:
            raise RuntimeError(f"bug in the handler of {message.timer_id}")
        handled[message.timer_id] += 1

    def setup(broker: object) -> None:
        subscribe(
            broker,  # type: ignore[arg-type]
            IdempotentConsumer(
                Subscription(
                    f"replay-{topic}",
                    lambda value: decode_as(value, CancelTimer),
                    handler,
                    topics=(topic,),
                ),
                processed=MongoProcessedEvents(database),
                dead_letters=BrokerSink(broker),  # type: ignore[arg-type]
                settings=ConsumerSettings(attempts=2, transient_max_elapsed_s=1),
            ),
        )

    first, failing = cancel_timer("r1:1"), cancel_timer("r1:2")
    async with running_broker(kafka_bootstrap, setup) as broker:
        sink = BrokerSink(broker)
        await sink.send(OutgoingRecord.of(topic, first), OutgoingRecord.of(topic, failing))
        [dead] = await read_until(kafka_bootstrap, dlq, at_least(1))
        assert handled == Counter({"r1:1": 1})

        listed = await tool("--bootstrap-servers", kafka_bootstrap, "list", dlq)
        assert f"0@{dead.offset}\t{topic}[0]@1\tCancelTimer\tRuntimeError: bug" in listed
        shown = await tool("--bootstrap-servers", kafka_bootstrap, "show", dlq, str(dead.offset))
        assert failing.to_json().decode() in shown

        broken.clear()  # the fix is deployed
        replayed = await tool(
            "--bootstrap-servers", kafka_bootstrap, "replay", dlq, "--offset", str(dead.offset)
        )
        assert "1 record(s) replayed" in replayed
        await eventually(lambda: handled["r1:2"] == 1, what="the replayed message handled")

    again = await read_until(kafka_bootstrap, topic, at_least(3))
    replay = again[2]
    headers = dict(replay.headers)
    assert replay.key == dead.key
    assert replay.value == OutgoingRecord.of(topic, failing).value
    assert headers[HEADER_REPLAYED_FROM] == f"{dlq}:0@{dead.offset}".encode()
    assert HEADER_ORIGINAL_TOPIC not in headers
    assert headers["event-id"] == str(failing.event_id).encode()


def test_the_replay_tool_runs_as_a_module_and_refuses_a_topic_that_is_no_dlq() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shared.dlq_replay", "list", "orders.commands"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "is not a dead-letter topic" in result.stderr
