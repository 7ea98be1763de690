"""Every API answer that is an error has the one shape, even where no API view runs."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory

from apps.accounts.models import User
from apps.core.api import server_error
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
