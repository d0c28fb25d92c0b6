"""`python -m shared.clients.pos_simulator`: a store's POS on its Kafka topics.

    python -m shared.clients.pos_simulator --client c1 --store s1 --auto   # confirms and cooks
    python -m shared.clients.pos_simulator --client c1 --store s1          # you type the moves

Manual mode reads lines from stdin: `confirm <orderId>`, `reject <orderId> <reason>`,
`status <orderId> <PREPARING|READY|DELIVERING|DELIVERED|COMPLETED> [delivery time]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from shared.clients.pos import PosClient, PosMessage
from shared.contracts.base import format_brl
from shared.contracts.pos import PosOrderReceived
from shared.contracts.values import PosStatus
from shared.settings import kafka_from_environment

KITCHEN = (PosStatus.PREPARING, PosStatus.READY, PosStatus.DELIVERING, PosStatus.DELIVERED)


def screen(message: PosMessage) -> str:
    """The POS screen's line for a message."""
    if not isinstance(message, PosOrderReceived):
        return f"[POS] pedido {message.order_id} CANCELADO ({message.reason})"
    order = message.order
    total = format_brl(order.total_cents)
    lines = [f"[POS] novo pedido {order.order_id} de {order.customer_name}, {total}"]
    lines += [f"        {item.quantity}x {item.name}" for item in order.items]
    if message.awaiting_confirmation:
        deadline = f"{message.confirm_by:%H:%M:%S} UTC" if message.confirm_by else "sem prazo"
        lines.append(f"        aguardando confirmação até {deadline}")
    else:
        lines.append("        confirmado")
    return "\n".join(lines)


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
            print(f"[POS] {message.order_id} -> {status}", flush=True)
        await pos.update_status(message.order_id, PosStatus.COMPLETED)


async def manual(pos: PosClient) -> None:
    async def show() -> None:
        async for message in pos.messages():
            print(screen(message), flush=True)

    showing = asyncio.create_task(show())
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            words = line.split()
            match words:
                case ["confirm", order_id]:
                    await pos.confirm(order_id)
                case ["reject", order_id, *reason]:
                    await pos.reject(order_id, " ".join(reason) or "Recusado pela loja")
                case ["status", order_id, status, *time]:
                    await pos.update_status(order_id, PosStatus(status), " ".join(time) or None)
                case _:
                    print("? confirm <id> | reject <id> <reason> | status <id> <STATUS> [time]")
    finally:
        showing.cancel()


async def run(args: argparse.Namespace) -> None:
    async with PosClient(kafka_from_environment(args.bootstrap), args.client, args.store) as pos:
        await (automatic(pos, args.step) if args.auto else manual(pos))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        help="Kafka bootstrap servers (default KAFKA_BOOTSTRAP_SERVERS); TLS and the SASL "
        "identity come from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD...",
    )
    parser.add_argument("--client", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--auto", action="store_true", help="confirm and cook every order")
    parser.add_argument("--step", type=float, default=2.0, help="seconds between kitchen steps")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
