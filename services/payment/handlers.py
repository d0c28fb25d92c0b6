"""The payment service's subscription: `payments.commands` into the use cases."""

from __future__ import annotations

from typing import Any, cast

from services.payment.charges import ChargeService
from services.payment.refunds import RefundService
from shared.consumer import ReceivedRecord, Subscription
from shared.contracts.payments import CancelPayment, RequestPayment, RequestRefund
from shared.contracts.registry import decode_as
from shared.topics import PAYMENTS_COMMANDS

PaymentCommand = RequestPayment | CancelPayment | RequestRefund


def decode_command(value: bytes) -> PaymentCommand:
    return cast(PaymentCommand, decode_as(value, RequestPayment, CancelPayment, RequestRefund))


def subscriptions(charges: ChargeService, refunds: RefundService) -> list[Subscription[Any]]:
    async def handle(command: PaymentCommand, received: ReceivedRecord) -> None:
        match command:
            case RequestPayment():
                await charges.request_payment(command)
            case CancelPayment():
                await charges.cancel_payment(command)
            case RequestRefund():
                await refunds.request_refund(command)

    return [Subscription("payment", decode_command, handle, topics=(PAYMENTS_COMMANDS,))]
