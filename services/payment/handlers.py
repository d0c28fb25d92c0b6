"""The payment service's subscriber: `payments.commands` into the use cases."""

from __future__ import annotations

from typing import cast

from services.payment.charges import ChargeService
from services.payment.refunds import RefundService
from shared.consumer import Delivery, Handler
from shared.contracts.payments import CancelPayment, RequestPayment, RequestRefund
from shared.contracts.registry import decode_as

PaymentCommand = RequestPayment | CancelPayment | RequestRefund


def decode_command(value: bytes) -> PaymentCommand:
    return cast(PaymentCommand, decode_as(value, RequestPayment, CancelPayment, RequestRefund))


def command_handler(charges: ChargeService, refunds: RefundService) -> Handler[PaymentCommand]:
    async def handle(command: PaymentCommand, delivery: Delivery) -> None:
        match command:
            case RequestPayment():
                await charges.request_payment(command)
            case CancelPayment():
                await charges.cancel_payment(command)
            case RequestRefund():
                await refunds.request_refund(command)

    return handle
