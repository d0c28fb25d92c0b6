"""The Twilio emulator: Twilio's Messages API paths, fields and error shapes, state in memory.

Twilio paths live under `/2010-04-01/`; the fault-injection and inspection API under `/_control/`
(which Twilio does not have). Faults apply to message creation (`POST .../Messages.json`):
throttling (429, code 20429) and server errors for the next N requests, optionally only for one
recipient; answers delayed after the message was recorded (a timed-out client's lost answer);
a permanent error code per recipient; recipients outside the 24-hour WhatsApp window (free-form
bodies refused with 63016, approved templates accepted); latency on every API call. A template
message is listed with a body standing for the text Twilio renders (`rendered_template`). A
message's `MediaUrl` is fetched after the answer, as Twilio does: an image is kept as the
message's Media subresource, anything else fails the message (11200 unreachable, 12300 not an
image).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

API_VERSION = "2010-04-01"
MEDIA_FETCH_TIMEOUT_S = 10.0
MAX_MEDIA_BYTES = 5 * 1024 * 1024
"""Twilio's limit on a message's media."""
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
MAX_BODY = 1600

ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21614: (400, "'To' number is not a valid mobile number"),
    21606: (
        400,
        "The From phone number is not a valid, SMS-capable inbound phone number or short code "
        "for your account.",
    ),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21656: (400, "The ContentVariables Parameter is invalid."),
    11200: (400, "HTTP retrieval failure"),
    12300: (400, "Invalid Content-Type"),
    63003: (400, "Channel could not find To address"),
    63007: (400, "Twilio could not find a Channel with the specified 'From' address"),
    63016: (
        400,
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template.",
    ),
    63024: (400, "Invalid message recipient"),
}


class EmulatorSettings(BaseSettings):
    """The one account the emulator serves; the same variables configure the notifier."""

    model_config = SettingsConfigDict(env_prefix="TWILIO_", extra="ignore")

    account_sid: str = Field(default="AC00000000000000000000000000000000")
    auth_token: str = Field(default="local-twilio-token")
    sender: str = Field(
        default="whatsapp:+5511900000000",
        validation_alias="TWILIO_FROM",
        description="The WhatsApp sender the account owns (TWILIO_FROM).",
    )
    senders: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="TWILIO_EMULATOR_SENDERS",
        description="TWILIO_EMULATOR_SENDERS: more WhatsApp senders the account owns (the "
        "stores' own numbers), comma-separated.",
    )

    @field_validator("senders", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def owns(self, sender: str) -> bool:
        """Whether `sender` (`whatsapp:+...`) is one of the account's WhatsApp senders."""
        owned = {_number(address) for address in (self.sender, *self.senders)}
        return _number(sender) in owned


def twilio_error(code: int, status: int | None = None, message: str | None = None) -> JSONResponse:
    """An error in Twilio's shape: `code`, `message`, `more_info`, `status`."""
    known_status, known_message = ERRORS.get(code, (400, f"Error {code}"))
    status = status or known_status
    return JSONResponse(
        {
            "code": code,
            "message": message or known_message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


class CountedFault(BaseModel):
    """The next `count` message creations fail (only those to `to`, when given)."""

    count: int = Field(ge=0)
    to: str | None = None
    status: int = Field(default=500, ge=500, le=599)


class SlowAnswers(BaseModel):
    """The next `count` creations (to `to`, if given) are accepted, then answered after `ms`."""

    count: int = Field(ge=0)
    ms: float = Field(ge=0)
    to: str | None = None


class RecipientError(BaseModel):
    to: str
    code: int = Field(description="Twilio error code answered for this recipient, e.g. 63024.")
    status: int | None = Field(default=None, description="HTTP status; Twilio's for the code.")


class Recipient(BaseModel):
    to: str


class Latency(BaseModel):
    ms: float = Field(ge=0)


@dataclass
class Faults:
    throttle: CountedFault | None = None
    server_errors: CountedFault | None = None
    slow_answers: SlowAnswers | None = None
    recipient_errors: dict[str, RecipientError] = field(default_factory=dict)
    outside_window: set[str] = field(default_factory=set)
    latency_s: float = 0.0


@dataclass
class Medium:
    """A fetched image of a message: Twilio's Media resource and its content."""

    resource: dict[str, Any]
    content: bytes


@dataclass
class State:
    messages: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, list[Medium]] = field(default_factory=dict)
    """A message's fetched media, by message SID."""
    faults: Faults = field(default_factory=Faults)
    refused: dict[str, int] = field(default_factory=dict)


def _number(address: str) -> str:
    """`whatsapp:+55...` or `+55...` -> `+55...`."""
    return address.removeprefix("whatsapp:")


def _take(fault: CountedFault | None, to: str) -> bool:
    if fault is None or fault.count <= 0:
        return False
    if fault.to is not None and _number(fault.to) != _number(to):
        return False
    fault.count -= 1
    return True


def rendered_template(content_sid: str, variables: dict[str, Any]) -> str:
    """A template message's body: Twilio lists the text it rendered; the emulator knows no
    template's text, so its stand-in is the ContentSid and the variables in order."""
    in_order = sorted(variables, key=lambda key: (len(key), key))  # "2" before "10"
    values = " | ".join(str(variables[key]) for key in in_order)
    return f"[{content_sid}] {values}".strip()


def _segments(body: str) -> int:
    if len(body) <= 160:
        return 1
    return math.ceil(len(body) / 153)


def build_app(settings: EmulatorSettings | None = None) -> FastAPI:
    settings = settings or EmulatorSettings()
    state = State()
    # One client for every media fetch: a client made per fetch loaded the CA bundle each time,
    # several milliseconds of CPU per message, spent beside the system under test.
    media_client: list[httpx.AsyncClient] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=MEDIA_FETCH_TIMEOUT_S) as http:
            media_client.append(http)
            yield

    app = FastAPI(title="twilio-emulator", lifespan=lifespan)
    base = f"/{API_VERSION}/Accounts/{{account_sid}}"

    def authenticated(request: Request, account_sid: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user, password = "", ""
        valid = (
            scheme.lower() == "basic"
            and secrets.compare_digest(user, settings.account_sid)
            and secrets.compare_digest(password, settings.auth_token)
        )
        if not valid:
            return twilio_error(20003)
        if account_sid != settings.account_sid:
            return twilio_error(20404)
        return None

    def refuse(code: int, status: int | None = None) -> JSONResponse:
        state.refused[str(code)] = state.refused.get(str(code), 0) + 1
        return twilio_error(code, status)

    def message_uri(sid: str) -> str:
        return f"/{API_VERSION}/Accounts/{settings.account_sid}/Messages/{sid}.json"

    fetches: set[asyncio.Task[None]] = set()

    async def fetch_media(message: dict[str, Any], urls: list[str]) -> None:
        """Fetches each MediaUrl as Twilio would: an image becomes a Media resource; a failure
        fails the message with Twilio's code."""
        kept: list[Medium] = []
        (http,) = media_client
        for url in urls:
            try:
                response = await http.get(url, follow_redirects=True)
            except httpx.HTTPError:
                response = None
            if response is None or response.status_code != 200:
                fail(message, 11200)
                return
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
            if not content_type.startswith("image/") or len(response.content) > MAX_MEDIA_BYTES:
                fail(message, 12300)
                return
            kept.append(medium(message, content_type, response.content))
        state.media[message["sid"]] = kept
        message["date_updated"] = format_datetime(datetime.now(UTC))

    def fail(message: dict[str, Any], code: int) -> None:
        message.update(
            status="failed",
            error_code=code,
            error_message=ERRORS[code][1],
            date_updated=format_datetime(datetime.now(UTC)),
        )

    def medium(message: dict[str, Any], content_type: str, content: bytes) -> Medium:
        now = format_datetime(datetime.now(UTC))
        sid = "ME" + uuid.uuid4().hex
        resource = {
            "account_sid": settings.account_sid,
            "content_type": content_type,
            "date_created": now,
            "date_updated": now,
            "parent_sid": message["sid"],
            "sid": sid,
            "uri": message["uri"].replace(".json", f"/Media/{sid}.json"),
        }
        return Medium(resource, content)

    @app.post(f"{base}/Messages.json")
    async def create_message(request: Request, account_sid: str) -> JSONResponse:
        if state.faults.latency_s:
            await asyncio.sleep(state.faults.latency_s)
        if (denied := authenticated(request, account_sid)) is not None:
            return denied
        fields = parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)
        form = {name: values[0] for name, values in fields.items()}
        media_urls = [url for url in fields.get("MediaUrl", []) if url]
        to, sender = form.get("To", ""), form.get("From", "")
        body = form.get("Body", "")
        content_sid = form.get("ContentSid") or None
        if _take(state.faults.throttle, to):
            return refuse(20429)
        if _take(state.faults.server_errors, to):
            status = state.faults.server_errors.status if state.faults.server_errors else 500
            return refuse(20503 if status == 503 else 20500, status)
        if not to:
            return refuse(21604)
        if not sender:
            return refuse(21603)
        if not E164.match(_number(to)):
            return refuse(21211)
        if not settings.owns(sender):
            # Twilio's answer for a From it has no WhatsApp channel for (63007), and for a bare
            # number the account does not own (21606).
            return refuse(63007 if sender.startswith("whatsapp:") else 21606)
        if not body and content_sid is None and not media_urls:
            return refuse(21602)
        if len(body) > MAX_BODY:
            return refuse(21617)
        variables: dict[str, Any] | None = None
        if content_sid is not None and form.get("ContentVariables"):
            try:
                variables = json.loads(form["ContentVariables"])
            except json.JSONDecodeError:
                variables = None
            if not isinstance(variables, dict):
                return refuse(21656)
        recipient_error = state.faults.recipient_errors.get(_number(to))
        if recipient_error is not None:
            return refuse(recipient_error.code, recipient_error.status)
        if _number(to) in state.faults.outside_window and content_sid is None:
            return refuse(63016)
        if content_sid is not None:
            body = rendered_template(content_sid, variables or {})
        now = datetime.now(UTC)
        # Twilio names a message with media MM..., one without SM...
        sid = ("MM" if media_urls else "SM") + uuid.uuid4().hex
        message = {
            "account_sid": settings.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": format_datetime(now),
            "date_sent": None,
            "date_updated": format_datetime(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": None,
            "num_media": str(len(media_urls)),
            "num_segments": str(_segments(body)) if body else "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": message_uri(sid).replace(".json", "/Media.json")},
            "to": to,
            "uri": message_uri(sid),
            # Not in Twilio's resource: what the emulator recorded of an approved template.
            "content_sid": content_sid,
            "content_variables": variables,
        }
        state.messages.append(message)
        if media_urls:
            # Twilio answers first and fetches the media afterwards.
            fetches.add(task := asyncio.create_task(fetch_media(message, media_urls)))
            task.add_done_callback(fetches.discard)
        slow = state.faults.slow_answers
        if (
            slow is not None
            and slow.count > 0
            and (slow.to is None or _number(slow.to) == _number(to))
        ):
            slow.count -= 1
            await asyncio.sleep(slow.ms / 1000)  # accepted; the answer may reach no one
        return JSONResponse(message, status_code=201)

    @app.get(f"{base}/Messages.json")
    async def list_messages(request: Request, account_sid: str) -> JSONResponse:
        if state.faults.latency_s:
            await asyncio.sleep(state.faults.latency_s)
        if (denied := authenticated(request, account_sid)) is not None:
            return denied
        query = request.query_params
        to, sender = query.get("To"), query.get("From")
        try:
            page_size = min(max(int(query.get("PageSize", "50")), 1), 1000)
            page = max(int(query.get("Page", "0")), 0)
        except ValueError:
            return twilio_error(20001, 400, "Invalid paging parameter")
        found = [
            message
            for message in reversed(state.messages)  # Twilio lists newest first
            if (to is None or _number(message["to"]) == _number(to))
            and (sender is None or _number(message["from"]) == _number(sender))
        ]
        start = page * page_size
        chunk = found[start : start + page_size]
        path = f"/{API_VERSION}/Accounts/{settings.account_sid}/Messages.json"
        filters = {name: value for name, value in (("To", to), ("From", sender)) if value}

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode(filters | {'PageSize': page_size, 'Page': number})}"

        return JSONResponse(
            {
                "messages": chunk,
                "end": start + max(len(chunk) - 1, 0),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if start + page_size < len(found) else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": page_uri(page),
            }
        )

    @app.get(f"{base}/Messages/{{sid}}.json")
    async def fetch_message(request: Request, account_sid: str, sid: str) -> JSONResponse:
        if (denied := authenticated(request, account_sid)) is not None:
            return denied
        for message in state.messages:
            if message["sid"] == sid:
                return JSONResponse(message)
        return twilio_error(20404)

    @app.get(f"{base}/Messages/{{sid}}/Media.json")
    async def list_media(request: Request, account_sid: str, sid: str) -> JSONResponse:
        if (denied := authenticated(request, account_sid)) is not None:
            return denied
        if not any(message["sid"] == sid for message in state.messages):
            return twilio_error(20404)
        media = [found.resource for found in state.media.get(sid, [])]
        uri = message_uri(sid).replace(".json", "/Media.json")
        return JSONResponse(
            {
                "media_list": media,
                "end": max(len(media) - 1, 0),
                "first_page_uri": f"{uri}?PageSize=50&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize=50&Page=0",
            }
        )

    @app.get(f"{base}/Messages/{{sid}}/Media/{{media_sid}}")
    async def media_content(
        request: Request, account_sid: str, sid: str, media_sid: str
    ) -> Response:
        """A Media resource (`.json`), or the content Twilio stored (without the suffix)."""
        if (denied := authenticated(request, account_sid)) is not None:
            return denied
        wanted = media_sid.removesuffix(".json")
        for found in state.media.get(sid, []):
            if found.resource["sid"] == wanted:
                if media_sid.endswith(".json"):
                    return JSONResponse(found.resource)
                return Response(found.content, media_type=found.resource["content_type"])
        return twilio_error(20404)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "twilio-emulator"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, bool]:
        return {"ready": True}

    @app.post("/_control/throttle")
    async def throttle(fault: CountedFault) -> dict[str, Any]:
        """The next `count` creations (to `to`, if given) answer 429 with code 20429."""
        state.faults.throttle = fault
        return fault.model_dump()

    @app.post("/_control/server-errors")
    async def server_errors(fault: CountedFault) -> dict[str, Any]:
        """The next `count` creations (to `to`, if given) answer `status` (5xx)."""
        state.faults.server_errors = fault
        return fault.model_dump()

    @app.post("/_control/slow-answers")
    async def slow_answers(fault: SlowAnswers) -> dict[str, Any]:
        """The next `count` creations are recorded at once and answered `ms` later (a client
        that times out meanwhile does not know its message was accepted)."""
        state.faults.slow_answers = fault
        return fault.model_dump()

    @app.post("/_control/recipient-errors")
    async def recipient_errors(fault: RecipientError) -> dict[str, Any]:
        """Every creation to `to` answers the Twilio error `code` (e.g. 63024, 21211)."""
        state.faults.recipient_errors[_number(fault.to)] = fault
        return fault.model_dump()

    @app.post("/_control/outside-window")
    async def outside_window(recipient: Recipient) -> dict[str, Any]:
        """Free-form bodies to `to` answer 63016; approved templates (ContentSid) are accepted."""
        state.faults.outside_window.add(_number(recipient.to))
        return recipient.model_dump()

    @app.post("/_control/latency")
    async def latency(value: Latency) -> dict[str, Any]:
        """Every Twilio API call waits `ms` milliseconds before answering."""
        state.faults.latency_s = value.ms / 1000
        return value.model_dump()

    @app.post("/_control/reset")
    async def reset() -> dict[str, bool]:
        """Forgets every message and fault."""
        state.messages.clear()
        state.media.clear()
        state.refused.clear()
        state.faults = Faults()
        return {"reset": True}

    @app.get("/_control/state")
    async def control_state() -> dict[str, Any]:
        faults = state.faults
        return {
            "messages": len(state.messages),
            "mediaFetches": len(fetches),
            "refused": dict(state.refused),
            "faults": {
                "throttle": faults.throttle.model_dump() if faults.throttle else None,
                "serverErrors": faults.server_errors.model_dump() if faults.server_errors else None,
                "slowAnswers": faults.slow_answers.model_dump() if faults.slow_answers else None,
                "recipientErrors": {
                    number: error.model_dump() for number, error in faults.recipient_errors.items()
                },
                "outsideWindow": sorted(faults.outside_window),
                "latencyMs": faults.latency_s * 1000,
            },
        }

    return app
