"""`python -m shared.clients.chatbot_cli`: place or cancel an order as the chatbot would.

    python -m shared.clients.chatbot_cli place --client c1 --store s1 --method PIX \\
        --item "X-Burger:2:18.90" --name Ana --phone +5511987654321 --cpf 529.982.247-25
    python -m shared.clients.chatbot_cli cancel --client c1 --store s1 --order <orderId>

Prints the outcome (OrderPlaced, OrderRejected or OrderStatusChanged) as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.clients.chatbot import ChatbotClient
from shared.contracts.orders import CancelOrder, PlaceOrder
from shared.settings import kafka_from_environment


def _item(text: str) -> dict[str, Any]:
    name, quantity, price = text.rsplit(":", 2)
    return {
        "item_id": name.lower().replace(" ", "-"),
        "name": name,
        "quantity": int(quantity),
        "unit_price": Decimal(price),
    }


def _envelope(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime.now(UTC),
        "correlation_id": args.correlation or f"cli-{uuid.uuid4().hex[:8]}",
        "client_id": args.client,
        "store_id": args.store,
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    async with ChatbotClient(kafka_from_environment(args.bootstrap)) as chatbot:
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
                items=[_item(text) for text in args.item],
                delivery={"type": "PICKUP", "fee": Decimal("0")},
                payment_method=args.method,
            )
            return (await chatbot.place(command)).to_wire()
        cancel = CancelOrder(**_envelope(args), order_id=args.order, reason=args.reason)
        return (await chatbot.cancel(cancel)).to_wire()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap",
        help="Kafka bootstrap servers (default KAFKA_BOOTSTRAP_SERVERS); TLS and the SASL "
        "identity come from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD...",
    )
    parser.add_argument("--client", required=True, help="the restaurant (clientId)")
    parser.add_argument("--store", required=True, help="the store (storeId)")
    parser.add_argument("--correlation", help="correlationId (a new one by default)")
    commands = parser.add_subparsers(dest="command", required=True)
    place = commands.add_parser("place", help="place an order")
    place.add_argument("--method", default="CASH", choices=["PIX", "CREDIT", "DEBIT", "CASH"])
    place.add_argument("--item", action="append", required=True, help="name:quantity:price")
    place.add_argument("--name", default="Cliente")
    place.add_argument("--phone", default="+5511987654321")
    place.add_argument("--cpf", help="required to pay online")
    place.add_argument("--customer", help="customerId (the phone by default)")
    place.add_argument("--command-id", help="idempotency key (a new one by default)")
    cancel = commands.add_parser("cancel", help="cancel an order")
    cancel.add_argument("--order", required=True)
    cancel.add_argument("--reason")
    print(json.dumps(asyncio.run(_run(parser.parse_args())), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
