"""The restaurant panel as a browser without JavaScript sees it: a signed-in session's pages and
forms over HTTP, and its live stream read line by line."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from services.panel.session import COOKIE
from shared.tokens import Role
from tests.access import mint
from tests.system.conftest import Restaurant


def restaurant_token(restaurant: Restaurant, role: Role = Role.RESTAURANT) -> str:
    return mint(role, restaurant.client_id)


class PanelSession:
    """One browser's session on the panel, signed in with a token."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=15, follow_redirects=False)

    async def sign_in(self, token: str) -> httpx.Response:
        return await self.http.post("/entrar", data={"token": token})

    async def board(self, restaurant: Restaurant) -> str:
        answer = await self.http.get(self.store_path(restaurant) + "/quadro")
        assert answer.status_code == 200, answer.text
        return answer.text

    def store_path(self, restaurant: Restaurant) -> str:
        return f"/lojas/{restaurant.client_id}/{restaurant.store_id}"

    async def csrf(self, restaurant: Restaurant) -> str:
        page = await self.http.get(self.store_path(restaurant))
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert found, "the board carries no form token"
        return found.group(1)

    async def act(
        self, restaurant: Restaurant, order_id: str, action: str, **fields: str
    ) -> httpx.Response:
        data = {"csrf": await self.csrf(restaurant)} | fields
        return await self.http.post(
            f"{self.store_path(restaurant)}/pedidos/{order_id}/{action}", data=data
        )

    @property
    def has_session(self) -> bool:
        return COOKIE in self.http.cookies

    @asynccontextmanager
    async def stream(self, restaurant: Restaurant) -> AsyncIterator[Events]:
        async with self.http.stream("GET", self.store_path(restaurant) + "/eventos") as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            yield Events(answer.aiter_lines())

    async def close(self) -> None:
        await self.http.aclose()


class Events:
    """The names of the events a live stream sends, as they come."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self, timeout: float = 20.0) -> str:
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line.startswith("event: "):
                    return line.removeprefix("event: ")
        raise AssertionError("the stream ended")
