"""`python -m shared.clients.pos_simulator`: a store's POS on its Kafka topics.

Manual mode reads lines from stdin: `confirm <order>`, `reject <order> <reason>`,
`status <order> <PREPARING|READY|DELIVERING|DELIVERED|COMPLETED> [delivery time]`, where
`<order>` is the number on the screen (`12` or `#12`) or the order id. An update the order
service refuses is shown with its reason (`PosUpdateRejected`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Mapping, Sequence

from pydantic import ValidationError

from shared import command_line
from shared.clients.pos import PosClient, PosMessage
from shared.command_line import say
from shared.contracts.base import format_brl
from shared.contracts.pos import PosOrderCancelled, PosOrderReceived, PosUpdateRejected
from shared.contracts.registry import describe_validation
from shared.contracts.values import PosStatus, ReasonCode
from shared.settings import KafkaSettings, kafka_from_environment
from shared.topics import TopicNameError, pos_orders_topic, pos_updates_topic

EXAMPLES = """\
examples (on a system started by `make up`):
  python -m shared.clients.pos_simulator --client demo-burger --store centro --auto
  python -m shared.clients.pos_simulator --client demo-burger --store centro
then type, for the order shown as #12:
  confirm 12
  status 12 preparing
  status 12 delivering 25 minutos
  reject 12 sem entregador
"""
MOVES = (
    "confirm <nº> | reject <nº> <motivo> | "
    "status <nº> <preparing|ready|delivering|delivered|completed> [tempo]"
)
KITCHEN = (PosStatus.PREPARING, PosStatus.READY, PosStatus.DELIVERING, PosStatus.DELIVERED)

REFUSAL_WORDS: Mapping[ReasonCode, str] = {
    ReasonCode.ORDER_NOT_FOUND: "pedido desconhecido",
    ReasonCode.WRONG_STORE: "pedido de outra loja",
    ReasonCode.TRANSITION_NOT_ALLOWED: "mudança não permitida",
    ReasonCode.MALFORMED_UPDATE: "mensagem ilegível",
}


def label(order_id: str | None, order_number: int | None) -> str:
    """How the kitchen names an order: `#12`, or its id when it has no number."""
    if order_number is not None:
        return f"#{order_number}"
    return order_id or "?"


def screen(message: PosMessage) -> str:
    """The POS screen's lines for a message."""
    if isinstance(message, PosOrderCancelled):
        name = label(message.order_id, message.order_number)
        return f"[POS] pedido {name} CANCELADO ({message.reason})"
    if isinstance(message, PosUpdateRejected):
        return refusal(message)
    order = message.order
    total = format_brl(order.total_cents)
    name = label(order.order_id, order.order_number)
    lines = [f"[POS] novo pedido {name} de {order.customer_name}, {total}"]
    lines += [f"        {item.quantity}x {item.name}" for item in order.items]
    if message.awaiting_confirmation:
        deadline = f"{message.confirm_by:%H:%M:%S} UTC" if message.confirm_by else "sem prazo"
        lines.append(f"        aguardando confirmação até {deadline}")
    else:
        lines.append("        confirmado")
    return "\n".join(lines)


def refusal(message: PosUpdateRejected) -> str:
    """What the kitchen reads when an update of its POS was refused, and why."""
    words = REFUSAL_WORDS.get(message.reason, message.reason)
    line = f"[POS] atualização recusada, pedido {label(message.order_id, message.order_number)}"
    line += f": {words} ({message.reason})"
    if message.current_status is not None:
        line += f", status atual {message.current_status}"
    return line + (f"\n        {message.detail}" if message.detail else "")


class OrderNames:
    """The orders on the screen by number, so that the kitchen can type `12` or `#12`."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def saw(self, message: PosMessage) -> None:
        if isinstance(message, PosOrderReceived) and message.order.order_number is not None:
            self._ids[str(message.order.order_number)] = message.order_id

    def order_id(self, typed: str) -> str:
        """The order id of what was typed: a number on the screen, or an id as it is."""
        return self._ids.get(typed.removeprefix("#"), typed)


async def automatic(pos: PosClient, step: float) -> None:
    """Confirms what awaits confirmation, then moves each order along the kitchen."""
    async for message in pos.messages():
        print(screen(message), flush=True)
        if not isinstance(message, PosOrderReceived):
            continue
        if message.awaiting_confirmation:
            await pos.confirm(message.order_id)
        for status in KITCHEN:
            await asyncio.sleep(step)
            await pos.update_status(
                message.order_id, status, "30 minutos" if status is PosStatus.DELIVERING else None
            )
            print(f"[POS] {label(message.order_id, message.order_number)} -> {status}", flush=True)
        await pos.update_status(message.order_id, PosStatus.COMPLETED)


async def manual(pos: PosClient) -> None:
    names = OrderNames()

    async def show() -> None:
        async for message in pos.messages():
            names.saw(message)
            print(screen(message), flush=True)

    showing = asyncio.create_task(show())
    say(f"type a move: {MOVES}")
    try:
        async for line in typed_lines():
            try:
                await move(pos, names, line.split())
            except ValidationError as error:
                print(f"? {describe_validation(error)}", flush=True)
    finally:
        showing.cancel()


async def typed_lines() -> AsyncIterator[str]:
    """The lines of stdin, read by a daemon thread: Ctrl-C never waits for the next line."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()

    def hand_over(line: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
            loop.call_soon_threadsafe(lines.put_nowait, line)

    def read() -> None:
        for line in sys.stdin:
            hand_over(line)
        hand_over("")

    threading.Thread(target=read, name="stdin", daemon=True).start()
    while line := await lines.get():
        yield line


async def move(pos: PosClient, names: OrderNames, words: list[str]) -> None:
    """What the kitchen typed, sent as the POS's update; `?` and the moves when unreadable."""
    match words:
        case ["confirm", order]:
            await pos.confirm(names.order_id(order))
        case ["reject", order, *reason]:
            await pos.reject(names.order_id(order), " ".join(reason) or "Recusado pela loja")
        case ["status", order, status, *time] if status.upper() in PosStatus.__members__:
            status = PosStatus[status.upper()]
            await pos.update_status(names.order_id(order), status, " ".join(time) or None)
        case []:
            return
        case _:
            print(f"? {MOVES}", flush=True)


async def run(args: argparse.Namespace, kafka: KafkaSettings) -> None:
    say(
        f"POS of {args.client}/{args.store} on Kafka at {kafka.bootstrap_servers}: orders from "
        f"{pos_orders_topic(args.client, args.store)}, updates to "
        f"{pos_updates_topic(args.client, args.store)}"
    )
    async with PosClient(kafka, args.client, args.store) as pos:
        say("waiting for orders (Ctrl-C stops)")
        await (automatic(pos, args.step) if args.auto else manual(pos))


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="python -m shared.clients.pos_simulator",
        description=__doc__.split("\n\n", 1)[1],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    found.add_argument(
        "--bootstrap",
        help="Kafka bootstrap servers (default KAFKA_BOOTSTRAP_SERVERS); TLS and the SASL "
        "identity come from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD...",
    )
    found.add_argument("--client", required=True, help="the restaurant (clientId)")
    found.add_argument("--store", required=True, help="the store (storeId)")
    found.add_argument("--auto", action="store_true", help="confirm and cook every order")
    found.add_argument("--step", type=float, default=2.0, help="seconds between kitchen steps")
    return found


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parser()
    args = arguments.parse_args(argv)
    try:
        pos_orders_topic(args.client, args.store)
    except TopicNameError as error:
        arguments.error(str(error))
    kafka = kafka_from_environment(args.bootstrap)
    command_line.run(run(args, kafka), kafka=kafka.bootstrap_servers)


if __name__ == "__main__":
    main()
