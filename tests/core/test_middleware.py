"""The Content-Security-Policy header, built once: the same header as django-csp's."""

from __future__ import annotations

import pytest
from csp.decorators import csp_exempt, csp_update
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from apps.core.middleware import CSPMiddleware

pytestmark = pytest.mark.django_db


def _header(middleware_class: type, view=None, path: str = "/projects/") -> str | None:  # type: ignore[no-untyped-def]
    request = RequestFactory().get(path)
    view = view or (lambda request: HttpResponse("ok"))
    middleware = middleware_class(lambda request: view(request))
    return middleware(request).get("Content-Security-Policy")


def _directives(header: str | None) -> set[str]:
    return set((header or "").split("; "))


def test_every_response_gets_the_librarys_policy() -> None:
    ours = _header(CSPMiddleware)

    assert ours is not None
    assert "script-src 'self'" in ours
    assert _directives(ours) == _directives(_header(LibraryCSPMiddleware))
    assert _header(CSPMiddleware, path="/api/v1/projects/") == ours


def test_a_changed_setting_changes_the_header(settings) -> None:  # type: ignore[no-untyped-def]
    before = _header(CSPMiddleware)
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}

    assert _header(CSPMiddleware) == "default-src 'none'"
    assert before != "default-src 'none'"


def test_views_that_change_the_policy_take_the_librarys_path() -> None:
    exempt = csp_exempt()(lambda request: HttpResponse("ok"))
    updated = csp_update({"img-src": ["https://example.org"]})(lambda request: HttpResponse("ok"))

    assert _header(CSPMiddleware, exempt) is None
    assert "https://example.org" in (_header(CSPMiddleware, updated) or "")
    assert _directives(_header(CSPMiddleware, updated)) == _directives(
        _header(LibraryCSPMiddleware, updated)
    )
