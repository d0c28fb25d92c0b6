"""A store's POS client: receive the store's orders, confirm, reject, and report progress.

    async with PosClient(KafkaSettings(), "client-1", "store-1") as pos:
        async for message in pos.messages():
            if isinstance(message, PosOrderReceived) and message.awaiting_confirmation:
                await pos.confirm(message.order_id)

It reads `pos.<clientId>.<storeId>.orders` in the consumer group `pos.<clientId>.<storeId>.pos`
(inside the prefix a Kafka ACL can grant the POS) and writes `pos.<clientId>.<storeId>.updates`,
keyed by `clientId` like every topic. An update the order service refuses is answered on the
first topic with `PosUpdateRejected` (why, and the order's status when it is the store's). It
connects as its settings say (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*: the store's own identity,
whose ACLs open that prefix only).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import TracebackType
from typing import TypeVar

from aiokafka import AIOKafkaConsumer

from shared.broker import BrokerSink, build_broker
from shared.clients.reading import follow
from shared.contracts.pos import (
    PosOrderCancelled,
    PosOrderConfirmed,
    PosOrderReceived,
    PosOrderRejected,
    PosOrderStatusUpdated,
    PosUpdate,
    PosUpdateRejected,
)
from shared.contracts.values import PosStatus
from shared.records import OutgoingRecord, RecordSink
from shared.settings import KafkaTarget, kafka_settings
from shared.topics import pos_orders_topic, pos_updates_topic

PosMessage = PosOrderReceived | PosOrderCancelled | PosUpdateRejected
U = TypeVar("U", bound=PosUpdate)


class PosClient:
    """One store's point of sale on its two Kafka topics."""

    def __init__(self, kafka: KafkaTarget, client_id: str, store_id: str) -> None:
        self.client_id = client_id
        self.store_id = store_id
        self._orders_topic = pos_orders_topic(client_id, store_id)
        settings = kafka_settings(kafka)
        self._broker = build_broker(settings, client_id=f"pos-{client_id}")
        self.updates = PosUpdates(BrokerSink(self._broker), client_id, store_id)
        self._orders = AIOKafkaConsumer(
            self._orders_topic,
            **settings.client_options(),
            group_id=f"pos.{client_id}.{store_id}.pos",
            auto_offset_reset="earliest",
            enable_auto_commit=True,
        )

    async def __aenter__(self) -> PosClient:
        try:
            await self._broker.start()
            await self._orders.start()
        except BaseException:
            await self.__aexit__(None, None, None)  # clients left open warn at exit
            raise
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._orders.stop()
        await self._broker.stop()

    async def messages(self) -> AsyncIterator[PosMessage]:
        """The store's orders, cancellations and refusals of its own updates (each says why),
        in order, from where the store left off."""
        async for message in follow(self._orders):
            if isinstance(message, PosOrderReceived | PosOrderCancelled | PosUpdateRejected):
                yield message

    async def confirm(self, order_id: str) -> PosOrderConfirmed:
        return await self.updates.confirm(order_id)

    async def reject(self, order_id: str, reason: str) -> PosOrderRejected:
        return await self.updates.reject(order_id, reason)

    async def update_status(
        self, order_id: str, status: PosStatus, delivery_time: str | None = None
    ) -> PosOrderStatusUpdated:
        return await self.updates.update_status(order_id, status, delivery_time)


class PosUpdates:
    """What a store's POS says to the order service, on `pos.<clientId>.<storeId>.updates`
    through `sink` (the POS client's own producer, or a service's: the restaurant panel)."""

    def __init__(self, sink: RecordSink, client_id: str, store_id: str) -> None:
        self.client_id = client_id
        self.store_id = store_id
        self._topic = pos_updates_topic(client_id, store_id)
        self._sink = sink

    async def confirm(self, order_id: str) -> PosOrderConfirmed:
        return await self._publish(PosOrderConfirmed(**self._envelope(), order_id=order_id))

    async def reject(self, order_id: str, reason: str) -> PosOrderRejected:
        return await self._publish(
            PosOrderRejected(**self._envelope(), order_id=order_id, reason=reason)
        )

    async def update_status(
        self, order_id: str, status: PosStatus, delivery_time: str | None = None
    ) -> PosOrderStatusUpdated:
        return await self._publish(
            PosOrderStatusUpdated(
                **self._envelope(), order_id=order_id, status=status, delivery_time=delivery_time
            )
        )

    def _envelope(self) -> dict[str, object]:
        return {
            "event_id": uuid.uuid4(),
            "occurred_at": datetime.now(UTC),
            "client_id": self.client_id,
            "store_id": self.store_id,
        }

    async def _publish(self, update: U) -> U:
        await self._sink.send(OutgoingRecord.of(self._topic, update))
        return update
