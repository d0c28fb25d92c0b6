"""The payment service's subscription: `payments.commands` into the use cases."""

from __future__ import annotations

from typing import Any, cast

from services.payment.service import PaymentService
from shared.consumer import ReceivedRecord, Subscription
from shared.contracts.payments import CancelPayment, RequestPayment, RequestRefund
from shared.contracts.registry import decode_as
from shared.topics import PAYMENTS_COMMANDS

PaymentCommand = RequestPayment | CancelPayment | RequestRefund


def decode_command(value: bytes) -> PaymentCommand:
    return cast(PaymentCommand, decode_as(value, RequestPayment, CancelPayment, RequestRefund))


def subscriptions(service: PaymentService) -> list[Subscription[Any]]:
    async def handle(command: PaymentCommand, received: ReceivedRecord) -> None:
        match command:
            case RequestPayment():
                await service.request_payment(command)
            case CancelPayment():
                await service.cancel_payment(command)
            case RequestRefund():
                await service.request_refund(command)

    return [Subscription("payment", decode_command, handle, topics=(PAYMENTS_COMMANDS,))]
