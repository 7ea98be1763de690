from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.models import Project, User
from apps.prompts.models import Prompt, Response
from tests.api import FORBIDDEN, NOT_FOUND, iso, token_client
from tests.factories import PromptFactory, ResponseFactory


def _response_json(response: Response) -> dict[str, Any]:
    return {
        "id": response.pk,
        "text": response.text,
        "model": response.model,
        "sampling_params": response.sampling_params,
        "metadata": response.metadata,
        "created_at": iso(response.created_at),
    }


def _prompt_json(prompt: Prompt) -> dict[str, Any]:
    return {
        "id": prompt.pk,
        "project": prompt.project_id,
        "input": prompt.input,
        "references": prompt.references,
        "metadata": prompt.metadata,
        "group": prompt.group,
        "created_at": iso(prompt.created_at),
        "responses": [_response_json(r) for r in prompt.responses.order_by("id")],
    }


def _ids(response: Any) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


@pytest.fixture
def prompts(project: Project) -> list[Prompt]:
    chat = PromptFactory(
        project=project,
        input=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Explain recursion."},
        ],
        references=["A function calling itself."],
        metadata={"kind": "Coding", "lang": "en"},
        group="recursion",
    )
    ResponseFactory(
        prompt=chat, text="It calls itself.", model="m-7b", sampling_params={"temperature": 0.7}
    )
    ResponseFactory(prompt=chat, text="See recursion.", model="m-70b", metadata={"score": 2})
    plain = PromptFactory(
        project=project,
        input="Write a haiku about the sea.",
        metadata={"kind": "poetry", "lang": "de"},
        group="haiku",
    )
    ResponseFactory(prompt=plain, text="Waves fold into foam", model="m-7b")
    lonely = PromptFactory(project=project, input="Name a prime.", metadata={"kind": "maths"})
    return [chat, plain, lonely]


def test_it_lists_prompts_with_their_responses_nested(
    project: Project, designer: User, prompts: list[Prompt]
) -> None:
    PromptFactory(input="Someone else's prompt.")

    response = token_client(designer).get(f"/api/v1/projects/{project.pk}/prompts/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [_prompt_json(p) for p in prompts],
    }
    assert response.json()["results"][0]["input"][1] == {
        "role": "user",
        "content": "Explain recursion.",
    }
    assert [r["model"] for r in response.json()["results"][0]["responses"]] == ["m-7b", "m-70b"]


def test_it_searches_prompts_and_responses(
    project: Project, viewer: User, prompts: list[Prompt]
) -> None:
    client = token_client(viewer)
    url = f"/api/v1/projects/{project.pk}/prompts/"

    assert _ids(client.get(url, {"search": "RECURSION"})) == [prompts[0].pk]
    assert _ids(client.get(url, {"search": "foam"})) == [prompts[1].pk]
    assert _ids(client.get(url, {"search": "nothing like this"})) == []


def test_it_filters_prompts_by_group(project: Project, viewer: User, prompts: list[Prompt]) -> None:
    response = token_client(viewer).get(
        f"/api/v1/projects/{project.pk}/prompts/", {"group": "haiku"}
    )

    assert response.status_code == 200
    assert _ids(response) == [prompts[1].pk]


def test_it_filters_prompts_by_metadata(
    project: Project, viewer: User, prompts: list[Prompt]
) -> None:
    client = token_client(viewer)
    url = f"/api/v1/projects/{project.pk}/prompts/"

    assert _ids(client.get(url, {"metadata.kind": "coding"})) == [prompts[0].pk]
    assert _ids(client.get(url, {"metadata.lang": "de"})) == [prompts[1].pk]
    assert _ids(client.get(url, {"metadata.kind": "poetry", "metadata.lang": "en"})) == []
    assert _ids(client.get(url, {"metadata.kind": "poetry", "search": "sea"})) == [prompts[1].pk]
    assert _ids(client.get(url, {"metadata.missing": "x"})) == []


@pytest.mark.parametrize("name", ["metadata.", "metadata.kind__contains"])
def test_it_refuses_a_malformed_metadata_filter(
    project: Project, viewer: User, prompts: list[Prompt], name: str
) -> None:
    response = token_client(viewer).get(f"/api/v1/projects/{project.pk}/prompts/", {name: "x"})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {name: ["Name one top-level metadata key, as in `metadata.kind=coding`."]},
        }
    }


def test_it_paginates_prompts(project: Project, viewer: User, prompts: list[Prompt]) -> None:
    url = f"/api/v1/projects/{project.pk}/prompts/"

    response = token_client(viewer).get(url, {"page_size": 2, "page": 2})

    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], _ids(response)) == (3, None, [prompts[2].pk])
    assert body["previous"] == f"http://testserver{url}?page_size=2"


def test_it_lists_prompts_in_a_fixed_number_of_queries(project: Project, viewer: User) -> None:
    client = token_client(viewer)
    url = f"/api/v1/projects/{project.pk}/prompts/"

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    ResponseFactory(prompt=PromptFactory(project=project))
    count_queries()  # the first call reads the token; later ones find it in the cache
    few = count_queries()
    for _ in range(5):
        prompt = PromptFactory(project=project)
        ResponseFactory.create_batch(3, prompt=prompt)
    many = count_queries()

    assert many == few


def test_it_shows_one_prompt_with_its_responses(
    project: Project, viewer: User, prompts: list[Prompt]
) -> None:
    response = token_client(viewer).get(f"/api/v1/prompts/{prompts[0].pk}/")

    assert response.status_code == 200
    assert response.json() == _prompt_json(prompts[0])


def test_it_keeps_prompts_from_annotators(
    project: Project, annotator: User, prompts: list[Prompt]
) -> None:
    client = token_client(annotator)

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/prompts/"),
        client.get(f"/api/v1/prompts/{prompts[0].pk}/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(403, FORBIDDEN)] * 2


def test_it_hides_prompts_from_non_members(
    project: Project, outsider: User, prompts: list[Prompt]
) -> None:
    client = token_client(outsider)

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/prompts/"),
        client.get(f"/api/v1/prompts/{prompts[0].pk}/"),
        client.get("/api/v1/prompts/999999/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(404, NOT_FOUND)] * 3


def test_it_answers_401_for_prompts_without_credentials(
    api_client: APIClient, project: Project, prompts: list[Prompt]
) -> None:
    answers = [
        api_client.get(f"/api/v1/projects/{project.pk}/prompts/"),
        api_client.get(f"/api/v1/prompts/{prompts[0].pk}/"),
    ]

    assert [a.status_code for a in answers] == [401, 401]
