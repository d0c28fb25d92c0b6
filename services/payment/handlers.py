"""The payment service's subscriber: `payments.commands` into the use cases."""

from __future__ import annotations

from typing import cast

from services.payment.service import PaymentService
from shared.consumer import Delivery, Handler
from shared.contracts.payments import CancelPayment, RequestPayment, RequestRefund
from shared.contracts.registry import decode_as

PaymentCommand = RequestPayment | CancelPayment | RequestRefund


def decode_command(value: bytes) -> PaymentCommand:
    return cast(PaymentCommand, decode_as(value, RequestPayment, CancelPayment, RequestRefund))


def command_handler(service: PaymentService) -> Handler[PaymentCommand]:
    async def handle(command: PaymentCommand, delivery: Delivery) -> None:
        match command:
            case RequestPayment():
                await service.request_payment(command)
            case CancelPayment():
                await service.cancel_payment(command)
            case RequestRefund():
                await service.request_refund(command)

    return handle
