"""The browser's session: the restaurant's token in an HttpOnly, SameSite=Strict cookie, checked
on every request as every service checks a bearer token, and the form token that makes forms
safe from other sites (derived from the session's token, which no other site can read)."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request, Response

from services.panel.pages import PageError
from shared.auth import Access, Caller
from shared.tokens import Role

COOKIE = "painel_sessao"
CSRF_FIELD = "csrf"
MAX_AGE_S = 12 * 3600
"""A browser forgets the session after a shift; the token's own expiry may come sooner."""


class SignedOut(Exception):
    """No session, or its token is no longer accepted: the browser goes to the sign-in page."""


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


async def signed_in(access: Access, token: str | None) -> Caller:
    """The caller of a session's token: a restaurant's or the operator's; SignedOut otherwise."""
    try:
        caller = await access.caller(token)
    except HTTPException:
        raise SignedOut from None
    if caller.role not in (Role.RESTAURANT, Role.ADMIN):
        raise SignedOut
    return caller


def csrf_token(token: str) -> str:
    """The form token of a session: a digest of its token, unreadable to other sites."""
    return hmac.new(token.encode(), b"painel-csrf", hashlib.sha256).hexdigest()


def check_csrf(token: str, given: str | None) -> None:
    """403 unless a form carries its session's form token."""
    if not given or not hmac.compare_digest(csrf_token(token), given):
        raise PageError(403, "O formulário expirou: recarregue a página e tente de novo.")


def keep(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def forget(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=secure, path="/")
