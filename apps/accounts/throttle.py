"""Throttling of password and token guessing.

Log-ins (`/accounts/login/`, `/admin/login/`, anything calling `authenticate` with a
request) go through django-axes: after `LOGIN_FAILURE_LIMIT` wrong passwords for one
account, or from one client address, within `LOGIN_LOCKOUT_SECONDS`, every log-in for
that account or from that address is refused (the right password too) until
`LOGIN_LOCKOUT_SECONDS` after the last failure. A success resets that account's and
address's count. Failures are rows in the database (Axes' "access attempts"), so every
web process sees them, and an administrator of the instance can lift a lockout in the
admin or with `manage.py axes_reset_username <name>` / `axes_reset_ip <address>`.

API tokens: a request with a wrong token key counts against its client address;
past `LOGIN_FAILURE_LIMIT` in `LOGIN_LOCKOUT_SECONDS` such requests get 429 instead of
401. Only the failure path counts or checks anything: a valid key costs nothing more,
so the annotation API's rate is unchanged (and a 160-bit key cannot be guessed anyway).
"""

from __future__ import annotations

import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.exceptions import Throttled


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or, behind `TRUSTED_PROXY_COUNT` proxies that
    each append to X-Forwarded-For, the address the outermost of them saw (entries to its
    left are the client's to write, and are ignored)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


def lockout_message() -> str:
    minutes = math.ceil(settings.LOGIN_LOCKOUT_SECONDS / 60)
    return (
        "Too many failed log-ins for this account or from this address. Logging in is "
        f"locked for {minutes} minute{'s' if minutes != 1 else ''} after the last attempt; "
        "try again later, or ask an administrator of this instance to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """Axes' answer to a locked-out log-in: the log-in page with the reason, as a 429."""
    retry = str(settings.LOGIN_LOCKOUT_SECONDS)
    if request.path.startswith("/api/"):
        body = {"error": {"code": "throttled", "message": lockout_message(), "details": {}}}
        return JsonResponse(body, status=429, headers={"Retry-After": retry})
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "lockout": lockout_message(), "next": request.POST.get("next", "")}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = retry
    return response


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' lockout check before the password is; first in AUTHENTICATION_BACKENDS.

    A call without a request (the test client's `login`, a shell) has no client to
    throttle and passes to the next backend."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)  # type: ignore[arg-type]


def _token_failures_key(address: str) -> str:
    return f"throttle:token-failures:{address}"


def token_failure_record(request: HttpRequest) -> None:
    """Count a request with a wrong token key against its address; raise 429 past the limit.

    The window starts at the address's first failure and lasts LOGIN_LOCKOUT_SECONDS."""
    key = _token_failures_key(client_ip(request))
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        failures = 1
    if failures > settings.LOGIN_FAILURE_LIMIT:
        raise Throttled(  # DRF adds "Expected available in N seconds." and Retry-After
            wait=settings.LOGIN_LOCKOUT_SECONDS,
            detail="Too many requests with an invalid API token from this address.",
        )
