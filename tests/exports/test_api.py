from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.exports.models import Export
from apps.exports.services import export_run
from tests.api import token_client
from tests.exports.factories import label, pair
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def test_it_creates_runs_and_downloads_an_export(
    project, designer, django_capture_on_commit_callbacks
):
    comparison, _, _ = pair(project, "Q", "good", "bad")
    label(comparison, UserFactory(), "a", strength=0)
    client = token_client(designer)

    with django_capture_on_commit_callbacks() as callbacks:
        created = client.post(
            f"/api/v1/projects/{project.pk}/exports/",
            {"format": "trl-preference", "file_format": "jsonl", "options": {"margin": True}},
            format="json",
        )

    assert created.status_code == 202, created.json()
    export_id = created.json()["id"]
    assert created["Location"] == f"/api/v1/exports/{export_id}/"
    assert created.json()["status"] == "queued"
    assert created.json()["options"]["margin"] is True
    assert len(callbacks) == 1
    export_run(export_id=export_id)

    detail = client.get(f"/api/v1/exports/{export_id}/").json()
    assert detail["status"] == "succeeded"
    assert detail["row_counts"] == {"train": 1}
    assert detail["fraction"] == 1.0
    [file] = detail["files"]
    assert file["download"] == f"/api/v1/exports/{export_id}/download/?file=train"
    data = client.get(file["download"])
    assert data.status_code == 200
    body = _body(data)
    assert json.loads(body) == {"prompt": "Q", "chosen": "good", "rejected": "bad", "margin": 0.25}
    import hashlib

    assert hashlib.sha256(body).hexdigest() == file["sha256"]
    card = client.get(f"/api/v1/exports/{export_id}/download/?file=card")
    assert _body(card).decode() == detail["card"]
    assert "attachment" in card["Content-Disposition"]
    listed = client.get(f"/api/v1/projects/{project.pk}/exports/").json()
    assert [item["id"] for item in listed["results"]] == [export_id]


def test_it_answers_invalid_options_in_the_one_error_shape(project, designer):
    client = token_client(designer)

    response = client.post(
        f"/api/v1/projects/{project.pk}/exports/",
        {"format": "trl-preference", "options": {"min_agreement": 2, "colour": "red"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {
                "options": [
                    "min_agreement: Input should be less than or equal to 1",
                    "colour: Extra inputs are not permitted",
                ]
            },
        }
    }
    assert not Export.objects.exists()


def test_it_refuses_a_rewards_export_without_a_version(project, designer):
    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "rewards"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "reward_version_id: the rewards format needs a version."
    )
    assert not Export.objects.exists()


def test_it_has_nothing_to_download_before_the_export_succeeds(project, designer):
    client = token_client(designer)
    created = client.post(
        f"/api/v1/projects/{project.pk}/exports/", {"format": "labels-raw"}, format="json"
    ).json()

    response = client.get(f"/api/v1/exports/{created['id']}/download/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_filters_the_export_list_by_status_and_format(project, designer):
    comparison, _, _ = pair(project, "Q", "good", "bad")
    label(comparison, UserFactory(), "a")
    done = Export.objects.create(project=project, format="trl-preference", file_format="jsonl")
    export_run(export_id=done.pk)
    queued_raw = Export.objects.create(project=project, format="labels-raw", file_format="csv")
    queued_trl = Export.objects.create(project=project, format="trl-preference", file_format="csv")
    client = token_client(designer)
    url = f"/api/v1/projects/{project.pk}/exports/"

    def ids(query: str) -> list[int]:
        response = client.get(url + query)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["results"]]

    assert ids("?status=succeeded") == [done.pk]
    assert sorted(ids("?status=queued")) == sorted([queued_raw.pk, queued_trl.pk])
    assert ids("?status=queued&export_format=labels-raw") == [queued_raw.pk]
    assert sorted(ids("?export_format=trl-preference")) == sorted([done.pk, queued_trl.pk])
    bad = client.get(url + "?status=lost")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    assert list(bad.json()["error"]["details"]) == ["status"]
