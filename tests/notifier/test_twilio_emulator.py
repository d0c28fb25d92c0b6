"""The Twilio client against the Twilio emulator running as a real HTTP server."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.notifier.adapters.twilio_client import AnswerLost, TwilioClient
from services.notifier.config import TwilioSettings
from shared.gateway import GatewayRefused
from tests.notifier.emulator import ACCOUNT_SID, AUTH_TOKEN, SENDER, STORE_SENDER, TwilioEmulator
from tests.waiting import eventually

pytestmark = pytest.mark.integration

TO = "+5511987650001"


def client_for(emulator: TwilioEmulator) -> TwilioClient:
    settings = TwilioSettings(base_url=emulator.url, backoff_initial_s=0.05, backoff_max_s=0.2)
    return TwilioClient(settings)


async def test_a_sent_message_has_twilios_fields_and_is_listed(twilio: TwilioEmulator) -> None:
    client = client_for(twilio)
    sid = await client.send(TO, body="Olá, Maria!")
    await client.aclose()

    [message] = twilio.messages(TO)
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    assert message["sid"] == sid
    assert message["account_sid"] == ACCOUNT_SID
    assert (message["from"], message["to"]) == (SENDER, f"whatsapp:{TO}")
    assert message["body"] == "Olá, Maria!"
    assert message["status"] == "queued"
    assert message["direction"] == "outbound-api"
    assert message["num_segments"] == "1"
    assert (message["error_code"], message["error_message"]) == (None, None)
    assert message["uri"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"
    assert parsedate_to_datetime(message["date_created"]).tzinfo is not None


def test_the_list_is_paged_and_filtered_like_twilios(twilio: TwilioEmulator) -> None:
    auth = httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN)
    for n in range(3):
        httpx.post(
            twilio.url + twilio.messages_path,
            data={"To": f"whatsapp:{TO}", "From": SENDER, "Body": f"m{n}"},
            auth=auth,
        ).raise_for_status()
    httpx.post(
        twilio.url + twilio.messages_path,
        data={"To": "whatsapp:+5511000000009", "From": SENDER, "Body": "other"},
        auth=auth,
    ).raise_for_status()

    page = httpx.get(
        twilio.url + twilio.messages_path,
        params={"To": f"whatsapp:{TO}", "PageSize": "2"},
        auth=auth,
    ).json()

    assert [m["body"] for m in page["messages"]] == ["m2", "m1"]
    assert (page["page"], page["page_size"], page["start"]) == (0, 2, 0)
    assert page["next_page_uri"] is not None
    assert page["uri"].startswith(twilio.messages_path)
    assert twilio.bodies(TO) == ["m0", "m1", "m2"]


def test_wrong_credentials_get_twilios_authenticate_error(twilio: TwilioEmulator) -> None:
    response = httpx.post(
        twilio.url + twilio.messages_path,
        data={"To": f"whatsapp:{TO}", "From": SENDER, "Body": "x"},
        auth=httpx.BasicAuth(ACCOUNT_SID, "wrong"),
    )

    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": "whatsapp:12345", "Body": "x"}, 21211),
        ({"To": f"whatsapp:{TO}"}, 21602),
        ({"Body": "x"}, 21604),
    ],
)
def test_invalid_requests_get_twilios_validation_errors(
    twilio: TwilioEmulator, form: dict[str, str], code: int
) -> None:
    response = httpx.post(
        twilio.url + twilio.messages_path,
        data={"From": SENDER} | form,
        auth=httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN),
    )

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


async def test_a_429_burst_and_server_errors_are_retried_until_accepted(
    twilio: TwilioEmulator,
) -> None:
    twilio.control("throttle", count=3)
    twilio.control("server-errors", count=1, status=503)
    client = TwilioClient(
        TwilioSettings(base_url=twilio.url, attempts=5, backoff_initial_s=0.05, backoff_max_s=0.2)
    )

    await client.send(TO, body="depois da rajada")
    await client.aclose()

    assert twilio.bodies(TO) == ["depois da rajada"]
    assert twilio.state()["refused"] == {"20429": 3, "20503": 1}


async def test_a_permanent_error_is_raised_at_once_with_twilios_code_and_no_secret(
    twilio: TwilioEmulator,
) -> None:
    twilio.control("recipient-errors", to=TO, code=63024)
    client = client_for(twilio)

    with pytest.raises(GatewayRefused) as refused:
        await client.send(TO, body="x")
    await client.aclose()

    assert (refused.value.code, refused.value.status) == ("63024", 400)
    assert twilio.state()["refused"] == {"63024": 1}
    assert AUTH_TOKEN not in str(refused.value)


async def test_outside_the_window_free_form_is_refused_and_a_template_is_accepted(
    twilio: TwilioEmulator,
) -> None:
    twilio.control("outside-window", to=TO)
    client = client_for(twilio)

    with pytest.raises(GatewayRefused) as refused:
        await client.send(TO, body="x")
    sid = await client.send(TO, content_sid="HX123", content_variables={"1": "Maria"})
    await client.aclose()

    assert refused.value.code == "63016"
    [message] = twilio.messages(TO)
    assert message["sid"] == sid
    assert (message["content_sid"], message["content_variables"]) == ("HX123", {"1": "Maria"})
    assert message["body"] == "[HX123] Maria"  # Twilio lists the text it rendered


def test_reset_forgets_messages_and_faults(twilio: TwilioEmulator) -> None:
    twilio.control("throttle", count=5)
    httpx.post(
        twilio.url + twilio.messages_path,
        data={"To": f"whatsapp:{TO}", "From": SENDER, "Body": "x"},
        auth=httpx.BasicAuth(ACCOUNT_SID, AUTH_TOKEN),
    )
    twilio.control("reset")

    state = twilio.state()
    assert state["messages"] == 0
    assert state["faults"]["throttle"] is None


async def test_a_timed_out_send_that_twilio_accepted_is_found_not_sent_twice(
    twilio: TwilioEmulator,
) -> None:
    twilio.control("slow-answers", count=1, ms=1500)
    client = TwilioClient(
        TwilioSettings(base_url=twilio.url, timeout_s=0.5, backoff_initial_s=0.05)
    )

    sid = await client.send(TO, body="só uma vez")
    await client.aclose()

    [message] = twilio.messages(TO)
    assert message["sid"] == sid


async def test_a_timed_out_template_send_is_not_sent_again_blind_but_reported_lost(
    twilio: TwilioEmulator,
) -> None:
    twilio.control("slow-answers", count=1, ms=1500)
    client = TwilioClient(
        TwilioSettings(base_url=twilio.url, timeout_s=0.5, backoff_initial_s=0.05)
    )

    with pytest.raises(AnswerLost):
        await client.send(TO, content_sid="HX123", content_variables={"1": "Maria"})
    await client.aclose()

    assert len(twilio.messages(TO)) == 1


async def test_a_message_goes_out_from_the_sender_asked_when_the_account_owns_it(
    twilio: TwilioEmulator,
) -> None:
    client = client_for(twilio)
    sid = await client.send(TO, body="Da loja", from_=STORE_SENDER)
    [message] = twilio.messages(TO)
    found = await client.latest(TO, from_=STORE_SENDER)
    elsewhere = await client.latest(TO)  # from the platform's sender
    await client.aclose()

    assert (message["sid"], message["from"]) == (sid, STORE_SENDER)
    assert [(listed.sid, listed.body) for listed in found] == [(sid, "Da loja")]
    assert found[0].created_at == parsedate_to_datetime(message["date_created"])
    assert elsewhere == []


@pytest.mark.parametrize(
    ("sender", "code"),
    [("whatsapp:+5511900000099", "63007"), ("+5511900000099", "21606")],
    ids=["unknown-whatsapp-sender", "unknown-number"],
)
async def test_a_sender_the_account_does_not_own_gets_twilios_error(
    twilio: TwilioEmulator, sender: str, code: str
) -> None:
    client = client_for(twilio)
    with pytest.raises(GatewayRefused) as refused:
        await client.send(TO, body="Olá", from_=sender)
    await client.aclose()

    assert (refused.value.status, refused.value.code) == (400, code)
    assert twilio.messages(TO) == []


# Media

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
SERVED = {"/qr.png": ("image/png", PNG), "/page": ("text/html", b"<html></html>")}


class Images(BaseHTTPRequestHandler):
    """A web server with one image, one page, and nothing else (404)."""

    def do_GET(self) -> None:
        found = SERVED.get(self.path)
        if found is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", found[0])
        self.send_header("Content-Length", str(len(found[1])))
        self.end_headers()
        self.wfile.write(found[1])

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


async def fetched(twilio: TwilioEmulator, sid: str) -> dict[str, Any]:
    """The message, with its `media_list`, once Twilio has fetched its media or failed it."""
    found: dict[str, Any] = {}
    path = twilio.messages_path.replace(".json", f"/{sid}")

    async def settled() -> bool:
        async with httpx.AsyncClient(base_url=twilio.url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as http:
            found.update((await http.get(f"{path}.json")).json())
            found["media_list"] = (await http.get(f"{path}/Media.json")).json()["media_list"]
        return bool(found["media_list"]) or found["status"] == "failed"

    await eventually(settled, what=f"message {sid}'s media fetched")
    return found


async def test_a_message_with_an_image_keeps_it_as_its_media_as_twilio_does(
    twilio: TwilioEmulator, web: str
) -> None:
    client = client_for(twilio)
    sid = await client.send(TO, body="Pague com PIX", media_url=f"{web}/qr.png")
    await client.aclose()

    message = await fetched(twilio, sid)

    assert re.fullmatch(r"MM[0-9a-f]{32}", sid)
    assert message["num_media"] == "1"
    assert message["status"] == "queued"
    [medium] = message["media_list"]
    assert medium["content_type"] == "image/png"
    assert medium["parent_sid"] == sid
    assert re.fullmatch(r"ME[0-9a-f]{32}", medium["sid"])
    async with httpx.AsyncClient(base_url=twilio.url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as http:
        content = await http.get(medium["uri"].removesuffix(".json"))
    assert content.headers["content-type"] == "image/png"
    assert content.content == PNG


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [("/missing.png", 11200, "HTTP retrieval failure"), ("/page", 12300, "Invalid Content-Type")],
    ids=["unreachable", "not-an-image"],
)
async def test_a_message_whose_media_cannot_be_fetched_fails_with_twilios_code(
    twilio: TwilioEmulator, web: str, path: str, code: int, words: str
) -> None:
    client = client_for(twilio)
    sid = await client.send(TO, body="Pague com PIX", media_url=f"{web}{path}")
    await client.aclose()

    message = await fetched(twilio, sid)

    assert message["num_media"] == "1"
    assert (message["status"], message["error_code"], message["error_message"]) == (
        "failed",
        code,
        words,
    )
    assert message["media_list"] == []
