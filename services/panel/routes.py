"""The panel's pages: sign in and out, a store's live board and its buttons, its configuration,
today's totals and the history. Pages are server-rendered in Brazilian Portuguese.

No `from __future__ import annotations` here: FastAPI reads the route signatures at definition.
"""

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from markupsafe import Markup

from services.panel import domain, metrics, session
from services.panel.adapters.order_api import ConfigRefused, OrderApi
from services.panel.config import PanelSettings
from services.panel.feeds import FeedUnavailable, StoreFeeds
from services.panel.forms import (
    config_document,
    config_fields,
    errors_by_field,
    field,
    form_of,
    form_values,
)
from services.panel.pages import TEMPLATES, PageError, page, see_other
from shared.auth import Access, Caller
from shared.clients.pos import PosUpdates
from shared.contracts.base import format_brl
from shared.contracts.limits import MAX_DELIVERY_TIME_LENGTH, MAX_REASON_LENGTH
from shared.contracts.order_data import OrderSnapshot
from shared.contracts.pos import PosUpdate, PosUpdateRejected
from shared.contracts.values import OrderStatus, PosStatus
from shared.records import RecordSink
from shared.tokens import Role
from shared.topics import TopicNameError, pos_orders_topic

ACTIVE = (
    OrderStatus.PENDING,
    OrderStatus.CONFIRMED,
    OrderStatus.PREPARING,
    OrderStatus.READY,
    OrderStatus.DELIVERING,
)
FINISHED = (
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.CANCELLED,
    OrderStatus.REFUNDED,
)
FINISHED_SHOWN = 10
"""Finished orders the board shows per status: the latest, the rest is in the history."""
PAYMENT_METHODS = tuple(domain.PAYMENT_METHOD_LABELS.items())
POS_STATUSES = frozenset(status.value for status in PosStatus)
BOARD_VERSION = "X-Board-Version"
POLL_S = 0.1
KEEPALIVE_S = 10.0
SAMPLE = {
    "order_number": "42",
    "order_id": "42",
    "total": "R$ 57,80",
    "delivery_time": "30 minutos",
    "customer_name": "Ana",
}
"""Values the templates' live preview fills in."""


@dataclass(frozen=True)
class Store:
    """A store page's caller and store: the session's token may act for the store's restaurant."""

    caller: Caller
    token: str
    client_id: str
    store_id: str

    @property
    def csrf(self) -> str:
        return session.csrf_token(self.token)

    @property
    def path(self) -> str:
        return f"/lojas/{self.client_id}/{self.store_id}"


def panel_routes(
    access: Access,
    orders: OrderApi,
    feeds: StoreFeeds,
    sink: RecordSink,
    settings: PanelSettings,
    clock: Callable[[], datetime],
) -> APIRouter:
    router = APIRouter()

    def secure(request: Request) -> bool:
        return settings.secure_cookie or request.url.scheme == "https"

    async def store_of(request: Request, client_id: str, store_id: str) -> Store:
        token = session.session_token(request)
        caller = await session.signed_in(access, token)
        assert token is not None
        if not caller.acts_for(client_id):
            raise PageError(403, "Esta sessão é de outro restaurante.")
        try:
            pos_orders_topic(client_id, store_id)
        except TopicNameError:
            raise PageError(400, "Código de loja inválido.") from None
        return Store(caller, token, client_id, store_id)

    StoreAccess = Annotated[Store, Depends(store_of)]

    @router.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        return see_other("/lojas" if session.session_token(request) else "/entrar")

    @router.get("/entrar", include_in_schema=False)
    async def sign_in_page(request: Request) -> HTMLResponse:
        return page(request, "sign_in.html")

    @router.post("/entrar", include_in_schema=False)
    async def sign_in(request: Request) -> Response:
        token = field(await form_of(request), "token")
        try:
            await session.signed_in(access, token)
        except session.SignedOut:
            metrics.PANEL_SIGN_INS.labels("refused").inc()
            error = "Token inválido, expirado ou sem acesso ao painel."
            return page(request, "sign_in.html", status=401, error=error)
        metrics.PANEL_SIGN_INS.labels("accepted").inc()
        response = see_other("/lojas")
        session.keep(response, token, secure=secure(request))
        return response

    @router.post("/sair", include_in_schema=False)
    async def sign_out(request: Request) -> Response:
        token = session.session_token(request)
        if token:
            session.check_csrf(token, field(await form_of(request), session.CSRF_FIELD))
        response = see_other("/entrar")
        session.forget(response, secure=secure(request))
        return response

    @router.get("/lojas", include_in_schema=False)
    async def stores(request: Request, cliente: str = "", loja: str = "") -> Response:
        token = session.session_token(request)
        caller = await session.signed_in(access, token)
        assert token is not None
        client_id = caller.client_id if caller.role is Role.RESTAURANT else cliente.strip()
        if client_id and loja.strip():
            return see_other(f"/lojas/{client_id}/{loja.strip()}")
        return page(
            request,
            "stores.html",
            caller=caller,
            client_id=client_id or "",
            csrf=session.csrf_token(token),
        )

    @router.get("/lojas/{client_id}/{store_id}", include_in_schema=False)
    async def board_page(request: Request, store: StoreAccess) -> HTMLResponse:
        columns, version = await _board(store)
        return page(
            request,
            "board.html",
            store=store,
            columns=Markup(columns),  # noqa: S704 (rendered by the autoescaping template)
            version=version,
            csrf=store.csrf,
        )

    @router.get("/lojas/{client_id}/{store_id}/quadro", include_in_schema=False)
    async def board_fragment(store: StoreAccess) -> HTMLResponse:
        columns, version = await _board(store)
        return HTMLResponse(columns, headers={BOARD_VERSION: version, "Cache-Control": "no-store"})

    async def _board(store: Store) -> tuple[str, str]:
        """The board's columns as HTML, and a digest by which the browser tells a change."""
        active, finished = await asyncio.gather(
            orders.store_orders(store.token, store.client_id, store.store_id, ACTIVE),
            orders.store_orders(
                store.token, store.client_id, store.store_id, FINISHED, FINISHED_SHOWN
            ),
        )
        found = active + finished
        feed = feeds.known(store.client_id, store.store_id)
        board = domain.board(found, feed.refusals if feed else None)
        columns = TEMPLATES.get_template("board_columns.html").render(
            store=store, board=board, csrf=store.csrf
        )
        return columns, hashlib.sha256(columns.encode()).hexdigest()[:16]

    @router.get("/lojas/{client_id}/{store_id}/eventos", include_in_schema=False)
    async def events(store: StoreAccess) -> StreamingResponse:
        return StreamingResponse(
            _stream(store),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def _stream(store: Store) -> AsyncIterator[str]:
        # The browser reloads the board on `ready`: the feed is positioned before the board is
        # read, so an order is either on the board or announced after it.
        yield "retry: 1000\n\n"
        try:
            async with feeds.feed(store.client_id, store.store_id) as feed:
                metrics.PANEL_STREAMS.inc()
                try:
                    with feed.watch() as signals:
                        yield "event: ready\ndata: {}\n\n"
                        ends_at = time.monotonic() + settings.stream_max_s
                        while (left := ends_at - time.monotonic()) > 0:
                            try:
                                async with asyncio.timeout(min(left, KEEPALIVE_S)):
                                    signal = await signals.get()
                            except TimeoutError:
                                yield ": keep-alive\n\n"
                                continue
                            yield f"event: {signal}\ndata: {{}}\n\n"
                finally:
                    metrics.PANEL_STREAMS.dec()
        except FeedUnavailable:
            yield "retry: 5000\nevent: unavailable\ndata: {}\n\n"

    @router.post(
        "/lojas/{client_id}/{store_id}/pedidos/{order_id}/{action}", include_in_schema=False
    )
    async def act(request: Request, store: StoreAccess, order_id: str, action: str) -> Response:
        form = await form_of(request)
        session.check_csrf(store.token, field(form, session.CSRF_FIELD))
        before = await orders.order(store.token, order_id)
        if before is None or (before.client_id, before.store_id) != (
            store.client_id,
            store.store_id,
        ):
            raise PageError(404, "Pedido não encontrado nesta loja.")
        updates = PosUpdates(sink, store.client_id, store.store_id)
        sent: PosUpdate
        async with feeds.feed(store.client_id, store.store_id) as feed:
            if action == "confirmar":
                sent = await updates.confirm(order_id)
            elif action == "recusar":
                reason = field(form, "motivo")
                if not reason:
                    raise PageError(400, "Informe o motivo para o cliente.")
                sent = await updates.reject(order_id, reason[:MAX_REASON_LENGTH])
            elif action == "status":
                status = field(form, "status")
                if status not in POS_STATUSES:
                    raise PageError(400, "Escolha o novo status.")
                delivery_time = field(form, "previsao")[:MAX_DELIVERY_TIME_LENGTH] or None
                sent = await updates.update_status(order_id, PosStatus(status), delivery_time)
            else:
                raise PageError(404, "Ação desconhecida.")
            outcome = await _outcome(store, before, str(sent.event_id), feed.refusals)
            metrics.PANEL_ACTIONS.labels(action, outcome).inc()
            feed.tell("change")
        return see_other(f"{store.path}#pedido-{order_id}")

    async def _outcome(
        store: Store, before: OrderSnapshot, event_id: str, refusals: dict[str, PosUpdateRejected]
    ) -> str:
        """Waits until the order service took the update (the order changed) or refused it."""
        deadline = time.monotonic() + settings.action_wait_s
        while time.monotonic() < deadline:
            refusal = refusals.get(before.order_id)
            if refusal is not None and str(refusal.refused_event_id) == event_id:
                return "refused"
            now = await orders.order(store.token, before.order_id)
            if now is not None and now.updated_at != before.updated_at:
                return "taken"
            await asyncio.sleep(POLL_S)
        return "unanswered"

    @router.get("/lojas/{client_id}/{store_id}/configuracao", include_in_schema=False)
    async def config_page(request: Request, store: StoreAccess) -> HTMLResponse:
        config = await orders.config(store.token, store.client_id, store.store_id)
        return _config_page(request, store, config_fields(config), {}, saved=False)

    @router.post("/lojas/{client_id}/{store_id}/configuracao", include_in_schema=False)
    async def save_config(request: Request, store: StoreAccess) -> HTMLResponse:
        form = await form_of(request)
        session.check_csrf(store.token, field(form, session.CSRF_FIELD))
        current = await orders.config(store.token, store.client_id, store.store_id)
        try:
            saved = await orders.put_config(
                store.token, store.client_id, store.store_id, config_document(form, current)
            )
        except ConfigRefused as refused:
            errors = errors_by_field(refused.errors)
            return _config_page(request, store, form_values(form), errors, saved=False, status=422)
        return _config_page(request, store, config_fields(saved), {}, saved=True)

    def _config_page(
        request: Request,
        store: Store,
        values: dict[str, Any],
        errors: dict[str, list[str]],
        *,
        saved: bool,
        status: int = 200,
    ) -> HTMLResponse:
        return page(
            request,
            "config.html",
            status=status,
            store=store,
            values=values,
            errors=errors,
            saved=saved,
            statuses=[(status.value, domain.STATUS_LABELS[status]) for status in OrderStatus],
            methods=[(method.value, label) for method, label in PAYMENT_METHODS],
            sample=SAMPLE,
            csrf=store.csrf,
        )

    @router.get("/lojas/{client_id}/{store_id}/hoje", include_in_schema=False)
    async def today(request: Request, store: StoreAccess) -> HTMLResponse:
        config = await orders.config(store.token, store.client_id, store.store_id)
        zone = ZoneInfo(config.time_zone)
        start = clock().astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        found = await orders.store_orders_back_to(
            store.token, store.client_id, store.store_id, lambda order: order.created_at < start
        )
        todays = [order for order in found if order.created_at >= start]
        return page(
            request,
            "today.html",
            store=store,
            totals=domain.totals_by_status(todays),
            count=len(todays),
            total=format_brl(sum(order.total_cents for order in todays)),
            day=start.strftime("%d/%m/%Y"),
            cards=[domain.card(order) for order in todays],
            csrf=store.csrf,
        )

    @router.get("/lojas/{client_id}/{store_id}/historico", include_in_schema=False)
    async def history(request: Request, store: StoreAccess, busca: str = "") -> HTMLResponse:
        search = domain.search_of(busca)
        found: list[OrderSnapshot] = []
        if search.number is not None:
            number = search.number
            # Numbers grow in placement order: the look-back stops at the first one not above it.
            every = await orders.store_orders_back_to(
                store.token,
                store.client_id,
                store.store_id,
                lambda order: (order.order_number or 0) <= number,
            )
            found = [order for order in every if order.order_number == number]
        elif search.phone is not None:
            found = [
                order
                for order in await orders.by_phone(store.token, search.phone)
                if order.store_id == store.store_id
            ]
        return page(
            request,
            "history.html",
            store=store,
            search=busca.strip(),
            cards=[domain.card(order) for order in found],
            searched=bool(busca.strip()),
            csrf=store.csrf,
        )

    return router
