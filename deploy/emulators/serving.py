"""How both emulators serve: uvicorn on the given address, logging through the root logger."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

KEEP_ALIVE_S = 75
"""An API's front keeps an idle connection longer than its clients' pools do (httpx: 5 s), so a
client never sends on a connection being closed (uvicorn's default is 5 s, httpx's expiry)."""


def run(app: FastAPI, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        loop="uvloop",  # as the services run
        http="h11",  # never "auto": as the services, a cap on a request's headers
    )
