"""build_app(): the panel's wiring: the order service's API, each store's POS topic, the pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.panel.adapters.order_api import OrderApi
from services.panel.config import Settings
from services.panel.feeds import FeedUnavailable, StoreFeeds
from services.panel.pages import PageError, page, see_other
from services.panel.routes import panel_routes
from services.panel.session import SignedOut
from shared.clients.order_answers import QueryError
from shared.runtime import Clock, ServiceRuntime, utc_now

SERVICE = "panel"
STATIC = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SECURITY_HEADERS = {
    # Scripts and styles only from the panel itself (no CDN, nothing inline), no framing.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def build_app(settings: Settings | None = None, clock: Clock = utc_now) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, clock)
    access = runtime.access(settings.access)
    orders = OrderApi(settings.panel.order_url)
    feeds = StoreFeeds(settings.kafka, settings.panel.feed_linger_s)
    # Each store's `...orders` is read without a group; its `...updates` written, as a POS does.
    runtime.acts_as_pos()
    runtime.on_stop(feeds.close)
    runtime.on_stop(orders.close)
    routes = panel_routes(access, orders, feeds, runtime.sink, settings.panel, clock)
    app = runtime.app(routers=[routes])
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="static")
    app.state.public_paths = public_paths(routes)  # routed by the Gateway (`make k8s-check`)

    answer_with_pages(app)
    app.add_middleware(SecurityHeaders)
    return app


def public_paths(pages: APIRouter) -> frozenset[str]:
    """The first path segment of every page and of the static files: what browsers outside
    reach. Health, readiness, metrics and the API documents stay inside."""
    return frozenset(
        "/" + route.path.split("/")[1] for route in pages.routes if isinstance(route, APIRoute)
    ) | {STATIC_PATH}


SERVICE_DOWN = "O serviço de pedidos não respondeu. Tente de novo em instantes."
NO_TOPIC = "Esta loja ainda não recebeu pedidos nem foi configurada."


def answer_with_pages(app: FastAPI) -> None:
    """A browser's errors are pages in its language: signed out goes to the sign-in page."""

    async def signed_out(request: Request, error: Exception) -> Response:
        return see_other("/entrar")

    async def page_error(request: Request, error: Exception) -> Response:
        match error:
            case PageError():
                status, message = error.status, error.message
            case FeedUnavailable():
                status, message = 409, NO_TOPIC
            case _:
                status, message = 502, SERVICE_DOWN
        return page(request, "error.html", status=status, message=message)

    app.add_exception_handler(SignedOut, signed_out)
    for error_type in (PageError, FeedUnavailable, QueryError):
        app.add_exception_handler(error_type, page_error)


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every answer (plain ASGI: the live stream passes untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)
