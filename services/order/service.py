"""The order service's use cases: load, decide, save with the version check, publish."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.order import metrics
from services.order.domain import decisions, payment_changes
from services.order.domain.change import Cause, OrderDecision
from services.order.domain.decisions import PaymentEvent, PosReport
from services.order.domain.errors import (
    ConcurrencyConflict,
    OrderError,
    OrderNotFound,
    WrongStore,
)
from services.order.domain.order import Order
from services.order.domain.validation import Rejection, rejection_of
from services.order.outgoing import records_of
from services.order.ports import (
    OrderNumbers,
    OrderQuery,
    OrderRepository,
    StoreConfigRepository,
    StoreTopics,
)
from services.order.recent_configs import RecentConfigs
from services.order.refusals import OrderCommand, Refusals
from shared.contracts.orders import (
    CancelOrder,
    ChangePaymentMethod,
    OrderPlaced,
    OrderStatusChanged,
    PlaceOrder,
)
from shared.contracts.payments import PaymentChargebackReported, RefundFailed
from shared.contracts.scheduler import TimerFired
from shared.contracts.stores import StoreConfigChanged, StoreOrderConfig
from shared.contracts.values import OrderStatus, ReasonCode
from shared.records import RecordSink

log = logging.getLogger(__name__)

ORDER_ID_NAMESPACE = UUID("6f1c3a52-7d0e-4b8e-9a51-3c2f0e8d4b17")
CONFLICT_ATTEMPTS = 5

Decide = Callable[[Order], OrderDecision]
Refusable = Callable[[Order], OrderDecision | Rejection]


def order_id_for(command: PlaceOrder) -> str:
    """The order a PlaceOrder creates: the same `commandId` of a restaurant, the same order."""
    return str(uuid.uuid5(ORDER_ID_NAMESPACE, f"{command.client_id}:{command.command_id}"))


class OrderService:
    """Orders and store configurations; every change is saved with the messages it implies."""

    def __init__(
        self,
        orders: OrderRepository,
        configs: StoreConfigRepository,
        *,
        numbers: OrderNumbers,
        sink: RecordSink,
        store_topics: StoreTopics,
        clock: Callable[[], datetime],
        new_id: Callable[[], UUID] = uuid.uuid4,
        recent_configs: RecentConfigs | None = None,
    ) -> None:
        self._orders = orders
        self._configs = configs
        self._recent_configs = recent_configs or RecentConfigs(max_age_s=0)
        self._numbers = numbers
        self._refusals = Refusals(sink, clock=clock, new_id=new_id)
        self._store_topics = store_topics
        self._clock = clock
        self._new_id = new_id

    # Commands from the chatbot

    async def place(self, command: PlaceOrder) -> None:
        """A new order with the store's next number, or nothing new when the `commandId` was
        seen before: its order keeps the number it got."""
        order_id = order_id_for(command)
        config = await self.config_of(command.client_id, command.store_id)
        now = self._clock()
        rejection = rejection_of(command, config, now)
        if rejection is not None:
            # A repeated command is not refused under a configuration changed since its order
            # was stored.
            if await self._orders.get(order_id) is not None:
                await self._repeated(command, order_id)
            else:
                await self._refusals.command(command, rejection)
            return
        await self._store_topics.ensure(command.client_id, command.store_id)
        # Claimed before the insert: a crash in between leaves a gap, never a duplicate.
        number = await self._numbers.next(command.client_id, command.store_id, order_id, now)
        cause = Cause.of(command, now, self._new_id)
        decision = decisions.place(command, config, order_id, cause, order_number=number)
        # The insert is what takes a repeated command once, without a look-up before it or a
        # processed-event record (`takes_once`): its order, stored by an earlier delivery,
        # keeps its number, and the one claimed now is given back.
        if not await self._orders.add(decision.state, records_of(decision.events), now):
            await self._numbers.release(command.client_id, command.store_id, order_id, number)
            await self._repeated(command, order_id)
            return
        metrics.ORDERS_PLACED.labels(command.payment_method).inc()
        self._count(decision)
        await self._orders.publish(order_id)

    async def _repeated(self, command: PlaceOrder, order_id: str) -> None:
        log.info(
            "command %s of %s repeated: order %s exists",
            command.command_id,
            command.client_id,
            order_id,
        )
        metrics.DUPLICATE_COMMANDS.inc()
        await self._orders.publish(order_id)  # what an earlier delivery may have left

    async def cancel(self, command: CancelOrder) -> None:
        """The customer's cancellation; refused (OrderRejected) once the order is confirmed."""
        cause = Cause.of(command, self._clock(), self._new_id)
        await self._on_order(
            command, lambda order: decisions.cancel_by_customer(order, command, cause)
        )

    async def change_payment_method(self, command: ChangePaymentMethod) -> None:
        """The customer pays another way; refused (OrderRejected) unless the order is PENDING,
        unpaid, before its payment deadline, and the store accepts the method."""
        config = await self.config_of(command.client_id, command.store_id)
        accepted = config.accepted_payment_methods
        cause = Cause.of(command, self._clock(), self._new_id)
        await self._on_order(
            command,
            lambda order: payment_changes.change_payment_method(order, command, accepted, cause),
        )

    async def _on_order(self, command: OrderCommand, decide: Refusable) -> None:
        """Applies the customer's command to its order, or answers it with OrderRejected."""
        refusals: list[Rejection] = []

        def decide_or_refuse(order: Order) -> OrderDecision:
            result = decide(order)
            if isinstance(result, Rejection):
                refusals.append(result)
                return OrderDecision(order, changed=False)
            return result

        try:
            order = await self._apply(
                command.order_id, decide_or_refuse, client_id=command.client_id
            )
        except OrderNotFound:
            not_found = Rejection(ReasonCode.ORDER_NOT_FOUND, "Pedido não encontrado.")
            await self._refusals.command(command, not_found)
            return
        for refusal in refusals:
            await self._refusals.command(command, refusal, order=order)

    async def answer_malformed(
        self,
        payload: Mapping[str, Any],
        problem: str,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Tells the chatbot its command was unreadable, when it named whom to tell."""
        await self._refusals.unreadable_command(payload, problem, errors)

    # Events from the payment service, the scheduler and the POS

    async def on_payment_event(
        self, event: PaymentEvent | PaymentChargebackReported, *, handled_as: str | None = None
    ) -> None:
        """A payment's news for its order; `handled_as` names the event in the order's handled
        events (`_apply`), a chargeback excepted: it changes no order."""
        if isinstance(event, RefundFailed):
            # Counted where it is decided (payment_refunds_total{outcome="failed"}).
            log.error(
                "refund of order %s failed after %d attempt(s): %s; the money is still "
                "with the restaurant",
                event.order_id,
                event.attempts,
                event.reason,
            )
        if isinstance(event, PaymentChargebackReported):
            metrics.ALERTS.labels("chargeback").inc()
            log.error("chargeback on order %s: %s", event.order_id, event.asaas_event)
            return
        cause = Cause.of(event, self._clock(), self._new_id)
        await self._apply(
            event.order_id,
            lambda order: decisions.on_payment_event(order, event, cause),
            client_id=event.client_id,
            event=handled_as,
        )

    async def on_timer_fired(self, event: TimerFired, *, handled_as: str | None = None) -> None:
        if event.order_id is None:
            log.warning("timer %s names no order; ignored", event.timer_id)
            return
        cause = Cause.of(event, self._clock(), self._new_id)
        await self._apply(
            event.order_id,
            lambda order: decisions.on_timer_fired(order, event, cause),
            client_id=event.client_id,
            event=handled_as,
        )

    async def on_pos_update(
        self, update: PosReport, store: tuple[str, str], *, handled_as: str | None = None
    ) -> None:
        """A POS report; `store` is the store of the topic it came on, its only identity. A
        refused report is answered on the store's POS topic with PosUpdateRejected; one naming
        another store's order raises WrongStore afterwards, to be dead-lettered (neither is
        recorded as handled: a refusal changes no order)."""
        seen: Order | None = None

        def decide(order: Order) -> OrderDecision:
            nonlocal seen
            seen = order
            if (order.client_id, order.store_id) != store:
                raise WrongStore(order.order_id, store)
            return decisions.on_pos_update(order, update, self._clock(), self._new_id)

        try:
            await self._apply(update.order_id, decide, event=handled_as)
        except ConcurrencyConflict:
            raise
        except OrderError as error:
            await self._refusals.pos_update(update, error, seen, store)
            if isinstance(error, WrongStore):
                raise

    async def answer_unreadable_pos_update(
        self, payload: Mapping[str, Any], problem: str, store: tuple[str, str]
    ) -> None:
        """Tells the store's POS that an update it sent could not be read."""
        await self._refusals.unreadable_pos_update(payload, problem, store)

    async def _apply(
        self,
        order_id: str,
        decide: Decide,
        *,
        client_id: str | None = None,
        event: str | None = None,
    ) -> Order:
        """Runs `decide` on the current order and saves its decision; decided again when the
        order changed meanwhile (the save's version check). With `event` (`<consumer>|<eventId>`),
        the save records it in the order, and an order that has it already is left as it is:
        the event's one write takes it once, with no processed-event record beside it."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            order = await self._orders.get(order_id)
            if order is None or (client_id is not None and order.client_id != client_id):
                raise OrderNotFound(order_id)
            if event is not None and event in order.handled_events:
                log.info("%s already applied to order %s; skipped", event, order_id)
                await self._orders.publish(order_id)  # what the earlier delivery may have left
                return order
            decision = decide(order)
            if decision.unchanged and event is None:
                return order
            state = decision.state if event is None else decision.state.having_handled(event)
            try:
                await self._orders.save(
                    state, order.version, records_of(decision.events), self._clock()
                )
            except ConcurrencyConflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                log.info("order %s changed meanwhile; deciding again", order_id)
                continue
            self._count(decision)
            await self._orders.publish(order_id)
            return state
        raise AssertionError("unreachable")

    def _count(self, decision: OrderDecision) -> None:
        for message in decision.events:
            metrics.MESSAGES_DECIDED.labels(message.event_type).inc()
            match message:
                case OrderPlaced():
                    metrics.ORDERS_ENTERING.labels(OrderStatus.PENDING).inc()
                case OrderStatusChanged():
                    metrics.ORDERS_ENTERING.labels(message.to_status).inc()

    async def refund_stranded(self, order_id: str) -> bool:
        """Asks again for the refund of a cancelled order still PAID (the money audit's
        repair); True when it asked."""
        saved, now = await self._repair(order_id, decisions.refund_stranded)
        return saved is not None and saved.refund_asked_at == now

    async def ask_refund_again(self, order_id: str) -> bool:
        """Asks again for a refund the payment service never answered (the money audit's
        repair); True when it asked."""
        saved, now = await self._repair(order_id, decisions.ask_refund_again)
        return saved is not None and saved.refund_asked_again_at == now

    async def _repair(
        self, order_id: str, decide: Callable[[Order, Cause], OrderDecision]
    ) -> tuple[Order | None, datetime]:
        """A money-audit repair decided in the order's conversation turn: the order as saved
        (None if there is none) and the repair's time."""
        now = self._clock()
        order = await self._orders.get(order_id)
        if order is None:
            return None, now
        cause = Cause(order.correlation_id, None, now, self._new_id)
        return await self._apply(order_id, lambda current: decide(current, cause)), now

    # Store configurations and queries

    async def config_of(self, client_id: str, store_id: str) -> StoreOrderConfig:
        """The store's configuration a decision follows, or the source design's defaults when it
        has none: as this replica wrote it, or read at most ORDER_STORE_CONFIG_MAX_AGE_S ago."""
        return await self._recent_configs.get(
            (client_id, store_id), lambda: self.stored_config_of(client_id, store_id)
        )

    async def stored_config_of(self, client_id: str, store_id: str) -> StoreOrderConfig:
        """The store's configuration as stored now (what a reader edits), or the defaults."""
        found = await self._configs.get(client_id, store_id)
        return found or StoreOrderConfig.default_for(client_id, store_id)

    async def put_config(self, config: StoreOrderConfig) -> StoreOrderConfig:
        """Saves a store's whole configuration, creates its POS topics, publishes the change."""
        now = self._clock()
        config = config.model_copy(update={"updated_at": now})
        await self._store_topics.ensure(config.client_id, config.store_id)
        changed = StoreConfigChanged(
            event_id=self._new_id(),
            occurred_at=now,
            correlation_id=f"config-{self._new_id()}",
            client_id=config.client_id,
            store_id=config.store_id,
            config=config,
        )
        await self._recent_configs.write(
            (config.client_id, config.store_id),
            config,
            lambda: self._configs.put(config, records_of([changed]), now),
        )
        await self._configs.publish(config.client_id, config.store_id)
        return config

    async def get_order(self, order_id: str) -> Order | None:
        return await self._orders.get(order_id)

    async def find_orders(self, query: OrderQuery) -> list[Order]:
        return await self._orders.find(query)
