"""Middleware of our own."""

from __future__ import annotations

import functools
import http.client
from collections.abc import Callable
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render

from apps.core.json_limits import NUL_MESSAGE

_DEBUG_EXEMPT = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)


class CSPMiddleware(LibraryCSPMiddleware):
    """django-csp's middleware, with the header text built once per settings value.

    Palate's policy is the same on every response: no template reads a nonce and no view
    changes the policy. Building the text again for each response cost as much CPU as a
    query on an API call. A request that read its nonce, or a response that django-csp's
    decorators changed (they set `_csp…` attributes on it), takes the library's path.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            name.startswith("_csp") for name in vars(response)
        ):
            return super().process_response(request, response)
        if response.status_code in _DEBUG_EXEMPT and settings.DEBUG:
            return response
        for header, text, excluded in _policies():
            if text and header not in response and not request.path_info.startswith(excluded):
                response[header] = text
        # As the library does: a nonce read after the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response


@functools.cache
def _policies() -> list[tuple[str, str, tuple[str, ...]]]:
    """(header, policy text, excluded path prefixes) for the policy and the report-only one."""
    found = []
    for header, setting, report_only in (
        (HEADER, "CONTENT_SECURITY_POLICY", False),
        (HEADER_REPORT_ONLY, "CONTENT_SECURITY_POLICY_REPORT_ONLY", True),
    ):
        policy: dict[str, Any] = getattr(settings, setting, None) or {}
        excluded = tuple(policy.get("EXCLUDE_URL_PREFIXES") or ())
        found.append((header, build_policy(report_only=report_only), excluded))
    return found


@receiver(setting_changed)
def _policy_changed(*, setting: str, **_: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.cache_clear()


class RefuseNulInQueryMiddleware:
    """A query value (or name) with a NUL character (`%00`) is refused with a 400 naming the
    parameter, in the API's error shape under /api/: PostgreSQL stores no NUL, so a filter
    holding one could only fail at the database. Bodies are checked by apps.core.parsers
    (API) and Django's form fields (pages)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # The usual query has no `%00` at all: one substring search, no decoding.
        if "%00" in request.META.get("QUERY_STRING", ""):
            names = [
                name
                for name, values in request.GET.lists()
                if "\x00" in name or any("\x00" in value for value in values)
            ]
            if names:
                return _refused(request, names)
        return self.get_response(request)


def _refused(request: HttpRequest, names: list[str]) -> HttpResponse:
    if not request.path.startswith("/api/"):
        listed = ", ".join(names).replace("\x00", "\\u0000")
        problem = f"A NUL character (%00) is not allowed in a query value: {listed}."
        return render(request, "400.html", {"problem": problem}, status=400)
    details = {name.replace("\x00", "\\u0000"): [NUL_MESSAGE] for name in names}
    body = {"error": {"code": "invalid", "message": "Invalid input.", "details": details}}
    return JsonResponse(body, status=400)
