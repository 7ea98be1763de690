"""Who may export: admin and designer; a viewer or annotator gets 403, an outsider 404."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create, export_run
from tests.api import FORBIDDEN, NOT_FOUND, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def finished(project) -> Export:  # type: ignore[no-untyped-def]
    export = export_create(
        project=project,
        user=None,
        export_format="labels-raw",
        file_format="jsonl",
        options=ExportOptions(),
        enqueue=False,
    )
    done = export_run(export_id=export.pk)
    assert done is not None
    assert done.status == Export.Status.SUCCEEDED
    return done


def _calls(project, export):  # type: ignore[no-untyped-def]
    return [
        ("get", f"/api/v1/projects/{project.pk}/exports/"),
        ("post", f"/api/v1/projects/{project.pk}/exports/"),
        ("get", f"/api/v1/exports/{export.pk}/"),
        ("get", f"/api/v1/exports/{export.pk}/download/"),
        ("get", f"/api/v1/exports/{export.pk}/download/?file=card"),
    ]


@pytest.mark.parametrize("role", ["viewer", "annotator"])
def test_members_without_the_role_get_403_and_nothing_is_created(request, project, finished, role):
    client = token_client(request.getfixturevalue(role))

    for method, url in _calls(project, finished):
        response = (
            getattr(client, method)(url, {"format": "trl-preference"}, format="json")
            if method == "post"
            else client.get(url)
        )
        assert (response.status_code, response.json()) == (403, FORBIDDEN), url

    assert list(Export.objects.values_list("pk", flat=True)) == [finished.pk]


def test_a_non_member_gets_404_and_nothing_is_created(project, finished, outsider):
    client = token_client(outsider)

    for method, url in _calls(project, finished):
        response = (
            getattr(client, method)(url, {"format": "trl-preference"}, format="json")
            if method == "post"
            else client.get(url)
        )
        assert (response.status_code, response.json()) == (404, NOT_FOUND), url

    assert list(Export.objects.values_list("pk", flat=True)) == [finished.pk]


def test_pages_refuse_viewers_and_outsiders(client, project, finished, viewer, outsider):
    pages = [
        f"/projects/{project.slug}/exports/",
        f"/projects/{project.slug}/exports/{finished.pk}/progress/",
        f"/projects/{project.slug}/exports/{finished.pk}/download/train/",
    ]
    client.force_login(viewer)
    assert [client.get(url).status_code for url in pages] == [403, 403, 403]
    created = client.post(f"/projects/{project.slug}/exports/new/", {"format": "labels-raw"})
    assert created.status_code == 403

    client.force_login(outsider)
    assert [client.get(url).status_code for url in pages] == [404, 404, 404]

    assert list(Export.objects.values_list("pk", flat=True)) == [finished.pk]


@pytest.mark.parametrize("role", ["admin_user", "designer"])
def test_admins_and_designers_may_export(request, project, role):
    client = token_client(request.getfixturevalue(role))

    response = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "labels-raw"}, format="json"
    )

    assert response.status_code == 202
    assert Export.objects.get().created_by == request.getfixturevalue(role)
