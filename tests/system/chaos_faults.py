"""The chaos test's faults, injected while the traffic runs: a two-minute Twilio outage, one
restaurant's Asaas outage, crashes and restarts of every process and server."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from deploy.local.servers import FerretDBServer, KafkaServer
from tests.system.conftest import Restaurant, System

TWILIO_OUTAGE_S = 120.0
"""Half of it Twilio answers 503 (20503), half 429 (20429), to every message."""
ASAAS_OUTAGE_S = 60.0
"""Half of it the restaurant's Asaas account times out, half it answers 500."""
ASAAS_TIMING_OUT_MS = 15_000
"""Longer than the payment service's ASAAS_TIMEOUT_S (10 s)."""
CALM_S = 20.0
"""Before the first fault: the orders' latency undisturbed."""
GAP_S = 30.0
"""Between the Asaas outage and the crashes: the failing restaurant's charges catch up."""
FOR_EVER = 10**9
"""A fault count no traffic uses up: the fault lasts until it is set back to 0."""


@dataclass(frozen=True)
class Fault:
    """One fault injected, and when (epoch seconds)."""

    name: str
    started: float
    ended: float


class Faults:
    """Injects the faults one after another (the Twilio outage beside them); what was done and
    when."""

    def __init__(
        self,
        system: System,
        servers: tuple[KafkaServer, FerretDBServer],
        *,
        bursty: Restaurant,
        failing: Restaurant,
    ) -> None:
        self.system = system
        self.kafka, self.mongo = servers
        self.bursty = bursty
        self.failing = failing
        self.done: list[Fault] = []
        self.calm = asyncio.Event()
        """Set once the Asaas outage is over, before the crashes."""

    def named(self, name: str) -> Fault:
        return next(fault for fault in self.done if fault.name == name)

    @contextlib.asynccontextmanager
    async def _fault(self, name: str) -> AsyncIterator[None]:
        started = time.time()
        yield
        self.done.append(Fault(name, started, time.time()))

    async def inject(self) -> list[Fault]:
        """A calm start (the latency baseline), the Asaas outage while nothing else disturbs the
        orders' latency (Twilio's outage beside it delays no charge), a calm gap for its
        backlog (`calm` is set then), then the rest."""
        await asyncio.sleep(CALM_S)
        twilio = asyncio.create_task(self.twilio_outage())
        await self.asaas_outage()
        self.calm.set()
        await asyncio.sleep(GAP_S)
        await self.asaas_trouble()
        await self.crashes()
        await twilio
        return self.done

    async def crashes(self) -> None:
        """Each service killed (-9) and restarted, then the broker, then the MongoDB server."""
        for name in ("order", "payment", "notifier", "scheduler"):
            process = self.system.processes[name]
            async with self._fault(f"kill -9 {name}"):
                process.kill()
                process.start()
                await asyncio.to_thread(process.wait_ready, 120)
            await _pause()
        async with self._fault("Kafka broker restarted"):
            await asyncio.to_thread(self.kafka.stop)
            await asyncio.to_thread(self.kafka.start)
        await _pause()
        async with self._fault("MongoDB-protocol server killed and restarted"):
            await asyncio.to_thread(self.mongo.kill)
            await asyncio.to_thread(self.mongo.start)
        await _pause()

    async def asaas_trouble(self) -> None:
        """Short trouble on a healthy restaurant's account, absorbed by the retries."""
        asaas = self.bursty.asaas
        # Three in a row: fewer than the client's attempts (ASAAS_ATTEMPTS, 4).
        async with self._fault("Asaas 5xx burst on charge creation"):
            await asaas.post("/_control/faults", json={"fail5xx": {"POST /v3/payments": 3}})
        async with self._fault("Asaas webhooks held and delivered in reverse order"):
            await asaas.post("/_control/webhooks/pause")
            await _pause()
            await asaas.post("/_control/webhooks/resume", json={"order": "reverse"})
        await _pause()

    async def asaas_outage(self) -> None:
        """One restaurant's Asaas account away (timeouts, then 500s on every call) while the
        other restaurants keep ordering."""
        asaas = self.failing.asaas
        async with self._fault(ASAAS_OUTAGE):
            await asaas.post("/_control/faults", json={"latencyMs": ASAAS_TIMING_OUT_MS})
            await asyncio.sleep(ASAAS_OUTAGE_S / 2)
            await asaas.post("/_control/faults", json={"latencyMs": 0, "fail5xx": {"*": FOR_EVER}})
            await asyncio.sleep(ASAAS_OUTAGE_S / 2)
            await asaas.post("/_control/faults", json={"fail5xx": {"*": 0}})

    async def twilio_outage(self) -> None:
        """Every WhatsApp message refused by Twilio for two minutes."""
        twilio = self.failing.twilio  # the emulator serves one account for every restaurant
        async with self._fault(TWILIO_OUTAGE):
            await twilio.post("/_control/server-errors", json={"count": FOR_EVER, "status": 503})
            await asyncio.sleep(TWILIO_OUTAGE_S / 2)
            await twilio.post("/_control/server-errors", json={"count": 0})
            await twilio.post("/_control/throttle", json={"count": FOR_EVER})
            await asyncio.sleep(TWILIO_OUTAGE_S / 2)
            await twilio.post("/_control/throttle", json={"count": 0})


ASAAS_OUTAGE = "one restaurant's Asaas account away"
TWILIO_OUTAGE = "Twilio away (503, then 429)"


async def _pause() -> None:
    await asyncio.sleep(1)
