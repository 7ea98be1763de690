"""Content negotiation: the quick answer is the one DRF gives."""

from __future__ import annotations

import pytest
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.core.negotiation import ContentNegotiation


@pytest.mark.parametrize(
    ("accept", "query"),
    [(None, ""), ("*/*", ""), ("application/json", ""), ("text/html", ""),
     ("*/*", "format=api"), ("application/json; indent=2", "")],
)  # fmt: skip
def test_it_picks_what_drf_picks(accept: str | None, query: str) -> None:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/projects/?{query}", **headers))
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    ours = ContentNegotiation().select_renderer(request, renderers)
    drf = DefaultContentNegotiation().select_renderer(request, renderers)

    assert (type(ours[0]), ours[1]) == (type(drf[0]), drf[1])


def test_a_format_suffix_is_honoured() -> None:
    request = Request(APIRequestFactory().get("/api/v1/projects/"))
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    renderer, _ = ContentNegotiation().select_renderer(request, renderers, format_suffix="api")

    assert isinstance(renderer, BrowsableAPIRenderer)
