"""The restaurant panel in a real browser (Debian's Chromium, headless, driven by Selenium) against
the running system: sign in, see orders the chatbot placed appear live, confirm one and move it to
DELIVERED, reject another, see a deadline cancel a third, see nothing of another restaurant, and
edit the configuration with a validation error, and screenshots of both."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from shared.contracts.orders import OrderPlaced, PlaceOrder
from tests.system.conftest import Restaurant, System
from tests.system.panel import restaurant_token
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(os.environ.get("PANEL_SCREENSHOTS_DIR") or tempfile.mkdtemp(prefix="panel-"))
"""What a restaurant sees; `PANEL_SCREENSHOTS_DIR=docs/panel` refreshes the pictures of
docs/panel.md (by default they go to a scratch folder, so a test run leaves the checkout as it
was)."""
REASON = "Acabou o pão de hambúrguer"
READY_TEMPLATE = "Pedido #{order_number} pronto na {store_name}!"
TABLET = (1366, 900)
"""The browser's window: a kitchen tablet on its side."""
WHOLE_BOARD = (2300, 900)
"""Wide enough for the board's seven columns side by side (a tablet scrolls them sideways)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=pt-BR"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={TABLET[0]},{TABLET[1]}")
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def present(browser: WebDriver, css: str) -> bool:
    return bool(browser.find_elements(By.CSS_SELECTOR, css))


def on_card(browser: WebDriver, order_id: str, act: Callable[[WebElement], None]) -> bool:
    """Does `act` on the order's card; False when the live board replaced the card meanwhile
    (then it is tried again)."""
    try:
        act(browser.find_element(By.ID, f"pedido-{order_id}"))
    except StaleElementReferenceException:
        return False
    return True


def confirm(card: WebElement) -> None:
    card.find_element(By.CSS_SELECTOR, "button.confirm").click()


def move_to(status: str, delivery_time: str = "") -> Callable[[WebElement], None]:
    """Chooses `status` on a card, types the delivery time and presses Atualizar."""

    def move(card: WebElement) -> None:
        Select(card.find_element(By.NAME, "status")).select_by_value(status)
        if delivery_time:
            card.find_element(By.NAME, "previsao").send_keys(delivery_time)
        card.find_element(By.CSS_SELECTOR, ".status-form button").click()

    return move


def reject_for(reason: str) -> Callable[[WebElement], None]:
    """Opens Recusar on a card, types the reason and confirms."""

    def reject(card: WebElement) -> None:
        card.find_element(By.CSS_SELECTOR, "details.reject summary").click()
        card.find_element(By.NAME, "motivo").send_keys(reason)
        card.find_element(By.CSS_SELECTOR, "details.reject button").click()

    return reject


async def acted(
    browser: WebDriver, order_id: str, act: Callable[[WebElement], None], column: str
) -> None:
    """Does `act` on the order's card (again when the live board replaced it) and waits until
    the card is in `column`."""
    await eventually(lambda: on_card(browser, order_id, act), what=f"a click on {order_id}")
    await eventually(lambda: card_in(browser, column, order_id), what=f"{order_id} in {column}")


def card_in(browser: WebDriver, column: str, order_id: str) -> bool:
    return present(browser, f'[data-column="{column}"] #pedido-{order_id}')


async def sign_in(browser: WebDriver, system: System, restaurant: Restaurant) -> None:
    """Signs in with the restaurant's token, up to the page where a store is chosen."""
    browser.get(f"{system.url('panel')}/entrar")
    browser.find_element(By.ID, "token").send_keys(restaurant_token(restaurant))
    browser.find_element(By.CSS_SELECTOR, "form[action='/entrar'] button").click()
    await eventually(lambda: present(browser, "form[action='/lojas']"), what="the store choice")


async def open_board(browser: WebDriver, store_id: str) -> None:
    """Opens the store's board and waits until it is live; the page is marked, so that a test
    can tell the board changed without a reload."""
    browser.find_element(By.ID, "loja").send_keys(store_id)
    browser.find_element(By.CSS_SELECTOR, "form[action='/lojas'] button").click()
    await live(browser)
    browser.execute_script("window.notReloaded = true;")


async def live(browser: WebDriver) -> None:
    await eventually(
        lambda: any(found.text == "Ao vivo" for found in browser.find_elements(By.ID, "conexao")),
        what="the board's live stream",
    )


async def on_the_board(browser: WebDriver, system: System, restaurant: Restaurant) -> None:
    await sign_in(browser, system, restaurant)
    await open_board(browser, restaurant.store_id)


def not_reloaded(browser: WebDriver) -> bool:
    return bool(browser.execute_script("return window.notReloaded === true;"))


async def placed(restaurant: Restaurant, order: PlaceOrder | None = None) -> str:
    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.place(order or restaurant.order("CASH"))
    assert isinstance(outcome, OrderPlaced), outcome
    return outcome.order_id


async def told(restaurant: Restaurant, words: str) -> None:
    """Waits until the customer's WhatsApp, read back from the Twilio emulator, has `words`."""

    async def said() -> bool:
        return any(words in message for message in await restaurant.whatsapp())

    await eventually(said, timeout=30, what=f"the customer told {words!r}")


async def test_a_delivery_order_is_confirmed_told_to_the_customer_and_moved_to_delivered(
    system: System, restaurant: Restaurant, browser: WebDriver
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    await on_the_board(browser, system, restaurant)

    order_id = await placed(restaurant, restaurant.order("CASH", delivery="DELIVERY"))
    await eventually(lambda: card_in(browser, "novos", order_id), what="the new order's card")
    assert not_reloaded(browser)
    card = browser.find_element(By.ID, f"pedido-{order_id}")
    assert "#1" in card.text
    assert "Entrega: Rua Augusta, 100" in card.text
    assert "R$ 44,80" in card.text
    assert "Confirmar em" in card.find_element(By.CSS_SELECTOR, "[data-deadline]").text

    await acted(browser, order_id, confirm, "confirmados")
    await told(restaurant, "Seu pedido #1 foi confirmado!")
    await acted(browser, order_id, move_to("PREPARING"), "preparo")

    # Straight to COMPLETED, skipping READY: the order service refuses, the card says why.
    await eventually(lambda: on_card(browser, order_id, move_to("COMPLETED")), what="a click")
    await eventually(
        lambda: present(browser, f"#pedido-{order_id} [role=alert]"), what="the refusal"
    )
    refusal = browser.find_element(By.CSS_SELECTOR, f"#pedido-{order_id} [role=alert]").text
    assert refusal == "Mudança não permitida: o pedido está em preparo."
    assert card_in(browser, "preparo", order_id)

    await acted(browser, order_id, move_to("READY"), "prontos")
    await acted(browser, order_id, move_to("DELIVERING", "40 minutos"), "entrega")
    await told(restaurant, "#1 saiu para entrega e chegará em aproximadamente 40 minutos.")
    await acted(browser, order_id, move_to("DELIVERED"), "finalizados")
    assert (await restaurant.order_document(order_id))["status"] == "DELIVERED"
    await told(restaurant, "Seu pedido #1 foi entregue.")


async def test_an_order_rejected_with_a_reason_is_cancelled_and_the_customer_told_why(
    system: System, restaurant: Restaurant, browser: WebDriver
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    await on_the_board(browser, system, restaurant)
    refused, confirmed, waiting = [await placed(restaurant) for _ in range(3)]
    await eventually(lambda: card_in(browser, "novos", waiting), what="the new orders' cards")

    await acted(browser, refused, reject_for(REASON), "cancelados")
    assert (await restaurant.order_document(refused))["cancellationReason"] == REASON
    await told(restaurant, f"Motivo: {REASON}.")

    await acted(browser, confirmed, confirm, "confirmados")
    assert card_in(browser, "novos", waiting)

    # The board from its top (a button's answer scrolls to its card), all columns in view.
    browser.get(f"{system.url('panel')}/lojas/{restaurant.client_id}/{restaurant.store_id}")
    await live(browser)
    browser.set_window_size(*WHOLE_BOARD)
    browser.save_screenshot(str(SCREENSHOTS / "board.png"))
    browser.set_window_size(*TABLET)


async def test_a_confirmation_deadline_running_out_moves_the_card_to_cancelled_without_a_reload(
    system: System, restaurant: Restaurant, browser: WebDriver
) -> None:
    # 0.1 minutes: six seconds to see the card new before its deadline cancels it.
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=0.1)
    await on_the_board(browser, system, restaurant)

    order_id = await placed(restaurant)

    await eventually(lambda: card_in(browser, "novos", order_id), what="the new order's card")
    await eventually(
        lambda: card_in(browser, "cancelados", order_id), timeout=30, what="the card cancelled"
    )
    assert not_reloaded(browser)
    assert (await restaurant.order_document(order_id))["status"] == "CANCELLED"


async def test_another_restaurants_token_sees_no_card_no_store_and_is_refused_the_store(
    system: System, restaurant: Restaurant, browser: WebDriver
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    order_id = await placed(restaurant)
    stranger = Restaurant(system)
    try:
        await stranger.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
        await sign_in(browser, system, stranger)
        assert browser.find_element(By.ID, "cliente").get_attribute("value") == stranger.client_id
        assert restaurant.client_id not in browser.page_source

        await open_board(browser, stranger.store_id)
        assert not present(browser, "article.order")
        assert order_id not in browser.page_source

        store = f"{system.url('panel')}/lojas/{restaurant.client_id}/{restaurant.store_id}"
        for path in ("", "/historico?busca=%231"):
            browser.get(store + path)
            refusal = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
            assert refusal == "Esta sessão é de outro restaurante.", path
            assert order_id not in browser.page_source
    finally:
        await stranger.close()


async def test_an_invalid_configuration_is_shown_beside_its_field_and_nothing_is_saved(
    system: System, restaurant: Restaurant, browser: WebDriver
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=5)
    await on_the_board(browser, system, restaurant)
    browser.find_element(By.LINK_TEXT, "Configuração").click()
    preview = browser.find_element(By.ID, "previa-READY")
    template = browser.find_element(By.ID, "template.READY")
    template.clear()
    template.send_keys(READY_TEMPLATE)
    assert preview.text == "Pedido #42 pronto na Burger da Praça!"

    field = browser.find_element(By.ID, "autoConfirmationTimeout")
    field.clear()
    field.send_keys("-1")
    browser.find_element(By.CSS_SELECTOR, "form.config > button[type=submit]").click()

    await eventually(lambda: present(browser, "#erro-autoConfirmationTimeout"), what="the error")
    assert field_is_marked(browser, "autoConfirmationTimeout")
    error = browser.find_element(By.ID, "erro-autoConfirmationTimeout")
    assert error.text == "Deve ser no mínimo 0."
    browser.save_screenshot(str(SCREENSHOTS / "config.png"))
    config = await restaurant.order_api.get(
        f"/stores/{restaurant.client_id}/{restaurant.store_id}/config"
    )
    assert config.json()["autoConfirmationTimeout"] == 5
    assert config.json()["notificationTemplates"]["READY"] != READY_TEMPLATE


def field_is_marked(browser: WebDriver, name: str) -> bool:
    field = browser.find_element(By.ID, name)
    return (
        field.get_attribute("aria-invalid") == "true"
        and field.get_attribute("aria-describedby") == f"erro-{name}"
    )


async def test_the_board_reconnects_after_a_panel_restart_and_shows_what_came_meanwhile(
    system: System, restaurant: Restaurant, browser: WebDriver
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    await on_the_board(browser, system, restaurant)
    panel = system.processes["panel"]

    panel.kill()
    order_id = await placed(restaurant)
    panel.start().wait_ready(timeout=90)

    await eventually(
        lambda: card_in(browser, "novos", order_id),
        timeout=60,
        what="the order placed while the panel was down",
    )
    assert not_reloaded(browser)
