"""Kafka security on a real broker: a SCRAM-SHA-512 listener and KRaft's StandardAuthorizer, with
the ACLs of deploy/k8s applied as they are (each service's KafkaUser, the chatbot's and one
store's POS from the templates). A POS reads and writes its own store's topics only; no identity
but the payment service writes payment events; and the whole system works under those ACLs."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError

from deploy.local.servers import KafkaServer, free_port
from shared.broker import ensure_topics
from shared.clients.chatbot import ChatbotClient
from shared.clients.pos import PosClient
from shared.contracts.orders import OrderPlaced
from shared.contracts.pos import PosOrderReceived
from shared.settings import KafkaSettings
from shared.tokens import Role
from shared.topics import FIXED_TOPICS, dlq_topic, pos_orders_topic, pos_updates_topic
from tests.access import bearer, mint
from tests.kafka_acls import (
    CHATBOT_TEMPLATE,
    POS_TEMPLATE,
    SERVICE_USERS,
    from_template,
    grant,
    kafka_users,
)
from tests.system.conftest import Restaurant, System, start_system
from tests.waiting import eventually

pytestmark = pytest.mark.integration

CLIENT, STORE, OTHER_STORE = "acl-burger", "s1", "s2"
SERVICES = ("order", "payment", "notifier", "scheduler", "panel")


@dataclass
class SecuredKafka:
    server: KafkaServer
    pos_user: str
    other_pos_user: str
    chatbot_user: str

    def as_user(self, user: str) -> KafkaSettings:
        return self.server.client_settings(user)

    @property
    def admin(self) -> KafkaSettings:
        return self.server.client_settings()


def store_topics(store_id: str) -> list[str]:
    updates = pos_updates_topic(CLIENT, store_id)
    return [pos_orders_topic(CLIENT, store_id), updates, dlq_topic(updates)]


@pytest.fixture(scope="module")
async def secured(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecuredKafka]:
    """A broker whose clients authenticate, with each identity's ACLs from the manifests and
    the topics the platform makes (Strimzi KafkaTopics); store s1's are left to the order
    service, which creates them when the store is configured."""
    users = kafka_users(SERVICE_USERS)
    pos_user, pos_acls = from_template(POS_TEMPLATE, CLIENT, STORE)
    other_pos_user, other_pos_acls = from_template(POS_TEMPLATE, CLIENT, OTHER_STORE)
    chatbot_user, chatbot_acls = from_template(CHATBOT_TEMPLATE, CLIENT)
    users |= {pos_user: pos_acls, other_pos_user: other_pos_acls, chatbot_user: chatbot_acls}
    assert set(SERVICES) <= set(users)
    server = KafkaServer(
        home=Path(tmp_path_factory.mktemp("kafka-scram")),
        port=free_port(),
        controller_port=free_port(),
        scram_users={name: secrets.token_urlsafe(16) for name in ["admin", *users]},
    )
    server.start()
    try:
        kafka = SecuredKafka(server, pos_user, other_pos_user, chatbot_user)
        for user, acls in users.items():
            await grant(kafka.admin, user, acls)
        platform_topics = [*FIXED_TOPICS, *map(dlq_topic, FIXED_TOPICS)]
        await ensure_topics(
            kafka.admin, [*platform_topics, *store_topics(OTHER_STORE)], partitions=3
        )
        yield kafka
    finally:
        server.stop()


def identity_env(kafka: SecuredKafka, user: str) -> dict[str, str]:
    settings = kafka.as_user(user)
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": settings.security_protocol,
        "KAFKA_SASL_MECHANISM": settings.sasl_mechanism,
        "KAFKA_SASL_USERNAME": user,
        "KAFKA_SASL_PASSWORD": settings.sasl_password.get_secret_value(),
    }


@pytest.fixture(scope="module")
def secured_system(
    secured: SecuredKafka, mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    """The four services, each as its own Kafka identity."""
    env = {name: identity_env(secured, name) for name in SERVICES}
    running = start_system(
        secured.server.bootstrap_servers, mongodb_uri, tmp_path_factory.mktemp("acl"), env=env
    )
    yield running
    running.stop()


async def test_an_order_placed_by_the_chatbot_is_confirmed_by_the_pos_under_the_acls(
    secured: SecuredKafka, secured_system: System
) -> None:
    restaurant = Restaurant(secured_system)
    restaurant.client_id, restaurant.store_id = CLIENT, STORE
    try:
        await restaurant.onboard(requiresConfirmation=True, autoConfirmationTimeout=10)
        command = restaurant.order("CASH")
        async with (
            ChatbotClient(secured.as_user(secured.chatbot_user)) as chatbot,
            PosClient(secured.as_user(secured.pos_user), CLIENT, STORE) as pos,
        ):
            placed = await chatbot.place(command)
            assert isinstance(placed, OrderPlaced), placed
            received = await anext(pos.messages())
            assert isinstance(received, PosOrderReceived)
            assert (received.order_id, received.awaiting_confirmation) == (placed.order_id, True)
            await pos.confirm(placed.order_id)

        chatbot_token = bearer(mint(Role.CHATBOT, CLIENT))

        async def confirmed() -> bool:
            response = await restaurant.order_api.get(
                f"/orders/{placed.order_id}", headers=chatbot_token
            )
            return bool(response.json().get("status") == "CONFIRMED")

        await eventually(confirmed, timeout=60, what="the POS's confirmation handled")
        await eventually(
            lambda: _count(restaurant, 2), timeout=60, what="the customer told twice on WhatsApp"
        )
        await _revoked_everywhere(restaurant)
    finally:
        await restaurant.close()


async def _revoked_everywhere(restaurant: Restaurant) -> None:
    """A restaurant token opens the payment service (verified there with the public key) until
    the operator revokes the restaurant's tokens on the order service; then neither opens."""
    token = bearer(
        mint(Role.RESTAURANT, CLIENT, issued_at=datetime.now(UTC) - timedelta(seconds=5))
    )
    credentials = f"/restaurants/{CLIENT}/asaas"
    assert (await restaurant.payment_api.get(credentials, headers=token)).status_code == 200

    revoked = await restaurant.order_api.post("/auth/revocations", json={"clientId": CLIENT})
    assert revoked.status_code == 202, revoked.text

    async def refused() -> bool:
        payment = await restaurant.payment_api.get(credentials, headers=token)
        order = await restaurant.order_api.get(f"/stores/{CLIENT}/{STORE}/config", headers=token)
        return (payment.status_code, order.status_code) == (401, 401)

    await eventually(refused, timeout=30, what="the revocation seen by both services")


async def _count(restaurant: Restaurant, at_least: int) -> bool:
    return len(await restaurant.whatsapp()) >= at_least


async def test_a_pos_reads_and_writes_its_own_stores_topics_and_no_other(
    secured: SecuredKafka,
) -> None:
    await ensure_topics(secured.admin, store_topics(STORE), partitions=1)
    marker = uuid.uuid4().hex.encode()
    async with Producer(secured.admin) as admin:
        await admin.send_and_wait(pos_orders_topic(CLIENT, STORE), marker, key=CLIENT.encode())
        await admin.send_and_wait(pos_orders_topic(CLIENT, OTHER_STORE), marker)
    pos = secured.as_user(secured.pos_user)

    async with Producer(pos) as producer:
        await producer.send_and_wait(pos_updates_topic(CLIENT, STORE), b"{}", key=CLIENT.encode())
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(pos_updates_topic(CLIENT, OTHER_STORE), b"{}")
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(pos_orders_topic(CLIENT, STORE), b"{}")
    assert marker in await _read_all(pos, pos_orders_topic(CLIENT, STORE))
    await _refused_read(pos, pos_orders_topic(CLIENT, OTHER_STORE), f"pos.{CLIENT}.{STORE}.pos")


@pytest.mark.parametrize("user", ["chatbot", "pos", "order", "notifier", "scheduler"])
async def test_only_the_payment_service_may_publish_payment_events(
    secured: SecuredKafka, user: str
) -> None:
    name = {"chatbot": secured.chatbot_user, "pos": secured.pos_user}.get(user, user)

    async with Producer(secured.as_user(name)) as producer:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait("payments.events", b'{"eventType":"PaymentSucceeded"}')


async def test_a_refund_command_comes_from_the_order_service_only(secured: SecuredKafka) -> None:
    for name in (secured.chatbot_user, secured.pos_user, "payment", "notifier", "scheduler"):
        async with Producer(secured.as_user(name)) as producer:
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait("payments.commands", b'{"eventType":"RequestRefund"}')


async def test_a_client_without_credentials_or_with_a_wrong_password_is_not_let_in(
    secured: SecuredKafka,
) -> None:
    wrong = secured.as_user("order").model_copy(update={"sasl_password": "not-it"})
    plain = KafkaSettings(bootstrap_servers=secured.server.bootstrap_servers)

    for settings in (wrong, plain):
        with pytest.raises(Exception):  # noqa: B017, PT011 (aiokafka's error differs by case)
            async with Producer(settings, timeout_ms=3000):
                pass


class Producer:
    """A started producer connected as `settings` say."""

    def __init__(self, settings: KafkaSettings, timeout_ms: int = 10_000) -> None:
        self._producer = AIOKafkaProducer(
            **settings.client_options(), request_timeout_ms=timeout_ms
        )

    async def __aenter__(self) -> AIOKafkaProducer:
        try:
            await self._producer.start()
        except BaseException:
            await self._producer.stop()
            raise
        return self._producer

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()


async def _refused_read(settings: KafkaSettings, topic: str, group: str) -> None:
    """Reading `topic` in `group` (one the identity may use) is refused for the topic, when the
    consumer starts or at its first fetch."""
    consumer = AIOKafkaConsumer(
        topic, **settings.client_options(), group_id=group, auto_offset_reset="earliest"
    )

    async def start_and_fetch() -> None:
        await consumer.start()
        await consumer.getone()

    try:
        async with asyncio.timeout(30):
            with pytest.raises(TopicAuthorizationFailedError):
                await start_and_fetch()
    finally:
        await consumer.stop()


async def _read_all(settings: KafkaSettings, topic: str) -> list[bytes]:
    """Every value of partition 0 of `topic`, read without a group up to its end."""
    consumer = AIOKafkaConsumer(**settings.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        values = []
        while await consumer.position(partition) < end:
            batch = await consumer.getmany(partition, timeout_ms=2000)
            values += [record.value or b"" for record in batch.get(partition, [])]
        return values
    finally:
        await consumer.stop()
