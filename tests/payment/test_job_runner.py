"""The job runner's lanes: due jobs run side by side, a few of one restaurant at a time, so a
restaurant whose jobs hang holds only its own lanes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.payment.adapters.in_memory import InMemoryJobQueue, InMemoryWebhookInbox
from services.payment.config import PaymentPolicy
from services.payment.jobs import JobRunner, Lanes
from services.payment.ports import CHARGE_JOB, Job
from tests.waiting import eventually

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def job(client_id: str, n: int) -> Job:
    return Job(CHARGE_JOB, f"{client_id}:order-{n}", NOW, client_id=client_id)


LEASE = timedelta(seconds=PaymentPolicy().job_lease_s)


def offered(job: Job) -> Job:
    """The job as stored by the caller of `JobRunner.lane`: due when a lease from now ends."""
    return replace(job, due_at=NOW + LEASE)


@dataclass
class Handler:
    """Runs each job until its restaurant's gate opens; counts what runs at once."""

    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    running: Counter[str] = field(default_factory=Counter)
    most: Counter[str] = field(default_factory=Counter)
    most_overall: int = 0
    done: list[str] = field(default_factory=list)
    jobs: InMemoryJobQueue = field(default_factory=InMemoryJobQueue)

    def gate(self, client_id: str) -> asyncio.Event:
        return self.gates.setdefault(client_id, asyncio.Event())

    async def __call__(self, job: Job) -> None:
        self.running[job.client_id] += 1
        self.most[job.client_id] = max(self.most[job.client_id], self.running[job.client_id])
        self.most_overall = max(self.most_overall, sum(self.running.values()))
        try:
            await self.gate(job.client_id).wait()
        finally:
            self.running[job.client_id] -= 1
        await self.jobs.remove(job.kind, job.key)
        self.done.append(job.key)


@pytest.fixture
async def handler() -> AsyncIterator[Handler]:
    handler = Handler()
    policy = PaymentPolicy(jobs_in_flight=4, jobs_per_restaurant=2, poll_interval_s=0.05)
    runner = JobRunner(handler.jobs, InMemoryWebhookInbox(), policy, lambda: NOW)
    loop = asyncio.create_task(runner.run(CHARGE_JOB, handler))
    yield handler
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)


async def test_a_restaurant_whose_jobs_hang_holds_two_lanes_and_the_others_run_past_it(
    handler: Handler,
) -> None:
    for n in range(6):
        await handler.jobs.put(job("slow", n))  # due first, all of them
    for n in range(3):
        await handler.jobs.put(job("quick", n))
    handler.gate("quick").set()

    await eventually(lambda: len(handler.done) == 3, what="the quick restaurant's three jobs")
    assert handler.running["slow"] == 2
    assert sorted(handler.done) == [f"quick:order-{n}" for n in range(3)]

    handler.gate("slow").set()
    await eventually(lambda: len(handler.done) == 9, what="the slow restaurant's jobs, later")
    assert handler.most["slow"] == 2


async def test_no_more_than_the_overall_bound_run_at_once_whatever_the_restaurants(
    handler: Handler,
) -> None:
    for client in ("a", "b", "c"):
        for n in range(2):
            await handler.jobs.put(job(client, n))

    await eventually(lambda: sum(handler.running.values()) == 4, what="four jobs running")
    for client in ("a", "b", "c"):
        handler.gate(client).set()
    await eventually(lambda: len(handler.done) == 6, what="every job run")
    assert handler.most_overall == 4


class CountedJobQueue(InMemoryJobQueue):
    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    async def due(
        self, kind: str, now: datetime, limit: int, *, skip_clients: Collection[str] = ()
    ) -> list[Job]:
        self.looks += 1
        return await super().due(kind, now, limit, skip_clients=skip_clients)


async def test_a_job_stored_in_a_lane_taken_for_it_runs_at_once_with_no_look_nor_claim() -> None:
    queue = CountedJobQueue()
    handler = Handler(jobs=queue)
    policy = PaymentPolicy(jobs_in_flight=4, jobs_per_restaurant=2, poll_interval_s=600)
    runner = JobRunner(handler.jobs, InMemoryWebhookInbox(), policy, lambda: NOW)
    loop = asyncio.create_task(runner.run(CHARGE_JOB, handler))
    try:
        await eventually(lambda: queue.looks == 1, what="the loop's first look")
        handler.gate("a").set()
        for n in range(2):
            with runner.lane(job("a", n)) as start:
                assert start is not None
                await handler.jobs.put(job("a", n))
                start()
        await eventually(lambda: len(handler.done) == 2, what="both jobs run")
        assert queue.looks == 1
        assert queue.claims == {}

        # A lane taken for a job that was not stored (a duplicate, say) is given back.
        for n in range(3):
            with runner.lane(job("b", n)) as start:
                assert start is not None

        # Its restaurant's lanes taken: the job is held here, and run once a lane frees.
        handler.gate("a").clear()
        for n in range(2, 5):
            with runner.lane(offered(job("a", n))) as start:
                assert start is not None
                await handler.jobs.put(offered(job("a", n)))
                start()
        await eventually(lambda: handler.running["a"] == 2, what="two lanes taken")
        handler.gate("a").set()
        await eventually(lambda: len(handler.done) == 5, what="the held job run later")
        assert queue.looks == 1
        assert queue.claims == {}
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert handler.most["a"] == 2


async def test_a_job_held_for_a_lane_past_half_its_lease_is_left_to_the_loops() -> None:
    queue = CountedJobQueue()
    handler = Handler(jobs=queue)
    policy = PaymentPolicy(jobs_in_flight=4, jobs_per_restaurant=1, poll_interval_s=600)
    clock = [NOW]
    runner = JobRunner(handler.jobs, InMemoryWebhookInbox(), policy, lambda: clock[0])
    loop = asyncio.create_task(runner.run(CHARGE_JOB, handler))
    try:
        await eventually(lambda: queue.looks == 1, what="the loop's first look")
        for n in range(2):
            with runner.lane(offered(job("a", n))) as start:
                assert start is not None
                start()
        await eventually(lambda: handler.running["a"] == 1, what="the first job running")
        clock[0] = NOW + LEASE / 2
        fresh = replace(job("a", 2), due_at=clock[0] + LEASE)
        with runner.lane(fresh) as start:
            assert start is not None
            start()

        handler.gate("a").set()
        await eventually(lambda: len(handler.done) == 2, what="the first and the fresh job run")
        assert handler.done == ["a:order-0", "a:order-2"]
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)


def test_a_lane_is_taken_once_per_key_and_freed_when_its_job_ends() -> None:
    lanes = Lanes(overall=3, per_restaurant=2)
    first, second, third = job("a", 1), job("a", 2), job("a", 3)

    assert lanes.take(first)
    assert not lanes.take(first)  # running already
    assert lanes.take(second)
    assert not lanes.take(third)
    assert lanes.full() == {"a"}
    assert lanes.take(job("b", 1))
    assert not lanes.free
    lanes.release(first)
    assert lanes.full() == set()
    assert lanes.take(third)


def test_jobs_stored_without_their_restaurant_each_get_a_lane_of_their_own() -> None:
    lanes = Lanes(overall=5, per_restaurant=1)
    legacy = [Job(CHARGE_JOB, f"c:order-{n}", NOW) for n in range(3)]

    assert all(lanes.take(old) for old in legacy)


def test_a_job_read_back_while_it_runs_is_that_run_but_one_stored_again_is_not() -> None:
    lanes = Lanes(overall=3, per_restaurant=2)
    offered = replace(job("a", 1), due_at=NOW + timedelta(microseconds=400))
    assert lanes.take(offered)

    assert lanes.runs(job("a", 1))  # as stored: milliseconds
    assert not lanes.runs(replace(offered, due_at=NOW + timedelta(seconds=1)))
    assert not lanes.take(replace(offered, due_at=NOW + timedelta(seconds=1)))
    lanes.release(offered)
    assert not lanes.runs(job("a", 1))
