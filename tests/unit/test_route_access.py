"""Every bearer route of the order and payment services, on their in-memory twins: no token, a
garbage token, a forged, an expired or a revoked one, another restaurant's token and a chatbot's
token on a write route are each refused with the right status and a problem (RFC 9457) that
never quotes the token, and nothing changes; the restaurant's own token opens its own routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet, MultiFernet
from fastapi import FastAPI

from deploy.emulators.asaas.app import build_app as asaas_emulator
from services.order.access_routes import access_routes
from services.order.config import QuerySettings, TokenSettings
from services.order.routes import order_routes
from services.order.service import order_id_for
from services.payment.adapters.asaas_client import AsaasClients
from services.payment.adapters.in_memory import InMemoryCredentialsRepository
from services.payment.restaurants import Restaurants
from services.payment.routes import admin_router
from shared.auth import InMemoryRevocations
from shared.gateway import GatewaySettings
from shared.http import PROBLEM_MEDIA_TYPE, answer_with_problems
from shared.tokens import Role, TokenSigner, generate_signing_key, load_signing_key
from tests.access import SIGNING_KEY, bearer, in_memory_access, mint
from tests.builders import PHONE, STORE, now, place_order
from tests.order.twins import OrderTwins

ADMIN = "route-access-admin-token"
MINE, THEIRS = "rest-1", "rest-2"
ASAAS_BODY = {"apiKey": "$aact_key", "webhookToken": "wh-token", "baseUrl": "http://asaas/v3"}


@dataclass
class Services:
    http: httpx.AsyncClient
    twins: OrderTwins
    credentials: InMemoryCredentialsRepository
    revocations: InMemoryRevocations
    my_order: str
    their_order: str

    def state(self) -> Any:
        """Everything a refused request could have changed."""
        return (
            dict(self.twins.configs.configs),
            len(self.twins.sink.records),
            dict(self.credentials.credentials),
            dict(self.revocations.revoked),
        )


@pytest.fixture
async def services() -> AsyncIterator[Services]:
    twins = OrderTwins()
    mine, theirs = place_order("CASH", client_id=MINE), place_order("CASH", client_id=THEIRS)
    for command in (mine, theirs):
        await twins.service.place(command)
    access, revocations = in_memory_access(ADMIN)
    credentials = InMemoryCredentialsRepository()
    restaurants = Restaurants(
        credentials,
        MultiFernet([Fernet(Fernet.generate_key())]),
        AsaasClients(GatewaySettings(), transport=httpx.ASGITransport(app=asaas_emulator())),
        public_base_url="http://payment",
        webhook_email="ops@example.com",
        clock=now,
    )
    signer = TokenSigner(load_signing_key(SIGNING_KEY), now)
    app = FastAPI()
    answer_with_problems(app)
    app.include_router(order_routes(twins.service, access, QuerySettings()))
    app.include_router(access_routes(access, signer, TokenSettings(), twins.sink, now))
    app.include_router(admin_router(restaurants, access, [ASAAS_BODY["baseUrl"]]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://services") as http:
        yield Services(
            http, twins, credentials, revocations, order_id_for(mine), order_id_for(theirs)
        )


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None = None
    roles: tuple[Role, ...] = ()
    """Who may call it besides the operator."""
    names_client: bool = True

    @property
    def writes(self) -> bool:
        return self.method != "GET"

    def url(self, services: Services) -> str:
        return self.path.format(client=MINE, store=STORE, order=services.my_order, phone=PHONE)


ROUTES = [
    Route("PUT", "/stores/{client}/{store}/config", {"storeName": "X"}, (Role.RESTAURANT,)),
    Route("GET", "/stores/{client}/{store}/config", roles=(Role.RESTAURANT,)),
    Route("GET", "/orders/{order}", roles=(Role.RESTAURANT, Role.CHATBOT), names_client=False),
    Route(
        "GET",
        "/orders?phoneNumber={phone}",
        roles=(Role.RESTAURANT, Role.CHATBOT),
        names_client=False,
    ),
    Route("GET", "/stores/{client}/{store}/orders", roles=(Role.RESTAURANT, Role.CHATBOT)),
    Route("POST", "/auth/tokens", {"role": "chatbot", "clientId": MINE}, names_client=False),
    Route("POST", "/auth/revocations", {"clientId": MINE}, names_client=False),
    Route("PUT", "/restaurants/{client}/asaas", ASAAS_BODY, (Role.RESTAURANT,)),
    Route("GET", "/restaurants/{client}/asaas", roles=(Role.RESTAURANT,)),
]


def route_id(route: Route) -> str:
    return f"{route.method} {route.path.split('?')[0]}"


ROUTE_IDS = [route_id(route) for route in ROUTES]
WRITES = [route for route in ROUTES if route.writes]
NAMING_CLIENT = [route for route in ROUTES if route.names_client]
OPERATOR_ONLY = [route for route in ROUTES if not route.roles]


async def call(services: Services, route: Route, token: str | None) -> httpx.Response:
    return await services.http.request(
        route.method,
        route.url(services),
        json=route.body,
        headers=bearer(token) if token is not None else {},
    )


def assert_problem(response: httpx.Response, status: int, *, never: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    assert problem["title"]
    assert problem["detail"]
    if never:
        assert never not in response.text
    return problem


def expired() -> str:
    return mint(Role.RESTAURANT, MINE, issued_at=datetime.now(UTC) - timedelta(hours=2))


REFUSED_TOKENS = {
    "no token": (None, "a bearer token is required"),
    "empty token": ("", "a bearer token is required"),
    "garbage": ("not-a-token", "not a token of this system"),
    "forged": (
        mint(Role.RESTAURANT, MINE, key=generate_signing_key()),
        "not signed by a key this service trusts",
    ),
    "expired": (expired(), "has expired"),
    "wrong admin token": (ADMIN + "x", "not a token of this system"),
}


async def assert_refused(
    services: Services, route: Route, token: str | None, status: int, detail: str
) -> httpx.Response:
    """The route answers `status` with a problem saying `detail`, quoting no token, and nothing
    a route could change has changed."""
    before = services.state()

    response = await call(services, route, token)

    problem = assert_problem(response, status, never=token or ADMIN)
    assert detail in problem["detail"]
    assert services.state() == before
    return response


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("case", sorted(REFUSED_TOKENS))
async def test_a_route_refuses_a_missing_or_bad_token_with_401_and_changes_nothing(
    services: Services, route: Route, case: str
) -> None:
    token, detail = REFUSED_TOKENS[case]

    response = await assert_refused(services, route, token, 401, detail)

    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_a_revoked_token_is_refused_with_401(services: Services, route: Route) -> None:
    token = mint(Role.RESTAURANT, MINE, issued_at=datetime.now(UTC) - timedelta(minutes=1))
    await services.revocations.revoke(MINE, datetime.now(UTC).replace(microsecond=0))

    await assert_refused(services, route, token, 401, "was revoked")


FORBIDDEN = [
    *[(route, Role.RESTAURANT, THEIRS, "this token is for another restaurant")
      for route in NAMING_CLIENT],
    *[(route, Role.CHATBOT, MINE, "a chatbot token may not do this") for route in WRITES],
    *[(route, Role.RESTAURANT, MINE, "a restaurant token may not do this")
      for route in OPERATOR_ONLY],
]  # fmt: skip
"""Another restaurant's token on a route naming a clientId; a chatbot's on a write route; a
restaurant's on an operator route."""


@pytest.mark.parametrize(
    ("route", "role", "client_id", "detail"),
    FORBIDDEN,
    ids=[f"{role}-of-{client}-{route_id(route)}" for route, role, client, _ in FORBIDDEN],
)
async def test_a_token_of_another_restaurant_or_role_gets_403_and_changes_nothing(
    services: Services, route: Route, role: Role, client_id: str, detail: str
) -> None:
    await assert_refused(services, route, mint(role, client_id), 403, detail)


async def test_another_restaurants_order_is_not_found(services: Services) -> None:
    for role in (Role.RESTAURANT, Role.CHATBOT):
        token = mint(role, THEIRS)

        theirs = await services.http.get(f"/orders/{services.their_order}", headers=bearer(token))
        mine = await services.http.get(f"/orders/{services.my_order}", headers=bearer(token))
        missing = await services.http.get("/orders/no-such-order", headers=bearer(token))

        assert theirs.status_code == 200
        assert_problem(mine, 404)
        assert mine.json() == missing.json()  # another's order is told apart from no order


async def test_a_list_query_returns_only_the_callers_restaurant(services: Services) -> None:
    both = {services.my_order, services.their_order}

    def found(response: httpx.Response) -> set[str]:
        assert response.status_code == 200, response.text
        return {order["orderId"] for order in response.json()["orders"]}

    path = f"/orders?phoneNumber={PHONE.replace('+', '%2B')}"
    for role in (Role.RESTAURANT, Role.CHATBOT):
        mine = await services.http.get(path, headers=bearer(mint(role, MINE)))
        theirs = await services.http.get(path, headers=bearer(mint(role, THEIRS)))
        assert (found(mine), found(theirs)) == ({services.my_order}, {services.their_order})
    operator = await services.http.get(path, headers=bearer(ADMIN))
    assert found(operator) == both


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_the_restaurants_own_token_or_the_operator_opens_its_routes(
    services: Services, route: Route
) -> None:
    for role in route.roles or (Role.ADMIN,):
        token = ADMIN if role is Role.ADMIN else mint(role, MINE)

        response = await call(services, route, token)

        # 404 for credentials not configured yet: the route was entered and answered.
        assert response.status_code in (200, 201, 202, 404), (role, response.text)
        if response.status_code == 404:
            assert route.path == "/restaurants/{client}/asaas"


async def test_the_operator_mints_a_token_that_opens_the_restaurants_routes_only(
    services: Services,
) -> None:
    minted = await services.http.post(
        "/auth/tokens",
        json={"role": "restaurant", "clientId": MINE, "ttlSeconds": 60},
        headers=bearer(ADMIN),
    )
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    expires = datetime.fromisoformat(minted.json()["expiresAt"])
    assert timedelta(seconds=55) < expires - datetime.now(UTC) <= timedelta(seconds=60)

    own = await services.http.get(f"/stores/{MINE}/{STORE}/config", headers=bearer(token))
    other = await services.http.get(f"/stores/{THEIRS}/{STORE}/config", headers=bearer(token))

    assert (own.status_code, other.status_code) == (200, 403)


@pytest.mark.parametrize(
    "body",
    [
        {"role": "admin", "clientId": MINE},
        {"role": "chatbot", "clientId": "no spaces"},
        {"role": "chatbot", "clientId": MINE, "ttlSeconds": 0},
        {"role": "chatbot", "clientId": MINE, "ttlSeconds": 91 * 24 * 3600},
        {"role": "chatbot"},
    ],
    ids=["admin-role", "bad-client", "zero-ttl", "ttl-too-long", "no-client"],
)
async def test_a_token_request_out_of_bounds_is_unprocessable(
    services: Services, body: dict[str, Any]
) -> None:
    response = await services.http.post("/auth/tokens", json=body, headers=bearer(ADMIN))

    assert assert_problem(response, 422)["errors"]
