"""POST /api/v1/projects/{id}/prompts/: a few prompt rows written as an import would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label
from apps.imports.services import import_create, import_run
from apps.prompts.models import Prompt, Response
from tests.api import FORBIDDEN, NOT_FOUND, token_client
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

CHAT_ROW = {
    "prompt": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime."},
    ],
    "responses": [
        {"text": "2", "model": "m-small", "sampling_params": {"temperature": 0.2}},
        {"text": "Seven.", "model": "m-large", "score": 0.5},
        {"text": "<script>alert(1)</script>", "model": "m-bad"},
    ],
    "reference": "Any prime, e.g. 3.",
    "metadata": {"kind": "math"},
    "group": "primes",
    "source": "hand-written",
}
TEXT_ROW = {"prompt": "Say hi.", "responses": [{"text": "Hi!"}, {"text": "Hello."}]}


def _url(project: Project) -> str:
    return f"/api/v1/projects/{project.pk}/prompts/"


def _state(project: Project) -> tuple[int, int, int, int]:
    return (
        Prompt.objects.filter(project=project).count(),
        Response.objects.filter(prompt__project=project).count(),
        Comparison.objects.filter(project=project).count(),
        Label.objects.filter(comparison__project=project).count(),
    )


def _texts(comparison: Comparison, responses: dict[int, Response]) -> list[str]:
    if comparison.kind == Comparison.Kind.PAIR:
        return [responses[comparison.response_a_id].text, responses[comparison.response_b_id].text]
    return sorted(responses[r.pk].text for r in comparison.ranked_responses.all())


def _shape(project: Project) -> list[Any]:
    """Everything the rows became, without ids or times, to compare two projects."""
    prompts = []
    for prompt in Prompt.objects.filter(project=project).order_by("content_hash"):
        responses = {r.pk: r for r in prompt.responses.all()}
        prompts.append(
            (
                prompt.input, prompt.references, prompt.metadata, prompt.group,
                prompt.content_hash,
                sorted((r.text, r.model, json.dumps(r.sampling_params), json.dumps(r.metadata),
                        r.content_hash) for r in responses.values()),
                sorted((_texts(c, responses), c.labels_wanted, c.kind)
                       for c in prompt.comparisons.all()),
            )
        )  # fmt: skip
    return prompts


def test_it_writes_one_row_with_the_comparisons_the_project_asks_for(
    project: Project, designer: User
) -> None:
    response = token_client(designer).post(_url(project), CHAT_ROW, format="json")

    assert response.status_code == 201, response.content
    prompt = Prompt.objects.get(project=project)
    assert response.json() == {
        "prompt_ids": [prompt.pk],
        "prompts_created": 1,
        "responses_created": 3,
        "comparisons_created": 3,
    }
    assert prompt.input == CHAT_ROW["prompt"]
    assert prompt.references == ["Any prime, e.g. 3."]
    assert prompt.metadata == {"kind": "math", "source": "hand-written"}
    assert prompt.group == "primes"
    assert list(prompt.responses.order_by("id").values_list(
        "text", "model", "sampling_params", "metadata")) == [
        ("2", "m-small", {"temperature": 0.2}, {}),
        ("Seven.", "m-large", {}, {"score": 0.5}),
        ("<script>alert(1)</script>", "m-bad", {}, {}),
    ]  # fmt: skip
    # All pairs (the default), each wanting the default overlap of 3 labels.
    assert sorted(Comparison.objects.filter(project=project).values_list(
        "kind", "labels_wanted")) == [("pair", 3)] * 3  # fmt: skip


def test_it_is_idempotent_by_content_and_adds_only_what_is_new(
    project: Project, admin_user: User
) -> None:
    client = token_client(admin_user)
    first = client.post(_url(project), [CHAT_ROW, TEXT_ROW], format="json")
    assert first.status_code == 201
    ids = first.json()["prompt_ids"]

    again = client.post(_url(project), [TEXT_ROW, CHAT_ROW], format="json")

    assert again.status_code == 200
    assert again.json() == {
        "prompt_ids": [ids[1], ids[0]],
        "prompts_created": 0,
        "responses_created": 0,
        "comparisons_created": 0,
    }
    assert _state(project) == (2, 5, 4, 0)

    more = {**TEXT_ROW, "responses": [{"text": "Hi!"}, {"text": "Hey."}]}
    grown = client.post(_url(project), more, format="json")

    assert grown.status_code == 201
    assert grown.json() == {
        "prompt_ids": [ids[1]],
        "prompts_created": 0,
        "responses_created": 1,
        "comparisons_created": 2,
    }
    assert _state(project) == (2, 6, 6, 0)


def test_it_writes_what_an_import_of_the_same_rows_writes(
    project: Project, admin_user: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    ranking = {"mode": "ranking", "ranking_size": 3, "overlap": 2}
    project.annotation_settings = ranking
    project.save(update_fields=["annotation_settings"])
    imported = ProjectFactory(annotation_settings=ranking)
    rows = [CHAT_ROW, TEXT_ROW, {**TEXT_ROW, "prompt": "Say bye.", "group": 7}]
    content = "\n".join(json.dumps(row) for row in rows).encode()
    job = import_create(project=imported, created_by=None, enqueue=False,
                        upload=SimpleUploadedFile("rows.jsonl", content))  # fmt: skip
    import_run(job_id=job.pk)

    response = token_client(admin_user).post(_url(project), rows, format="json")

    assert response.status_code == 201
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert response.json()["comparisons_created"] == job.comparisons_created == 3
    assert response.json()["responses_created"] == job.responses_created == 7
    assert _shape(project) == _shape(imported)
    assert [c.kind for c in Comparison.objects.filter(project=project)] == ["ranking"] * 3


def test_a_bad_row_writes_nothing_and_every_problem_names_its_row_and_field(
    project: Project, designer: User
) -> None:
    rows = [
        TEXT_ROW,
        {"prompt": "No answers.", "responses": []},
        {"prompt": [{"role": "wizard", "content": "x"}], "responses": [{"text": 7}]},
        {"prompt": "Q", "chosen": "yes", "rejected": "no"},
        "just text",
        {"prompt": "Q", "responses": [{"text": "same"}, {"text": "same"}]},
    ]

    response = token_client(designer).post(_url(project), rows, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Nothing was written: 6 problem(s), the first row 2, field responses: "
            "List should have at least 1 item after validation, not 0.",
            "details": {
                "rows": [
                    {"row": 2, "field": "responses",
                     "message": "List should have at least 1 item after validation, not 0"},
                    {"row": 3, "field": "prompt", "message": "message 0 has role 'wizard'; "
                     "expected one of system, developer, user, assistant, tool"},
                    {"row": 3, "field": "responses.0.text",
                     "message": "Input should be a valid string"},
                    {"row": 4, "field": "chosen",
                     "message": "preference pairs carry labels: import them as a file"},
                    {"row": 5, "field": "", "message": "expected an object, got str"},
                    {"row": 6, "field": "responses.1.text",
                     "message": "repeats an earlier response"},
                ]
            },
        }
    }  # fmt: skip
    assert _state(project) == (0, 0, 0, 0)


def test_it_refuses_bodies_it_cannot_store_and_changes_nothing(
    project: Project, designer: User
) -> None:
    client = token_client(designer)
    too_many = [{"prompt": f"Q{i}", "responses": [{"text": "A"}]} for i in range(501)]

    answers = [
        client.post(_url(project), too_many, format="json"),
        client.post(_url(project), [], format="json"),
        client.post(_url(project), "a prompt", format="json"),
        client.post(_url(project), {**TEXT_ROW, "metadata": {"k": "a\x00b"}}, format="json"),
    ]

    assert [answer.json()["error"]["message"] for answer in answers] == [
        "501 prompts in one request; the limit is 500. Upload a file to imports/ for more.",
        "Send at least one prompt.",
        "Invalid input.",
        "Invalid input.",
    ]
    assert [answer.status_code for answer in answers] == [400] * 4
    assert answers[2].json()["error"]["details"] == {
        "non_field_errors": ["Send one prompt row as an object, or a list of them."]
    }
    # PostgreSQL stores no NUL: the API's parser refuses it at its path (apps.core.parsers).
    assert answers[3].json()["error"]["details"] == {
        "metadata.k": ["Null characters are not allowed."]
    }
    assert _state(project) == (0, 0, 0, 0)


def test_only_admins_and_designers_write_prompts(
    project: Project, viewer: User, annotator: User, outsider: User
) -> None:
    for user, expected in [(viewer, FORBIDDEN), (annotator, FORBIDDEN), (outsider, NOT_FOUND)]:
        response = token_client(user).post(_url(project), TEXT_ROW, format="json")

        assert response.json() == expected
    assert _state(project) == (0, 0, 0, 0)
    # Reading the same path is unchanged: viewers list prompts.
    listed = token_client(viewer).get(_url(project))
    assert listed.status_code == 200
    assert listed.json()["count"] == 0


def test_a_designer_deletes_an_unjudged_prompt_with_what_hangs_on_it(
    project: Project, designer: User
) -> None:
    client = token_client(designer)
    kept, gone = client.post(_url(project), [TEXT_ROW, CHAT_ROW], format="json").json()[
        "prompt_ids"
    ]

    response = client.delete(f"/api/v1/prompts/{gone}/")

    assert response.status_code == 204
    assert list(Prompt.objects.filter(project=project).values_list("pk", flat=True)) == [kept]
    assert _state(project) == (1, 2, 1, 0)
    assert client.delete(f"/api/v1/prompts/{gone}/").json() == NOT_FOUND


def test_a_judged_prompt_is_kept_with_a_409(project: Project, designer: User) -> None:
    client = token_client(designer)
    (prompt_id,) = client.post(_url(project), TEXT_ROW, format="json").json()["prompt_ids"]
    comparison = Comparison.objects.get(prompt_id=prompt_id)
    Label.objects.create(comparison=comparison, choice="a", idempotency_key="kept-0001")

    response = client.delete(f"/api/v1/prompts/{prompt_id}/")

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "conflict",
            "message": f"Prompt {prompt_id} has 1 label(s) and is kept: judgments are never "
            "deleted. Leave it out of exports with a filter instead.",
            "details": {},
        }
    }
    assert _state(project) == (1, 2, 1, 1)


def test_only_admins_and_designers_delete_prompts(
    project: Project, designer: User, viewer: User, annotator: User, outsider: User
) -> None:
    (prompt_id,) = (
        token_client(designer).post(_url(project), TEXT_ROW, format="json").json()["prompt_ids"]
    )

    answers = [
        token_client(user).delete(f"/api/v1/prompts/{prompt_id}/").json()
        for user in (viewer, annotator, outsider)
    ]

    assert answers == [FORBIDDEN, FORBIDDEN, NOT_FOUND]
    assert _state(project) == (1, 2, 1, 0)
