from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.exports.models import Export
from apps.exports.services import export_run
from tests.exports.factories import label, pair
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def test_it_creates_an_export_from_the_form_and_follows_it(
    client, project, designer, django_capture_on_commit_callbacks
):
    comparison, _, _ = pair(project, "Q", "good", "bad")
    label(comparison, UserFactory(), "a")
    client.force_login(designer)

    page = client.get(f"/projects/{project.slug}/exports/")
    assert page.status_code == 200
    assert b'aria-current="page">Exports</a>' in page.content
    assert b"Pseudonymise annotators" not in page.content  # designers always get pseudonyms

    with django_capture_on_commit_callbacks() as callbacks:
        created = client.post(
            f"/projects/{project.slug}/exports/new/",
            {
                "format": "trl-preference",
                "file_format": "parquet",
                "prompt_form": "auto",
                "test_share": "0",
                "seed": "0",
                "ties": "exclude",
                "both_bad": "exclude",
                "metadata": "",
            },
        )
    assert created.status_code == 302
    assert len(callbacks) == 1
    export = Export.objects.get()
    assert (export.format, export.file_format, export.created_by) == (
        "trl-preference",
        "parquet",
        designer,
    )

    polling = client.get(
        f"/projects/{project.slug}/exports/{export.pk}/progress/", headers={"HX-Request": "true"}
    )
    assert polling.status_code == 200
    assert b'hx-trigger="every 1s"' in polling.content

    export_run(export_id=export.pk)
    done = client.get(
        f"/projects/{project.slug}/exports/{export.pk}/progress/", headers={"HX-Request": "true"}
    )
    assert done.status_code == 286
    assert b"hx-trigger" not in done.content
    assert f"/exports/{export.pk}/download/train/".encode() in done.content

    download = client.get(f"/projects/{project.slug}/exports/{export.pk}/download/train/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"PAR1")
    card = client.get(f"/projects/{project.slug}/exports/{export.pk}/download/card/")
    assert b"".join(card.streaming_content).decode() == Export.objects.get().card


def test_it_shows_the_form_again_with_the_problem(client, project, designer):
    client.force_login(designer)

    response = client.post(
        f"/projects/{project.slug}/exports/new/",
        {
            "format": "rewards",
            "file_format": "jsonl",
            "prompt_form": "auto",
            "test_share": "0",
            "seed": "0",
            "ties": "exclude",
            "both_bad": "exclude",
            "metadata": "lang",
        },
    )

    assert response.status_code == 400
    assert b"Line 1: write key=value." in response.content
    assert not Export.objects.exists()


def test_the_form_asks_for_a_soft_label(client, project, designer):
    client.force_login(designer)

    page = client.get(f"/projects/{project.slug}/exports/")
    created = client.post(
        f"/projects/{project.slug}/exports/new/",
        {
            "format": "trl-preference", "file_format": "jsonl", "prompt_form": "auto",
            "test_share": "0", "seed": "0", "ties": "exclude", "both_bad": "exclude",
            "metadata": "", "margin": "on", "soft_label": "on",
        },
    )  # fmt: skip

    assert b"Soft label (p_chosen)" in page.content
    assert created.status_code == 302
    options = Export.objects.get().options
    assert (options["soft_label"], options["margin"]) == (True, True)


def test_the_form_offers_the_standard_form_only_when_every_prompt_is_text(
    client, project, designer
):
    pair(project, "Plain?", "yes", "no")
    client.force_login(designer)
    page = f"/projects/{project.slug}/exports/"

    assert b'<option value="standard">Standard</option>' in client.get(page).content
    pair(project, [{"role": "user", "content": "Chat?"}], "yes", "no")
    chat = client.get(page).content
    assert b'<option value="standard">' not in chat
    assert b'<option value="conversational">Conversational</option>' in chat
    assert b"Standard is not offered: this project has chat prompts" in chat
