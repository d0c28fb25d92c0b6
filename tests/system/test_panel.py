"""The restaurant panel as a real process beside the others: its session, its live stream fed by
the store's POS topic, its buttons acting as the store's POS, its configuration form."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.contracts.orders import OrderPlaced
from shared.tokens import Role
from tests.system.conftest import Restaurant, System
from tests.system.panel import PanelSession, restaurant_token
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def panel(system: System) -> AsyncIterator[PanelSession]:
    session = PanelSession(system.url("panel"))
    yield session
    await session.close()


async def placed(restaurant: Restaurant) -> str:
    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.place(restaurant.order("CASH"))
    assert isinstance(outcome, OrderPlaced), outcome
    return outcome.order_id


async def reaches(restaurant: Restaurant, order_id: str, status: str) -> None:
    async def reached() -> bool:
        return bool((await restaurant.order_document(order_id))["status"] == status)

    await eventually(reached, timeout=30, what=f"order {order_id} reaches {status}")


async def test_the_panel_answers_health_readiness_and_metrics(system: System) -> None:
    async with httpx.AsyncClient(base_url=system.url("panel"), timeout=10) as http:
        assert (await http.get("/healthz")).json()["service"] == "panel"
        assert (await http.get("/readyz")).status_code == 200
        assert "panel_live_streams" in (await http.get("/metrics")).text


async def test_signing_in_keeps_the_token_in_an_http_only_strict_cookie_and_signing_out_drops_it(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    answer = await panel.sign_in(restaurant_token(restaurant))

    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert answer.headers["content-security-policy"].startswith("default-src 'self'")
    csrf = await panel.csrf(restaurant)
    gone = await panel.http.post("/sair", data={"csrf": csrf})
    assert gone.status_code == 303
    assert not panel.has_session
    assert (await panel.http.get(panel.store_path(restaurant))).headers["location"] == "/entrar"


@pytest.mark.parametrize("role", [None, Role.CHATBOT])
async def test_a_bad_token_or_a_chatbots_token_does_not_sign_in(
    restaurant: Restaurant, panel: PanelSession, role: Role | None
) -> None:
    token = "not-a-token" if role is None else restaurant_token(restaurant, role)

    answer = await panel.sign_in(token)

    assert answer.status_code == 401
    assert "Token inválido" in answer.text
    assert token not in answer.text
    assert not panel.has_session


async def test_another_restaurants_session_sees_none_of_the_store(
    system: System, restaurant: Restaurant, panel: PanelSession
) -> None:
    await restaurant.onboard(requiresConfirmation=True)
    order_id = await placed(restaurant)
    stranger = Restaurant(system)
    try:
        await panel.sign_in(restaurant_token(stranger))
        for path in ("", "/quadro", "/eventos", "/configuracao", "/historico?busca=1"):
            answer = await panel.http.get(panel.store_path(restaurant) + path)
            assert answer.status_code == 403, path
            assert order_id not in answer.text
    finally:
        await stranger.close()


async def test_a_new_order_is_announced_on_the_live_stream_and_appears_on_the_board(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    await panel.sign_in(restaurant_token(restaurant))

    async with panel.stream(restaurant) as events:
        assert await events.next() == "ready"
        order_id = await placed(restaurant)
        assert await events.next() == "order"

    board = await panel.board(restaurant)
    assert f'id="pedido-{order_id}"' in board
    assert "Confirmar #1" in board
    assert "R$ 44,80" in board
    assert "data-deadline" in board


async def test_the_buttons_confirm_and_move_an_order_and_a_refused_move_is_shown_on_its_card(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    order_id = await order_on_the_board(restaurant, panel)

    assert (await panel.act(restaurant, order_id, "confirmar")).status_code == 303
    await reaches(restaurant, order_id, "CONFIRMED")

    async def told() -> bool:
        return any("foi confirmado" in message for message in await restaurant.whatsapp())

    await eventually(told, what="the customer's WhatsApp confirmation")
    moved = await panel.act(restaurant, order_id, "status", status="PREPARING", previsao="30 min")
    assert moved.status_code == 303
    await reaches(restaurant, order_id, "PREPARING")
    # Skipping READY: the lifecycle refuses, and the card says so.
    await panel.act(restaurant, order_id, "status", status="DELIVERED")

    board = await panel.board(restaurant)
    assert "Mudança não permitida: o pedido está em preparo." in board
    assert (await restaurant.order_document(order_id))["status"] == "PREPARING"


async def test_rejecting_with_a_reason_cancels_the_order_and_tells_the_customer_why(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    order_id = await order_on_the_board(restaurant, panel)

    answer = await panel.act(restaurant, order_id, "recusar", motivo="Acabou o pão de hambúrguer")

    assert answer.status_code == 303
    await reaches(restaurant, order_id, "CANCELLED")
    document = await restaurant.order_document(order_id)
    assert document["cancellationReason"] == "Acabou o pão de hambúrguer"
    assert in_column(await panel.board(restaurant), "cancelados", order_id)


async def test_a_deadline_running_out_moves_the_card_to_cancelled_and_the_stream_says_so(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=0.05)
    await panel.sign_in(restaurant_token(restaurant))

    async with panel.stream(restaurant) as events:
        assert await events.next() == "ready"
        order_id = await placed(restaurant)
        assert await events.next() == "order"
        assert await events.next(timeout=30) == "change"

    await reaches(restaurant, order_id, "CANCELLED")
    assert in_column(await panel.board(restaurant), "cancelados", order_id)


async def test_a_form_without_its_form_token_changes_nothing(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    order_id = await order_on_the_board(restaurant, panel)

    answer = await panel.http.post(
        f"{panel.store_path(restaurant)}/pedidos/{order_id}/confirmar", data={"csrf": "0" * 64}
    )

    assert answer.status_code == 403
    assert (await restaurant.order_document(order_id))["status"] == "PENDING"


async def test_an_invalid_configuration_shows_the_error_beside_its_field_and_saves_nothing(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=5)
    await panel.sign_in(restaurant_token(restaurant))
    path = panel.store_path(restaurant) + "/configuracao"
    page = (await panel.http.get(path)).text
    assert 'id="autoConfirmationTimeout"' in page

    answer = await panel.http.post(
        path,
        data={
            "csrf": await panel.csrf(restaurant),
            "storeName": "Burger da Praça",
            "requiresConfirmation": "on",
            "autoConfirmationTimeout": "-3",
            "refundTimeout": "60",
            "paymentTimeout": "15",
            "acceptedPaymentMethods": ["PIX", "CASH"],
            "minimumOrderValue": "10,00",
            "timeZone": "America/Sao_Paulo",
        },
    )

    assert answer.status_code == 422
    assert 'id="erro-autoConfirmationTimeout"' in answer.text
    config = (
        await restaurant.order_api.get(f"/stores/{restaurant.client_id}/loja-1/config")
    ).json()
    assert config["autoConfirmationTimeout"] == 5
    assert config["acceptedPaymentMethods"] == ["PIX", "CREDIT", "DEBIT", "CASH"]


async def test_a_valid_configuration_is_saved_through_the_order_service(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    await restaurant.onboard()
    await panel.sign_in(restaurant_token(restaurant))

    answer = await panel.http.post(
        panel.store_path(restaurant) + "/configuracao",
        data={
            "csrf": await panel.csrf(restaurant),
            "storeName": "Burger da Praça",
            "autoConfirmationTimeout": "0",
            "refundTimeout": "60",
            "paymentTimeout": "15",
            "acceptedPaymentMethods": ["PIX", "CASH"],
            "minimumOrderValue": "25,50",
            "timeZone": "America/Sao_Paulo",
            "operatingHours": "0 11:00 23:00",
            "template.READY": "Pedido #{order_number} pronto na {store_name}!",
        },
    )

    assert answer.status_code == 200, answer.text
    assert "Configuração salva." in answer.text
    config = (
        await restaurant.order_api.get(f"/stores/{restaurant.client_id}/loja-1/config")
    ).json()
    assert config["acceptedPaymentMethods"] == ["PIX", "CASH"]
    assert config["minimumOrderValue"] in ("25.50", 25.5, "25.5")
    assert config["operatingHours"] == [{"day": 0, "opens": "11:00", "closes": "23:00"}]
    assert (
        config["notificationTemplates"]["READY"] == "Pedido #{order_number} pronto na {store_name}!"
    )
    assert config["requiresConfirmation"] is False


async def test_the_history_finds_an_order_by_number_and_by_phone(
    restaurant: Restaurant, panel: PanelSession
) -> None:
    await restaurant.onboard()
    await panel.sign_in(restaurant_token(restaurant))
    order_id = await placed(restaurant)
    await reaches(restaurant, order_id, "CONFIRMED")

    for search in ("#1", restaurant.phone):
        answer = await panel.http.get(
            panel.store_path(restaurant) + "/historico", params={"busca": search}
        )
        assert f'id="pedido-{order_id}"' in answer.text, search
    today = await panel.http.get(panel.store_path(restaurant) + "/hoje")
    assert "1 pedido(s), R$ 44,80 no total." in today.text


def in_column(board: str, column: str, order_id: str) -> bool:
    """Whether the order's card is in `column` of the board's HTML (columns follow each other)."""
    start = board.find(f'data-column="{column}"')
    end = board.find("data-column=", start + 1)
    card = board.find(f'id="pedido-{order_id}"', start)
    return start >= 0 and card >= 0 and (end < 0 or card < end)


async def order_on_the_board(restaurant: Restaurant, panel: PanelSession) -> str:
    """A signed-in session of a store that confirms its orders, and an order on its board."""
    await restaurant.onboard(requiresConfirmation=True)
    await panel.sign_in(restaurant_token(restaurant))
    order_id = await placed(restaurant)

    async def on_the_board() -> bool:
        return f'id="pedido-{order_id}"' in await panel.board(restaurant)

    await eventually(on_the_board, what="the order on the board")
    return order_id
