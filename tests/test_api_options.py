"""OPTIONS on every API path, found by walking the URLconf: never a server error, for a member
or a stranger; and every API view parses with Palate's parsers (apps.core.parsers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import Project, User
from apps.core import parsers
from apps.exports.models import Export
from apps.imports.models import ImportJob
from apps.rewards.services import score_run_create
from apps.rubrics.models import Rubric
from tests.api import token_client
from tests.exports.factories import pair
from tests.rewards.factories import TEXT_SPEC, version_of

pytestmark = pytest.mark.django_db

_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def api_routes() -> Iterator[tuple[str, Any]]:
    """(route, view class or None) for every URL pattern under api/, as the URLconf declares
    them."""

    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, Any]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                yield prefix + str(pattern.pattern), getattr(pattern.callback, "cls", None)

    for route, view in walk(get_resolver().url_patterns, ""):
        if route.startswith("api/"):
            yield route, view


def _ids(project: Project, admin: User) -> dict[str, int]:
    """An object of the project for each kind of path parameter."""
    comparison, _, _ = pair(project, "Q", "good", "bad")
    version = version_of(project, TEXT_SPEC)
    return {
        "project_id": project.pk,
        "comparison_id": comparison.pk,
        "prompt_id": comparison.prompt_id,
        "user_id": admin.pk,
        "function_id": version.function_id,
        "version_id": version.pk,
        "other_id": version.pk,
        "run_id": score_run_create(version=version, created_by=admin, enqueue=False).pk,
        "rubric_id": Rubric.objects.create(project=project, name="r").pk,
        "export_id": Export.objects.create(project=project, format="trl-preference").pk,
        "import_id": ImportJob.objects.create(project=project, original_name="x.jsonl").pk,
        # No training run, inspection or reward model: their paths answer 404, not 5xx.
        "inspection_id": 1,
        "model_id": 1,
        "invitation_id": 1,
    }


def test_options_never_answers_a_server_error_on_any_api_path(
    project: Project, admin_user: User, outsider: User
) -> None:
    ids = _ids(project, admin_user)
    routes = list(api_routes())
    assert len(routes) >= 45  # every app's paths, from the URLconf
    answers: dict[str, list[int]] = {}

    clients = [token_client(user) for user in (admin_user, outsider)]
    for client in clients:
        client.raise_request_exception = False  # a crash is a 500 here, as in production

    for route, _ in routes:
        path = "/" + _PARAMETER.sub(lambda match: str(ids[match[1]]), route)
        answers[route] = [client.options(path).status_code for client in clients]

    assert {route: codes for route, codes in answers.items() if max(codes) >= 500} == {}
    # A member is told what the path takes; so is a stranger (no data is in the answer).
    members_list = token_client(admin_user).options(f"/api/v1/projects/{project.pk}/members/")
    assert members_list.json() == {
        "name": "Membership List Api",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json"],
    }


def test_every_api_view_parses_with_palates_parsers() -> None:
    ours = (parsers.JSONParser, parsers.MultiPartParser, parsers.FormParser)

    outside = {
        route: [parser.__module__ + "." + parser.__name__ for parser in view.parser_classes]
        for route, view in api_routes()
        if view is not None
        and not route.startswith(("api/schema/", "api/docs/"))
        and not all(issubclass(parser, ours) for parser in view.parser_classes)
    }

    assert outside == {}
