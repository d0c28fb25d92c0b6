"""The restaurant panel in a real browser (Debian's Chromium, headless, driven by Selenium) against
the running system: sign in, see an order the chatbot placed appear live, confirm it, move it
along, see a refused move on its card, and edit the configuration with a validation error."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from shared.contracts.orders import OrderPlaced
from tests.system.conftest import Restaurant, System
from tests.system.panel import restaurant_token
from tests.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=pt-BR"):
        options.add_argument(argument)
    options.add_argument("--window-size=1366,900")  # a kitchen tablet on its side
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def present(browser: WebDriver, css: str) -> bool:
    return bool(browser.find_elements(By.CSS_SELECTOR, css))


def pressed(browser: WebDriver, css: str, choice: tuple[str, str] | None = None) -> bool:
    """Chooses `choice` (a select's id and value) and clicks `css`; False when the live board
    replaced them meanwhile (then it is tried again)."""
    try:
        if choice is not None:
            Select(browser.find_element(By.ID, choice[0])).select_by_value(choice[1])
        browser.find_element(By.CSS_SELECTOR, css).click()
    except StaleElementReferenceException:
        return False
    return True


def card_in(browser: WebDriver, column: str, order_id: str) -> bool:
    return present(browser, f'[data-column="{column}"] #pedido-{order_id}')


async def sign_in(browser: WebDriver, system: System, restaurant: Restaurant) -> None:
    """Signs in, opens the store's board and waits until it is live; the page is marked, so
    that a test can tell the board changed without a reload."""
    browser.get(f"{system.url('panel')}/entrar")
    browser.find_element(By.ID, "token").send_keys(restaurant_token(restaurant))
    browser.find_element(By.CSS_SELECTOR, "form[action='/entrar'] button").click()
    browser.find_element(By.ID, "loja").send_keys(restaurant.store_id)
    browser.find_element(By.CSS_SELECTOR, "form[action='/lojas'] button").click()
    await eventually(
        lambda: browser.find_element(By.ID, "conexao").text == "Ao vivo",
        what="the board's live stream",
    )
    browser.execute_script("window.notReloaded = true;")


def not_reloaded(browser: WebDriver) -> bool:
    return bool(browser.execute_script("return window.notReloaded === true;"))


async def test_a_restaurant_signs_in_sees_an_order_arrive_live_and_moves_it_along(
    system: System, restaurant: Restaurant, browser: WebDriver, tmp_path: Path
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=30)
    await sign_in(browser, system, restaurant)

    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.place(restaurant.order("CASH"))
    assert isinstance(outcome, OrderPlaced), outcome
    order_id = outcome.order_id
    await eventually(lambda: card_in(browser, "novos", order_id), what="the new order's card")
    assert not_reloaded(browser)
    card = browser.find_element(By.ID, f"pedido-{order_id}")
    assert "#1" in card.text
    assert "R$ 44,80" in card.text
    assert "Confirmar em" in card.find_element(By.CSS_SELECTOR, "[data-deadline]").text
    browser.save_screenshot(str(tmp_path / "board.png"))

    update = f"#pedido-{order_id} .status-form button"
    await eventually(lambda: pressed(browser, f"#pedido-{order_id} button.confirm"), what="click")
    await eventually(lambda: card_in(browser, "confirmados", order_id), what="confirmed")
    await eventually(lambda: pressed(browser, update), what="click")
    await eventually(lambda: card_in(browser, "preparo", order_id), what="preparing")
    assert (await restaurant.order_document(order_id))["status"] == "PREPARING"

    # Straight to COMPLETED, skipping READY: the order service refuses, the card says why.
    skip = (f"status-{order_id}", "COMPLETED")
    await eventually(lambda: pressed(browser, update, skip), what="click")
    await eventually(
        lambda: present(browser, f"#pedido-{order_id} [role=alert]"), what="the refusal"
    )
    refusal = browser.find_element(By.CSS_SELECTOR, f"#pedido-{order_id} [role=alert]").text
    assert refusal == "Mudança não permitida: o pedido está em preparo."
    assert card_in(browser, "preparo", order_id)


async def test_an_invalid_configuration_is_shown_beside_its_field_and_nothing_is_saved(
    system: System, restaurant: Restaurant, browser: WebDriver, tmp_path: Path
) -> None:
    await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=5)
    await sign_in(browser, system, restaurant)
    browser.find_element(By.LINK_TEXT, "Configuração").click()
    preview = browser.find_element(By.ID, "previa-READY")
    template = browser.find_element(By.ID, "template.READY")
    template.clear()
    template.send_keys("Pedido #{order_number} pronto na {store_name}!")
    assert preview.text == "Pedido #42 pronto na Burger da Praça!"

    field = browser.find_element(By.ID, "autoConfirmationTimeout")
    field.clear()
    field.send_keys("-1")
    browser.find_element(By.CSS_SELECTOR, "form.config > button[type=submit]").click()

    await eventually(lambda: present(browser, "#erro-autoConfirmationTimeout"), what="the error")
    assert field_is_marked(browser, "autoConfirmationTimeout")
    error = browser.find_element(By.ID, "erro-autoConfirmationTimeout")
    assert error.text == "Deve ser no mínimo 0."
    browser.save_screenshot(str(tmp_path / "config.png"))
    config = await restaurant.order_api.get(
        f"/stores/{restaurant.client_id}/{restaurant.store_id}/config"
    )
    assert config.json()["autoConfirmationTimeout"] == 5
    assert "{order_number}" not in config.json()["notificationTemplates"]["READY"]


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
    await sign_in(browser, system, restaurant)
    panel = system.processes["panel"]

    panel.kill()
    async with restaurant.chatbot() as chatbot:
        outcome = await chatbot.place(restaurant.order("CASH"))
    assert isinstance(outcome, OrderPlaced), outcome
    panel.start().wait_ready(timeout=90)

    await eventually(
        lambda: card_in(browser, "novos", outcome.order_id),
        timeout=60,
        what="the order placed while the panel was down",
    )
    assert not_reloaded(browser)
