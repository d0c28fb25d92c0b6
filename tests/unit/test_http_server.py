"""The services' HTTP server: it keeps an idle connection longer than its clients keep one,
and refuses a request whose headers run to megabytes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from deploy.local.servers import free_port
from shared.http import server
from tests.waiting import eventually

REQUEST = b"GET /ping HTTP/1.1\r\nHost: service\r\n\r\n"


@contextlib.asynccontextmanager
async def serving() -> AsyncIterator[int]:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"answer": "pong"}

    port = free_port()
    running = server(app, "127.0.0.1", port)
    task = asyncio.create_task(running.serve())
    try:
        await eventually(lambda: running.started, what="the server listening")
        yield port
    finally:
        running.should_exit = True
        await task


async def answered(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """The status line and body of the answer to one request on this connection."""
    writer.write(REQUEST)
    await writer.drain()
    status, *headers = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
    length = next(int(h.split(b":")[1]) for h in headers if h.startswith(b"content-length"))
    return status + b" " + await reader.readexactly(length)


async def test_an_idle_connection_outlives_an_httpx_pools_so_the_client_closes_first() -> None:
    """A client that reuses a connection as the server closes it fails its request (httpx's
    ReadError, a proxy's 502): the server must not be the first to close."""
    expiry = httpx.Limits().keepalive_expiry
    assert expiry is not None
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await answered(reader, writer) == b'HTTP/1.1 200 OK {"answer":"pong"}'

        # Idle for longer than httpx keeps a connection: still open (no end of stream) ...
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), timeout=expiry + 1)
        # ... and it serves the next request.
        assert await answered(reader, writer) == b'HTTP/1.1 200 OK {"answer":"pong"}'
        writer.close()
        await writer.wait_closed()


async def test_a_request_with_megabytes_of_headers_is_refused_unread() -> None:
    """h11 caps a request's headers (16 KiB); httptools, which uvicorn picks when installed,
    read 20 MB of them and answered."""
    async with serving() as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(REQUEST.removesuffix(b"\r\n"))
        padding = b"".join(b"X-Pad-%d: %s\r\n" % (n, b"a" * 1000) for n in range(2000))
        writer.write(padding + b"\r\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        try:
            answer = await asyncio.wait_for(reader.read(), timeout=10)
        except ConnectionError:
            answer = b""
        assert b"200 OK" not in answer
        writer.close()

        # The server still answers a request of ordinary size.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await answered(reader, writer) == b'HTTP/1.1 200 OK {"answer":"pong"}'
        writer.close()
        await writer.wait_closed()
