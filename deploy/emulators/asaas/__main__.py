"""`python -m deploy.emulators.asaas`: the Asaas emulator on 127.0.0.1:8701 until SIGTERM.

Environment: HTTP_HOST / HTTP_PORT (listener), ASAAS_EMULATOR_PUBLIC_URL (base of `invoiceUrl`),
ASAAS_EMULATOR_WEBHOOK_RETRY_S, ASAAS_EMULATOR_WEBHOOK_MAX_FAILURES (then the queue is
interrupted), ASAAS_EMULATOR_WEBHOOK_TIMEOUT_S, ASAAS_EMULATOR_REFUND_DELAY_S.
"""

from __future__ import annotations

import logging
import os

from deploy.emulators.asaas.app import build_app
from deploy.emulators.asaas.state import EmulatorSettings
from deploy.emulators.serving import run


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s asaas-emulator %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    host = os.environ.get("HTTP_HOST", "127.0.0.1")
    port = int(os.environ.get("HTTP_PORT", "8701"))
    env = os.environ.get
    settings = EmulatorSettings(
        public_url=env("ASAAS_EMULATOR_PUBLIC_URL", f"http://{host}:{port}"),
        webhook_retry_s=float(env("ASAAS_EMULATOR_WEBHOOK_RETRY_S", "1.0")),
        webhook_max_failures=int(env("ASAAS_EMULATOR_WEBHOOK_MAX_FAILURES", "15")),
        webhook_timeout_s=float(env("ASAAS_EMULATOR_WEBHOOK_TIMEOUT_S", "10")),
        refund_delay_s=float(env("ASAAS_EMULATOR_REFUND_DELAY_S", "0.5")),
    )
    run(build_app(settings), host, port)


if __name__ == "__main__":
    main()
