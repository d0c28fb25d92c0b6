"""`python -m shared.clients.chatbot_cli`: place, cancel, repay and look up orders as a chatbot.

`place`, `cancel` and `pay-with` go over Kafka and print the outcome (OrderPlaced, OrderRejected,
OrderStatusChanged or OrderPaymentStatusChanged) as JSON; `status` and `recent` ask the order
service's HTTP API and print the orders in words (`--json` for the JSON). Failures are one line
on stderr, exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from shared import command_line
from shared.clients.chatbot import ChatbotClient
from shared.clients.chatbot_queries import ChatbotQueries
from shared.clients.order_answers import QueryError
from shared.command_line import Failed, progress, say
from shared.contracts.base import format_brl
from shared.contracts.order_data import OrderSnapshot
from shared.contracts.orders import CancelOrder, ChangePaymentMethod, PlaceOrder
from shared.contracts.registry import describe_validation
from shared.settings import KafkaSettings, kafka_from_environment

EXAMPLES = """\
examples (on a system started by `make up`):
  python -m shared.clients.chatbot_cli --client demo-burger --store centro place \\
      --method PIX --item "X-Burger:2:18.90" --name Ana --cpf 529.982.247-25
  python -m shared.clients.chatbot_cli --client demo-burger --store centro cancel --order <id>
  python -m shared.clients.chatbot_cli --client demo-burger --store centro pay-with \\
      --order <id> --method CASH
  python -m shared.clients.chatbot_cli status --order <id>
  python -m shared.clients.chatbot_cli recent --phone +5511987654321 --limit 5

status and recent send the bearer token of --token, else of CHATBOT_TOKEN, else of ADMIN_TOKEN
(the local run's is local-admin-token); prefer the variables, a command line is visible to others.
"""


def _item(text: str) -> dict[str, Any]:
    try:
        name, quantity, price = text.rsplit(":", 2)
        return {
            "item_id": name.lower().replace(" ", "-"),
            "name": name,
            "quantity": int(quantity),
            "unit_price": Decimal(price),
        }
    except (ArithmeticError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not name:quantity:price, e.g. X-Burger:2:18.90"
        ) from None


def _envelope(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC),
        "correlation_id": args.correlation or f"cli-{uuid.uuid4().hex[:8]}",
        "client_id": args.client,
        "store_id": args.store,
    }


def _number(order: OrderSnapshot) -> str:
    return "#?" if order.order_number is None else f"#{order.order_number}"


def describe(order: OrderSnapshot) -> list[str]:
    """An order in a few lines, as `status` prints it."""
    lines = [f"Order {_number(order)}: {order.status}, payment {order.payment_status}"]
    lines += [f"  {item.quantity}x {item.name}" for item in order.items]
    lines.append(
        f"  Total {format_brl(order.total_cents)}, {order.payment_method}, "
        f"{order.delivery_type.lower()}"
    )
    if order.delivery_time:
        lines.append(f"  Delivery time: {order.delivery_time}")
    if order.cancellation_reason:
        lines.append(f"  Cancelled: {order.cancellation_reason}")
    lines.append(f"  Placed {order.created_at:%Y-%m-%d %H:%M} UTC, order id {order.order_id}")
    return lines


def summary(order: OrderSnapshot) -> str:
    """An order in one line, as `recent` prints it."""
    return (
        f"  {_number(order):<6} {order.status:<10} payment {order.payment_status:<14} "
        f"{format_brl(order.total_cents):>12}  {order.payment_method:<6} "
        f"{order.created_at:%Y-%m-%d %H:%M} UTC  {order.order_id}"
    )


async def _command(args: argparse.Namespace, kafka: KafkaSettings) -> list[str]:
    say(f"chatbot of {args.client}/{args.store} on Kafka at {kafka.bootstrap_servers}")
    async with ChatbotClient(kafka) as chatbot, progress("the order service's answer"):
        if args.command == "place":
            command = PlaceOrder(
                **_envelope(args),
                command_id=args.command_id or f"cli-{uuid.uuid4().hex[:12]}",
                customer={
                    "customer_id": args.customer or args.phone,
                    "phone_number": args.phone,
                    "name": args.name,
                    "cpf": args.cpf,
                },
                items=args.item,
                delivery={"type": "PICKUP", "fee": Decimal("0")},
                payment_method=args.method,
            )
            outcome = (await chatbot.place(command, timeout=args.timeout)).to_wire()
        elif args.command == "pay-with":
            change = ChangePaymentMethod(
                **_envelope(args), order_id=args.order, payment_method=args.method
            )
            outcome = (await chatbot.change_payment_method(change, timeout=args.timeout)).to_wire()
        else:
            cancel = CancelOrder(**_envelope(args), order_id=args.order, reason=args.reason)
            outcome = (await chatbot.cancel(cancel, timeout=args.timeout)).to_wire()
    return [json.dumps(outcome, indent=2, ensure_ascii=False)]


async def _query(args: argparse.Namespace) -> list[str]:
    say(f"asking the order service at {args.order_service}")
    async with ChatbotQueries(args.order_service, args.token) as queries:
        if args.command == "status":
            order = await queries.status(args.order)
            return [json.dumps(order.to_wire(), indent=2)] if args.json else describe(order)
        orders = await queries.recent(args.phone, args.limit)
    if args.json:
        return [json.dumps([order.to_wire() for order in orders], indent=2)]
    if not orders:
        return [f"No orders for {args.phone}."]
    return [f"Latest orders of {args.phone}, newest first:", *map(summary, orders)]


async def run(args: argparse.Namespace, kafka: KafkaSettings) -> list[str]:
    """What the command prints; Failed says why it could not be done."""
    try:
        if args.command in ("status", "recent"):
            return await _query(args)
        return await _command(args, kafka)
    except QueryError as error:
        raise Failed(str(error)) from None
    except TimeoutError:
        raise Failed(
            f"no answer within {args.timeout:g} s: is the order service running and "
            f"reading {kafka.bootstrap_servers}?"
        ) from None
    except ValidationError as error:
        problems = describe_validation(error)
        raise Failed(f"the {args.command} command is not valid: {problems}") from None


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(
        prog="python -m shared.clients.chatbot_cli",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    found.add_argument(
        "--bootstrap",
        help="Kafka, for place, cancel and pay-with (default: $KAFKA_BOOTSTRAP_SERVERS or "
        "127.0.0.1:9092); TLS and the SASL identity come from KAFKA_SECURITY_PROTOCOL, "
        "KAFKA_SASL_USERNAME, ...",
    )
    found.add_argument(
        "--order-service",
        default=os.environ.get("ORDER_SERVICE_URL", "http://127.0.0.1:8081"),
        help="the order service, for status and recent (default: %(default)s)",
    )
    found.add_argument(
        "--token",
        default=os.environ.get("CHATBOT_TOKEN")
        or os.environ.get("ADMIN_TOKEN", "local-admin-token"),
        help="bearer token for status and recent (default: $CHATBOT_TOKEN, else $ADMIN_TOKEN)",
    )
    found.add_argument("--client", help="the restaurant (clientId), for the commands")
    found.add_argument("--store", help="the store (storeId), for the commands")
    found.add_argument("--correlation", help="correlationId (a new one by default)")
    found.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for an outcome")
    commands = found.add_subparsers(dest="command", required=True, metavar="command")
    place = commands.add_parser("place", help="place an order (prints OrderPlaced/Rejected)")
    place.add_argument("--method", default="CASH", choices=["PIX", "CREDIT", "DEBIT", "CASH"])
    place.add_argument(
        "--item", action="append", required=True, type=_item, help="name:quantity:price"
    )
    place.add_argument("--name", default="Cliente")
    place.add_argument("--phone", default="+5511987654321")
    place.add_argument("--cpf", help="required to pay online")
    place.add_argument("--customer", help="customerId (the phone by default)")
    place.add_argument("--command-id", help="idempotency key (a new one by default)")
    cancel = commands.add_parser("cancel", help="cancel an order (the customer's CancelOrder)")
    cancel.add_argument("--order", required=True, help="the order id")
    cancel.add_argument("--reason")
    pay_with = commands.add_parser(
        "pay-with",
        help="pay an unpaid order another way (the customer's ChangePaymentMethod)",
        description="While the order is PENDING, unpaid and before its payment deadline: its "
        "charge is deleted and a new one made (PIX, CREDIT, DEBIT), or it goes to the store to "
        "be paid in cash. Prints OrderPaymentStatusChanged, or OrderRejected with its reason.",
    )
    pay_with.add_argument("--order", required=True, help="the order id")
    pay_with.add_argument("--method", required=True, choices=["PIX", "CREDIT", "DEBIT", "CASH"])
    status = _look_up(
        commands,
        "status",
        "an order's status, by its id",
        "Prints the order's number, status, payment status, items and total.",
        "status --order 0b6f3c1e-8d2a-5f4b-9c7d-1e2f3a4b5c6d",
    )
    status.add_argument("--order", required=True, help="the order id")
    recent = _look_up(
        commands,
        "recent",
        "a customer's latest orders, by phone number",
        "Prints the customer's latest orders, newest first, one line each.",
        "recent --phone +5511987654321 --limit 5",
    )
    recent.add_argument("--phone", required=True, help="E.164, e.g. +5511987654321")
    recent.add_argument("--limit", type=int, default=3, help="how many (default %(default)s)")
    return found


def _look_up(
    commands: Any, name: str, summary: str, description: str, example: str
) -> argparse.ArgumentParser:
    """A look-up command on the order service's HTTP API, with its example and `--json`."""
    command: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example:\n  python -m shared.clients.chatbot_cli {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--json", action="store_true", help="print the answer as JSON")
    return command


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.command in ("place", "cancel", "pay-with") and not (args.client and args.store):
        arguments.error(f"{args.command} needs --client and --store (before the command)")
    kafka = kafka_from_environment(args.bootstrap)
    lines = command_line.run(run(args, kafka), kafka=kafka.bootstrap_servers)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
