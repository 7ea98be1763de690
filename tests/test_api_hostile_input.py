"""Hostile input at the API's edge: JSON nested too deeply and NUL characters are a 400 that
names what was wrong, and nothing is written (apps.core.parsers, apps.core.middleware)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import Project, User
from apps.annotation.models import Assignment, Comparison, Label
from apps.annotation.services import comparisons_generate
from apps.core.json_limits import MAX_JSON_DEPTH, JsonProblem, json_problem
from apps.prompts.models import Prompt
from apps.rewards.models import RewardFunction
from tests.api import token_client
from tests.factories import PASSWORD, PromptFactory, ResponseFactory
from tests.rewards.factories import TEXT_SPEC

pytestmark = pytest.mark.django_db

TOO_DEEP = {
    "error": {
        "code": "parse_error",
        "message": f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels",
        "details": {},
    }
}


def nul_refused(*fields: str) -> dict[str, Any]:
    details = {field: ["Null characters are not allowed."] for field in fields}
    return {"error": {"code": "invalid", "message": "Invalid input.", "details": details}}


def nested(levels: int) -> str:
    """JSON text of `levels` arrays, one inside the other: 2,000 levels are 4 KB."""
    return "[" * levels + "]" * levels


def post_text(client: Any, url: str, text: str) -> Any:
    return client.post(url, text, content_type="application/json")


@pytest.fixture
def leased(project: Project, annotator: User) -> tuple[Any, Comparison, int]:
    """The annotator's client, holding a lease on a pair; and the pair's second response."""
    prompt = PromptFactory(project=project)
    ResponseFactory(prompt=prompt, text="First answer")
    second = ResponseFactory(prompt=prompt, text="Second answer")
    comparisons_generate(project=project)
    client = token_client(annotator)
    leased = client.post(f"/api/v1/projects/{project.pk}/comparisons/next/", {}, format="json")
    assert leased.status_code == 200
    return client, Comparison.objects.get(), second.pk


def _label_body(**fields: Any) -> dict[str, Any]:
    return {"idempotency_key": "nul-check-1", "choice": "a", "strength": 1, **fields}


def test_json_nested_2000_levels_deep_is_a_400_on_the_three_endpoints(
    project: Project, designer: User, leased: tuple[Any, Comparison, int]
) -> None:
    annotator_client, comparison, _ = leased
    designer_client = token_client(designer)
    body = nested(2000)
    assert len(body) == 4000

    answers = [
        post_text(designer_client, f"/api/v1/projects/{project.pk}/prompts/", body),
        post_text(annotator_client, f"/api/v1/comparisons/{comparison.pk}/labels/", body),
        post_text(designer_client, f"/api/v1/projects/{project.pk}/reward-functions/", body),
        # Inside a field that takes any JSON, too.
        post_text(
            designer_client,
            f"/api/v1/projects/{project.pk}/reward-functions/",
            f'{{"name": "deep", "spec": {{"components": {body}}}}}',
        ),
    ]

    assert [answer.status_code for answer in answers] == [400] * 4
    assert [answer.json() for answer in answers] == [TOO_DEEP] * 4
    assert Prompt.objects.filter(project=project).count() == 1  # the leased pair's
    assert not Label.objects.exists()
    assert not RewardFunction.objects.exists()


def test_json_is_refused_one_level_past_the_limit_and_accepted_at_it(
    project: Project, designer: User
) -> None:
    client = token_client(designer)
    url = f"/api/v1/projects/{project.pk}/prompts/"

    def row(metadata_levels: int) -> str:
        # The row (1) and its metadata (1) around `metadata_levels` arrays.
        inner = nested(metadata_levels)
        return f'{{"prompt": "Q{metadata_levels}", "responses": [{{"text": "A"}}], "metadata": {{"k": {inner}}}}}'  # noqa: E501

    over = post_text(client, url, row(MAX_JSON_DEPTH - 1))
    at = post_text(client, url, row(MAX_JSON_DEPTH - 2))

    assert over.status_code == 400
    assert over.json() == TOO_DEEP
    assert at.status_code == 201
    assert list(Prompt.objects.filter(project=project).values_list("input", flat=True)) == [
        f"Q{MAX_JSON_DEPTH - 2}"
    ]


def test_the_deepest_structures_palate_reads_are_well_inside_the_limit() -> None:
    spec_with_transform = {
        **TEXT_SPEC,
        "transforms": {"words": ["zscore_per_prompt", {"log_sigmoid": {"reference": "p50"}}]},
    }
    prompt_rows = [
        {
            "prompt": [{"role": "user", "content": "Hi"}],
            "responses": [{"text": "A", "metadata": {"judge": {"scores": [[1, 2]]}}}],
        }
    ]

    def depth(value: Any) -> int:
        if isinstance(value, dict):
            return 1 + max(map(depth, value.values()), default=0)
        if isinstance(value, list):
            return 1 + max(map(depth, value), default=0)
        return 0

    assert depth(spec_with_transform) == 5
    assert depth(prompt_rows) == 8
    assert json_problem(spec_with_transform) is None
    assert json_problem(prompt_rows) is None


def test_json_problem_names_the_path_of_a_nul_and_the_top_key_of_deep_nesting() -> None:
    assert json_problem({"spans": [{"note": "ok"}, {"note": "a\x00b"}]}) == JsonProblem(
        "spans.1.note", "contains a NUL character (\\u0000)"
    )
    assert json_problem({"metadata": {"a\x00": 1}}) == JsonProblem(
        "metadata.a\\u0000", "contains a NUL character (\\u0000)"
    )
    assert json_problem({"fine": 1, "spec": json.loads(nested(MAX_JSON_DEPTH))}) == JsonProblem(
        "spec", f"nested deeper than {MAX_JSON_DEPTH} levels"
    )
    assert json_problem(json.loads(nested(MAX_JSON_DEPTH))) is None
    assert json_problem("\x00") == JsonProblem("", "contains a NUL character (\\u0000)")


def test_a_nul_in_a_rationale_or_a_span_note_is_a_field_error_and_writes_nothing(
    leased: tuple[Any, Comparison, int],
) -> None:
    client, comparison, second = leased
    url = f"/api/v1/comparisons/{comparison.pk}/labels/"
    span = {"response": second, "start": 0, "end": 6, "category": "style"}
    lease_before = list(Assignment.objects.values("pk", "expires_at", "status"))

    answers = [
        client.post(url, _label_body(rationale="Because\x00"), format="json"),
        client.post(url, _label_body(spans=[{**span, "note": "x\u0000y"}]), format="json"),
        client.post(
            url,
            "idempotency_key=nul-check-1&choice=a&rationale=Because%00",
            content_type="application/x-www-form-urlencoded",
        ),
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert answers[0].json() == nul_refused("rationale")
    assert answers[1].json() == nul_refused("spans.0.note")
    assert answers[2].json() == nul_refused("rationale")
    assert not Label.objects.exists()
    assert list(Assignment.objects.values("pk", "expires_at", "status")) == lease_before
    # The same judgment without the NUL goes through.
    fine = client.post(url, _label_body(rationale="Because", spans=[{**span, "note": "xy"}]),
                       format="json")  # fmt: skip
    assert fine.status_code == 201
    assert Label.objects.get().rationale == "Because"


def test_a_nul_in_a_key_or_a_multipart_value_is_refused(project: Project, designer: User) -> None:
    client = token_client(designer)
    row = {"prompt": "Q", "responses": [{"text": "A"}], "metadata": {"a\x00": "x"}}

    key = client.post(f"/api/v1/projects/{project.pk}/prompts/", [row], format="json")
    form = client.post(
        f"/api/v1/projects/{project.pk}/reward-functions/",
        {"name": "a\x00b", "spec": "{}"},
        format="multipart",
    )

    assert key.status_code == 400
    assert key.json() == nul_refused("0.metadata.a\\u0000")
    assert form.status_code == 400
    assert form.json() == nul_refused("name")
    assert not Prompt.objects.exists()
    assert not RewardFunction.objects.exists()


def test_a_nul_in_a_query_value_is_a_400_naming_the_parameter(
    project: Project, designer: User
) -> None:
    PromptFactory(project=project, metadata={"k": "v"})
    client = token_client(designer)
    url = f"/api/v1/projects/{project.pk}/prompts/"

    answers = [
        client.get(f"{url}?metadata.k=%00"),
        client.get(f"{url}?search=a%00b&group=g"),
        client.get(f"/api/v1/projects/{project.pk}/labels/?since=%00"),
    ]
    kept = client.get(f"{url}?metadata.k=%2500")  # the text "%00", no NUL: a plain filter

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert [answer.json() for answer in answers] == [
        nul_refused("metadata.k"), nul_refused("search"), nul_refused("since"),
    ]  # fmt: skip
    assert kept.status_code == 200
    assert kept.json()["count"] == 0


def test_a_nul_in_a_page_query_value_is_a_400_page(project: Project, designer: User) -> None:
    client = Client()
    client.login(username=designer.username, password=PASSWORD)

    page = client.get(f"/projects/{project.slug}/prompts/?search=%00")

    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    assert "A NUL character (%00) is not allowed in a query value: search." in page.text
