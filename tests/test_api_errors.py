"""Every API answer that is an error has the one shape, even where no API view runs."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test import Client, RequestFactory, override_settings

from apps.accounts.models import User
from apps.core.api import CACHE_UNAVAILABLE, server_error
from tests.api import NOT_FOUND, token_client
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db


def test_a_path_no_view_answers_is_a_404_in_the_error_shape_under_api(
    admin_user: User,
) -> None:
    client = token_client(admin_user)

    answers = [client.get("/api/v1/nope/"), client.get("/api/v1/prompts/abc/"), Client().get(
        "/api/v2/projects/")]  # fmt: skip

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert [answer.json() for answer in answers] == [NOT_FOUND] * 3


def test_pages_keep_their_html_404() -> None:
    response = Client().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_method_the_api_does_not_offer_is_a_405_in_the_error_shape(
    admin_user: User, project
) -> None:  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)

    response = token_client(admin_user).put(f"/api/v1/prompts/{prompt.pk}/", {}, format="json")

    assert response.status_code == 405
    assert response.json() == {
        "error": {"code": "method_not_allowed", "message": 'Method "PUT" not allowed.',
                  "details": {}}
    }  # fmt: skip


def test_a_crash_under_api_answers_500_in_the_error_shape() -> None:
    factory = RequestFactory()

    api = server_error(factory.get("/api/v1/projects/"))
    page = server_error(factory.get("/projects/"))

    assert api.status_code == 500
    assert json.loads(api.content) == {
        "error": {
            "code": "server_error",
            "message": "Internal server error; see the server's logs.",
            "details": {},
        }
    }
    assert page.status_code == 500
    assert page["Content-Type"].startswith("text/html")


@contextmanager
def database_at_a_closed_port() -> Iterator[None]:
    """The database goes away (as in a restart) for the length of the block: the connection
    is closed and the next one is tried on a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = str(probe.getsockname()[1])
    settings_dict = connection.settings_dict
    port = settings_dict["PORT"]
    connection.close()
    settings_dict["PORT"] = closed_port
    try:
        yield
    finally:
        connection.close()
        settings_dict["PORT"] = port


UNAVAILABLE = {
    "error": {
        "code": "database_unavailable",
        "message": "The database is not answering at the moment; try again in a few seconds.",
        "details": {},
    }
}


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_database_answers_503_in_the_error_shape_and_a_plain_page(
    admin_user: User, project
) -> None:  # type: ignore[no-untyped-def]
    api = token_client(admin_user)
    api.raise_request_exception = False
    browser = Client(raise_request_exception=False)
    browser.force_login(admin_user)

    with database_at_a_closed_port():
        api_answer = api.get("/api/v1/projects/")
        page = browser.get("/projects/")

    assert api_answer.status_code == 503
    assert api_answer.json() == UNAVAILABLE
    assert page.status_code == 503
    assert page["Content-Type"].startswith("text/html")
    assert "Try again in a moment" in page.content.decode()
    assert UNAVAILABLE["error"]["message"] in page.content.decode()
    # The database is back: the same requests answer again.
    assert api.get("/api/v1/projects/").json()["count"] == 1
    assert browser.get("/projects/").status_code == 200


@pytest.mark.django_db
def test_an_unreachable_cache_answers_503_in_the_error_shape(admin_user: User, project) -> None:  # type: ignore[no-untyped-def]
    api = token_client(admin_user)
    api.raise_request_exception = False
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    location = f"redis://127.0.0.1:{closed_port}/0"
    down = {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": location}

    with override_settings(CACHES={"default": down}):
        api_answer = api.get("/api/v1/projects/")

    assert api_answer.status_code == 503
    assert api_answer.json() == {
        "error": {"code": "cache_unavailable", "message": CACHE_UNAVAILABLE, "details": {}}
    }
    assert api.get("/api/v1/projects/").json()["count"] == 1
