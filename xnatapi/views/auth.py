"""Signing in and out the way XNAT clients do it (xnat-rest-api.md §2, §10), and alias tokens."""

from __future__ import annotations

import json

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from xnatapi import auth, services
from xnatapi.http import NOT_FOUND, api_view, method_not_allowed, params, text

LOGIN_FAILED = "Login attempt failed. Please try again."


@api_view(anonymous=True)
def services_auth(request: HttpRequest) -> HttpResponse:
    """`PUT /data/services/auth` with a form body `username=...&password=...`: the token as text."""
    if request.method not in ("PUT", "POST"):
        return method_not_allowed(request)
    values = params(request)
    user = auth.user_for_credentials(request, values.get("username", ""), values.get("password", ""))
    if user is None:
        return auth.unauthorized(LOGIN_FAILED)
    token = auth.sign_in(request, user, values.get("username", ""))
    return text(token)


@api_view(anonymous=True)
def jsession(request: HttpRequest) -> HttpResponse:
    """`GET/POST /data/JSESSION`: the session token; `DELETE`: sign out (200, empty)."""
    if request.method == "DELETE":
        logout(request)
        return text("")
    if not request.user.is_authenticated:
        return auth.unauthorized()
    if request.method == "POST":
        request.session.cycle_key()
        request.session.save()
    elif request.method not in ("GET", "HEAD"):
        return method_not_allowed(request)
    if request.session.session_key is None:
        request.session.save()
    return text(request.session.session_key)


@api_view
def auth_check(request: HttpRequest) -> HttpResponse:
    """`GET /data/auth`: who is signed in, in the words xnatpy looks for."""
    return text(f"User '{request.user.get_username()}' is logged in")


@api_view
def token_issue(request: HttpRequest) -> HttpResponse:
    """`GET /data/services/tokens/issue`: a new alias token (XNAT's JSON shape)."""
    token, secret = services.issue_alias_token(request.user, parent=auth.session_alias(request))
    body = {
        "alias": token.alias,
        "secret": secret,
        "xdatUserId": str(request.user.pk),
        "estimatedExpirationTime": int(token.expires_at.timestamp() * 1000),
        "enabled": True,
    }
    return HttpResponse(json.dumps(body), content_type="application/json")


@api_view
def token_invalidate(request: HttpRequest, alias: str, secret: str = "") -> HttpResponse:
    """`GET/DELETE /data/services/tokens/invalidate/{alias}[/{secret}]`: end a token now."""
    services.revoke_alias_token(alias, by=request.user)
    return text("")


@api_view(anonymous=True)
def token_validate(request: HttpRequest, alias: str, secret: str) -> HttpResponse:
    """`GET /data/services/tokens/validate/{alias}/{secret}`: the user name, if the pair is valid
    (through `authenticate`, so guesses count as failed sign-ins)."""
    user = auth.user_for_credentials(request, alias, secret)
    if user is None or getattr(user, "alias_token", None) is None:
        return text(NOT_FOUND, 404)
    return HttpResponse(json.dumps({"valid": user.get_username()}), content_type="application/json")
