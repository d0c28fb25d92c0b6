"""The PIX QR images: stored under an unguessable token, served until the code expires."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from services.payment.adapters.in_memory import InMemoryPixImageStore
from services.payment.pix_images import RECENT_IMAGES, PixImages
from services.payment.ports import PixImage
from shared.contracts.payments import PaymentInstructions

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def pix(expires_at: datetime | None = NOW + timedelta(minutes=15)) -> PaymentInstructions:
    return PaymentInstructions(
        pix_payload="000201",
        pix_qr_code_image=base64.b64encode(PNG).decode(),
        expires_at=expires_at,
    )


def token_of(url: str | None) -> str:
    assert url is not None
    return url.removeprefix("https://pay.example.com/pix/").removesuffix(".png")


async def test_a_pix_image_is_served_at_a_public_unguessable_url_until_its_code_expires() -> None:
    clock = Clock()
    images = PixImages(InMemoryPixImageStore(), "https://pay.example.com/", clock)

    published = await images.publish(pix())
    token = token_of(published.pix_qr_code_url)

    assert published.pix_qr_code_url == f"https://pay.example.com/pix/{token}.png"
    assert len(base64.urlsafe_b64decode(token + "==")) * 8 >= 128
    assert published.pix_payload == "000201"
    assert await images.image(token) == PNG
    clock.now = NOW + timedelta(minutes=15)
    assert await images.image(token) is None


async def test_each_charge_gets_a_token_of_its_own() -> None:
    images = PixImages(InMemoryPixImageStore(), "https://pay.example.com", Clock())

    first, second = await images.publish(pix()), await images.publish(pix())

    assert first.pix_qr_code_url != second.pix_qr_code_url


async def test_an_image_without_an_expiration_lives_a_day() -> None:
    clock = Clock()
    images = PixImages(InMemoryPixImageStore(), "https://pay.example.com", clock)

    token = token_of((await images.publish(pix(expires_at=None))).pix_qr_code_url)

    clock.now = NOW + timedelta(hours=23)
    assert await images.image(token) == PNG
    clock.now = NOW + timedelta(hours=24)
    assert await images.image(token) is None


async def test_card_instructions_and_unreadable_images_get_no_url() -> None:
    store = InMemoryPixImageStore()
    images = PixImages(store, "https://pay.example.com", Clock())
    card = PaymentInstructions(invoice_url="https://sandbox.asaas.com/i/1")
    garbled = pix().model_copy(update={"pix_qr_code_image": "not base64!"})

    assert await images.publish(card) == card
    assert await images.publish(garbled) == garbled
    assert store.images == {}


class CountedStore(InMemoryPixImageStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, token: str) -> PixImage | None:
        self.reads += 1
        return await super().get(token)


async def test_an_image_this_process_stored_lately_is_served_without_a_read_until_it_expires() -> (
    None
):
    clock, store = Clock(), CountedStore()
    images = PixImages(store, "https://pay.example.com", clock)
    token = token_of((await images.publish(pix())).pix_qr_code_url)

    assert await images.image(token) == PNG
    assert store.reads == 0
    clock.now = NOW + timedelta(minutes=15)
    assert await images.image(token) is None


async def test_an_image_another_replica_stored_or_one_long_forgotten_is_read_from_the_store() -> (
    None
):
    store = CountedStore()
    this = PixImages(store, "https://pay.example.com", Clock())
    other = PixImages(store, "https://pay.example.com", Clock())
    token = token_of((await other.publish(pix())).pix_qr_code_url)
    assert await this.image(token) == PNG
    assert store.reads == 1

    for _ in range(RECENT_IMAGES):
        await other.publish(pix())
    assert await other.image(token) == PNG
    assert store.reads == 2
