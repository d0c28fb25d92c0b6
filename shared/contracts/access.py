"""Access events (`auth.revocations`): a restaurant's tokens revoked, seen by every service."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.base import TYPE_NAME_DESCRIPTION, Message, Reason, UtcDatetime
from shared.contracts.limits import MAX_ID_LENGTH


class TokensRevoked(Message):
    """Every token of a restaurant issued up to `notBefore` no longer opens anything (its
    off-boarding, or a leaked token). Compacted by `clientId`: the latest revocation counts."""

    event_type: Literal["TokensRevoked"] = Field(
        default="TokensRevoked", description=TYPE_NAME_DESCRIPTION
    )
    client_id: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, description="The restaurant whose tokens end."
    )
    not_before: UtcDatetime = Field(
        description="Tokens issued at or before this instant (UTC, whole seconds) are refused."
    )
    reason: Reason | None = Field(default=None, description="Why, in the operator's words.")
