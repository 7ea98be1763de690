from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"


def list_url(project) -> str:  # type: ignore[no-untyped-def]
    return reverse("prompts:prompt_list", args=[project.slug])


def shown_ids(response) -> list[int]:  # type: ignore[no-untyped-def]
    return [prompt.pk for prompt in response.context["page"].object_list]


def test_it_lists_prompts_with_group_and_response_count(client, viewer, project):  # type: ignore[no-untyped-def]
    first = PromptFactory(project=project, input="How do I sort a list?", group="sorting")
    ResponseFactory(prompt=first)
    ResponseFactory(prompt=first)
    second = PromptFactory(project=project, input=[{"role": "user", "content": "Hello there"}])
    PromptFactory(input="In another project")
    client.force_login(viewer)

    response = client.get(list_url(project))

    assert response.status_code == 200
    assert shown_ids(response) == [first.pk, second.pk]
    assert [p.response_count for p in response.context["page"].object_list] == [2, 0]
    html = response.content.decode()
    assert "How do I sort a list?" in html
    assert '<span class="badge badge-group" title="Group">sorting</span>' in html
    assert "2 responses" in html
    assert "chat · 1 turn" in html
    assert "In another project" not in html


def test_it_searches_prompts_and_responses(client, designer, project):  # type: ignore[no-untyped-def]
    by_prompt = PromptFactory(project=project, input="Explain quicksort")
    by_response = PromptFactory(project=project, input="Sort this")
    ResponseFactory(prompt=by_response, text="Use QuickSort here.")
    PromptFactory(project=project, input="Unrelated")
    client.force_login(designer)

    response = client.get(list_url(project), {"q": "quicksort"})

    assert shown_ids(response) == [by_prompt.pk, by_response.pk]
    assert 'value="quicksort"' in response.content.decode()


def test_it_filters_by_group(client, designer, project):  # type: ignore[no-untyped-def]
    PromptFactory(project=project, group="a")
    in_b = PromptFactory(project=project, group="b")
    client.force_login(designer)

    response = client.get(list_url(project), {"group": "b"})

    assert shown_ids(response) == [in_b.pk]
    assert '<option value="b" selected>b</option>' in response.content.decode()


def test_it_filters_by_metadata(client, designer, project):  # type: ignore[no-untyped-def]
    coding = PromptFactory(project=project, metadata={"kind": "coding", "lang": "en"})
    PromptFactory(project=project, metadata={"kind": "chat"})
    client.force_login(designer)

    response = client.get(list_url(project), {"key": "kind", "value": "Coding"})

    assert shown_ids(response) == [coding.pk]
    html = response.content.decode()
    assert '<option value="kind" selected>kind</option>' in html
    assert '<option value="lang">lang</option>' in html


def test_it_ignores_an_unknown_metadata_key(client, designer, project):  # type: ignore[no-untyped-def]
    prompts = [PromptFactory(project=project, metadata={"kind": "x"}) for _ in range(2)]
    client.force_login(designer)

    response = client.get(list_url(project), {"key": "kind__contains", "value": "x"})

    assert response.status_code == 200
    assert shown_ids(response) == [p.pk for p in prompts]


def test_it_paginates_by_50_and_keeps_the_query(client, designer, project):  # type: ignore[no-untyped-def]
    prompts = [PromptFactory(project=project, input=f"Task {n}", group="g") for n in range(51)]
    client.force_login(designer)

    first = client.get(list_url(project), {"group": "g"})
    second = client.get(list_url(project), {"group": "g", "page": "2"})

    assert shown_ids(first) == [p.pk for p in prompts[:50]]
    assert shown_ids(second) == [prompts[50].pk]
    path = list_url(project)
    assert f'href="{path}?group=g&amp;page=2"' in first.content.decode()
    assert f'hx-get="{path}?group=g&amp;page=2"' in first.content.decode()
    assert "Showing 51–51 of 51 prompts" in second.content.decode()


def test_it_answers_htmx_with_the_results_only(client, designer, project):  # type: ignore[no-untyped-def]
    PromptFactory(project=project, input="Only me")
    client.force_login(designer)

    response = client.get(list_url(project), {"q": "only"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="filters"' not in html
    assert "Only me" in html
    assert "HX-Request" in response["Vary"]


def test_it_answers_a_history_restore_with_the_whole_page(client, designer, project):  # type: ignore[no-untyped-def]
    client.force_login(designer)
    response = client.get(
        list_url(project), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in response.content.decode()


def test_it_refuses_the_prompt_browser_to_annotators(client, annotator, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project)
    client.force_login(annotator)
    listing = client.get(list_url(project))
    detail = client.get(reverse("prompts:prompt_detail", args=[project.slug, prompt.pk]))
    assert (listing.status_code, detail.status_code) == (403, 403)


def test_it_hides_prompts_from_non_members(client, outsider, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project, input="Secret prompt")
    client.force_login(outsider)
    listing = client.get(list_url(project))
    detail = client.get(reverse("prompts:prompt_detail", args=[project.slug, prompt.pk]))
    assert (listing.status_code, detail.status_code) == (404, 404)
    assert "Secret prompt" not in detail.content.decode()


def test_it_shows_a_prompt_with_its_responses(client, viewer, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(
        project=project,
        input="What is 2+2?",
        references=["4"],
        metadata={"kind": "math", "tags": ["easy"]},
        group="arithmetic",
    )
    ResponseFactory(
        prompt=prompt,
        text="It is 4.",
        model="qwen2.5-7b",
        sampling_params={"temperature": 0.7},
        metadata={"latency_ms": 120},
    )
    client.force_login(viewer)

    response = client.get(reverse("prompts:prompt_detail", args=[project.slug, prompt.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert (
        '<div class="prose model-text" data-format="markdown">'
        '<p><span data-o="0">What is 2+2?</span></p>\n</div>'
    ) in html
    assert (
        '<div class="prose model-text reference" data-format="markdown">'
        '<p><span data-o="0">4</span></p>\n</div>'
    ) in html
    assert (
        '<div class="prose model-text response-text" data-format="markdown">'
        '<p><span data-o="0">It is 4.</span></p>\n</div>'
    ) in html
    assert '<span class="badge badge-model">qwen2.5-7b</span>' in html
    assert "<dt>temperature</dt><dd>0.7</dd>" in html
    assert "<dt>latency_ms</dt><dd>120</dd>" in html
    assert "<dt>tags</dt><dd>[&quot;easy&quot;]</dd>" in html


def test_it_renders_a_chat_transcript_as_turns(client, viewer, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(
        project=project,
        input=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ],
    )
    client.force_login(viewer)

    html = client.get(
        reverse("prompts:prompt_detail", args=[project.slug, prompt.pk])
    ).content.decode()

    assert '<li class="turn turn-system">' in html
    assert '<span class="badge badge-turn">system</span>' in html
    assert '<p><span data-o="0">Be brief.</span></p>' in html
    assert '<li class="turn turn-user">' in html


def test_it_escapes_untrusted_model_output(client, viewer, project):  # type: ignore[no-untyped-def]
    prompt = PromptFactory(project=project, input=f"Prompt {SCRIPT}", metadata={"x": IMAGE})
    ResponseFactory(prompt=prompt, text=f"{SCRIPT}\n{IMAGE}", model=IMAGE)
    client.force_login(viewer)

    html = client.get(
        reverse("prompts:prompt_detail", args=[project.slug, prompt.pk])
    ).content.decode()

    assert (
        '<p><span data-o="0">&lt;script&gt;alert(1)&lt;/script&gt;</span>\n'
        '<span data-o="26">&lt;img src=x onerror=alert(1)&gt;</span></p>'
    ) in html
    assert "Prompt &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html
    assert IMAGE not in html
    assert "<img" not in html


def test_it_escapes_untrusted_text_in_the_list(client, viewer, project):  # type: ignore[no-untyped-def]
    PromptFactory(project=project, input=IMAGE, group=SCRIPT)
    client.force_login(viewer)
    html = client.get(list_url(project)).content.decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert IMAGE not in html
    assert SCRIPT not in html


def test_it_answers_404_for_a_prompt_of_another_project(client, viewer, project):  # type: ignore[no-untyped-def]
    foreign = PromptFactory()
    client.force_login(viewer)
    response = client.get(reverse("prompts:prompt_detail", args=[project.slug, foreign.pk]))
    assert response.status_code == 404


def test_it_filters_on_metadata_keys_that_look_like_lookups(client, designer, project):  # type: ignore[no-untyped-def]
    from tests.factories import PromptFactory

    PromptFactory(project=project, input="tricky", metadata={"a__contains": "x"})
    PromptFactory(project=project, input="plain", metadata={"a": "x"})
    client.force_login(designer)

    response = client.get(
        f"/projects/{project.slug}/prompts/", {"key": "a__contains", "value": "x"}
    )

    assert response.status_code == 200
    assert [p.input for p in response.context["page"].object_list] == ["tricky"]
