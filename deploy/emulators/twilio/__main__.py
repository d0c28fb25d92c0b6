"""`python -m deploy.emulators.twilio [--host H] [--port P]`: serve the Twilio emulator."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

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
    uvicorn.run(
        build_app(settings),
        host=arguments.host,
        port=arguments.port,
        log_config=None,
        access_log=False,
        # An API's front keeps an idle connection longer than its clients' pools (httpx: 5 s),
        # so a client never sends on a connection being closed (uvicorn's default is 5 s).
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
