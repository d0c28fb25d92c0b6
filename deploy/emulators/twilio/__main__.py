"""`python -m deploy.emulators.twilio [--host H] [--port P]`: serve the Twilio emulator."""

from __future__ import annotations

import argparse
import logging
import os

from deploy.emulators.serving import run
from deploy.emulators.twilio.app import EmulatorSettings, build_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HTTP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HTTP_PORT", "8702")))
    arguments = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s twilio-emulator %(name)s: %(message)s",
    )
    settings = EmulatorSettings()
    run(build_app(settings), arguments.host, arguments.port)


if __name__ == "__main__":
    main()
