"""The reward composer: forms from the spec's schema, actions, formula checks, JSON, saving."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.rewards.composer import ComposerDraft, component_fields
from apps.rewards.models import RewardFunction, RewardFunctionVersion
from tests.rewards.factories import TEXT_SPEC, version_of
from tests.rubrics.factories import rubric_of

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
DESIGN_SPEC: dict[str, Any] = {
    "components": [
        {"name": "rm", "type": "reward_model", "model": 12},
        {"name": "sim", "type": "embedding_similarity"},
        {"name": "bleu", "type": "text_metric", "metric": "bleu"},
        {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "match": -1.0},
        {"name": "len", "type": "length_penalty", "unit": "tokens", "target": 150,
         "tolerance": 100},
        {"name": "shape", "type": "json_valid", "schema": {"type": "object", "required": ["a"]}},
        {"name": "cites", "type": "contains", "substrings": ["[1]", "[2]"], "mode": "all",
         "case_sensitive": False},
        {"name": "judge", "type": "rubric_judge", "rubric_version": 3, "timeout": 10},
    ],
    "transforms": {"rm": ["zscore_per_prompt", {"log_sigmoid": {"reference": "p50"}}],
                   "len": [{"clip": {"low": -1}}, {"sigmoid": {"reference": 0.5, "tau": 2}}]},
    "combine": {"op": "formula", "missing": "missing_total",
                "expression": "rm + sim + bleu + apology + len + shape + cites + judge"},
}  # fmt: skip


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _three_components(**extra: str) -> dict[str, str]:
    """The composer's form with a contains, a length penalty and a regex component."""
    return {
        "c-0-type": "contains", "c-0-name": "cites", "c-0-f-substrings": "[1]\r\n[2]",
        "c-0-f-mode": "any", "c-0-f-case_sensitive": "on", "c-0-f-match": "1",
        "c-0-f-no_match": "0", "c-0-weight": "2",
        "c-1-type": "length_penalty", "c-1-name": "words", "c-1-f-unit": "words",
        "c-1-f-target": "3", "c-1-f-tolerance": "1", "c-1-f-shape": "linear", "c-1-weight": "0.5",
        "c-1-t-0-kind": "clip", "c-1-t-0-p-low": "-1", "c-1-t-0-p-high": "",
        "c-2-type": "regex", "c-2-name": "apology", "c-2-f-pattern": "(?i)as an ai",
        "c-2-f-flags": "multiline", "c-2-f-match": "-1", "c-2-f-no_match": "0", "c-2-weight": "1",
        "combine-op": "weighted_sum", "combine-missing": "skip_renormalise",
        "combine-expression": "", **extra,
    }  # fmt: skip


BUILT = {
    "components": [
        {"name": "cites", "type": "contains", "substrings": ["[1]", "[2]"]},
        {"name": "words", "type": "length_penalty", "target": 3, "tolerance": 1},
        {"name": "apology", "type": "regex", "pattern": "(?i)as an ai", "flags": ["multiline"],
         "match": -1},
    ],
    "transforms": {"words": [{"clip": {"low": -1}}]},
    "combine": {"op": "weighted_sum", "weights": {"cites": 2, "words": 0.5, "apology": 1}},
}  # fmt: skip


def test_every_spec_field_round_trips_through_the_form():
    draft = ComposerDraft.from_spec(DESIGN_SPEC)

    spec, errors = draft.spec()

    assert (spec, errors) == (DESIGN_SPEC, [])


def test_the_forms_come_from_the_schema():
    fields = {f.name: (f.kind, f.choices, f.required) for f in component_fields("length_penalty")}

    assert fields == {
        "unit": ("choice", ("words", "characters", "tokens"), False),
        "target": ("number", (), True),
        "tolerance": ("number", (), True),
        "shape": ("choice", ("linear", "gaussian"), False),
    }
    assert [f.kind for f in component_fields("regex")] == ["text", "flags", "number", "number"]


def test_a_designer_saves_a_new_function_whose_spec_is_what_was_built(project, designer):  # type: ignore[no-untyped-def]
    form = _three_components(
        action="save", **{"function-name": "helpful", "version-message": "Three parts"}
    )

    response = _client(designer).post(f"/projects/{project.slug}/rewards/new/", form, **HX)

    version = RewardFunctionVersion.objects.get()
    assert response["HX-Redirect"] == f"/projects/{project.slug}/rewards/versions/{version.pk}/"
    assert version.spec == BUILT
    assert (version.function.name, version.number, version.message, version.created_by) == (
        "helpful", 1, "Three parts", designer,
    )  # fmt: skip


def test_composing_from_a_version_saves_the_next_one(project, designer):  # type: ignore[no-untyped-def]
    first = version_of(project, TEXT_SPEC, name="r")
    client = _client(designer)
    url = f"/projects/{project.slug}/rewards/{first.function_id}/compose/"

    page = client.get(url).content.decode()
    response = client.post(url, _three_components(action="save"))

    assert 'name="c-1-f-target" value="3"' in page
    assert response.status_code == 302
    assert list(first.function.versions.order_by("number").values_list("number", "spec")) == [
        (1, TEXT_SPEC), (2, BUILT),
    ]  # fmt: skip


def test_add_remove_and_reorder_change_the_draft_only(project, designer):  # type: ignore[no-untyped-def]
    client = _client(designer)
    url = f"/projects/{project.slug}/rewards/new/"

    add = _three_components(action="add", **{"new-component": "text_metric"})
    added = client.post(url, add, **HX)
    moved = client.post(url, _three_components(action="up:2"), **HX)
    removed = client.post(url, _three_components(action="remove:0"), **HX)
    transform = client.post(
        url, _three_components(action="add_transform:0", **{"c-0-new-transform": "sigmoid"}), **HX
    )

    html = added.content.decode()
    assert 'name="c-3-type" value="text_metric"' in html
    assert 'name="c-3-name" value="text"' in html
    assert '<select id="c-3-f-metric" name="c-3-f-metric">' in html
    moved_html = moved.content.decode()
    assert 'name="c-1-name" value="apology"' in moved_html
    assert 'name="c-2-name" value="words"' in moved_html
    assert 'name="c-2-t-0-kind" value="clip"' in moved_html
    assert 'name="c-0-name" value="words"' in removed.content.decode()
    assert 'name="c-0-t-0-p-reference"' in transform.content.decode()
    assert RewardFunction.objects.count() == 0


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cites + words + apology", "Valid: uses cites, words, apology."),
        ("cites + words + apology + foo",
         "`foo`: unknown name; the components are: cites, words, apology"),
        ("cites.__class__ + words + apology", "`cites.__class__`: attribute access is not allowed"),
        ("cites +* (words", "cannot read the formula: EOF in multi-line statement"),
        ("__import__('os')", "`__import__(&#x27;os&#x27;)`: unknown function; the functions are: "
                             "abs, clip, exp, if, log, max, min, sqrt"),
        ("cites + words", "every component must be used; not used: apology (or remove them)"),
        ("", "the formula is empty"),
    ],
)  # fmt: skip
def test_the_formula_check_answers_a_clear_message(project, designer, expression, message):  # type: ignore[no-untyped-def]
    form = _three_components(**{"combine-op": "formula", "combine-expression": expression})

    response = _client(designer).post(f"/projects/{project.slug}/rewards/formula/", form, **HX)

    assert response.status_code == 200
    css = "ok-text" if message.startswith("Valid") else "error-text"
    assert response.content.decode() == (
        f'\n              <p id="formula-message" class="{css}" role="status" '
        f'aria-live="polite">{message}</p>\n            '
    )


def test_a_bad_formula_is_not_saved(project, designer):  # type: ignore[no-untyped-def]
    form = _three_components(
        action="save", **{"function-name": "f", "combine-op": "formula",
                          "combine-expression": "cites + words + apology.real"},
    )  # fmt: skip

    response = _client(designer).post(f"/projects/{project.slug}/rewards/new/", form, **HX)

    assert response.status_code == 422
    assert (
        "combine.expression: `apology.real`: attribute access is not allowed"
        in response.content.decode()
    )
    assert RewardFunction.objects.count() == 0


def test_spec_errors_name_the_component_and_field_and_save_nothing(project, designer):  # type: ignore[no-untyped-def]
    form = _three_components(
        action="save", **{"function-name": "f", "c-1-f-target": "-3", "c-2-f-pattern": "(",
                          "c-0-f-match": "lots"},
    )  # fmt: skip

    response = _client(designer).post(f"/projects/{project.slug}/rewards/new/", form, **HX)

    html = response.content.decode()
    assert response.status_code == 422
    assert "components[0] (cites).match: &#x27;lots&#x27; is not a number" in html
    assert RewardFunction.objects.count() == 0
    form["c-0-f-match"] = "1"
    again = _client(designer).post(f"/projects/{project.slug}/rewards/new/", form, **HX)
    html = again.content.decode()
    assert "components[1] (words).target: Input should be greater than 0" in html
    assert (
        "components[2] (apology).pattern: does not compile: missing ), unterminated subpattern "
        "at position 0" in html
    )
    assert RewardFunction.objects.count() == 0


def test_json_loads_into_the_form_or_says_what_is_wrong(project, designer):  # type: ignore[no-untyped-def]
    client = _client(designer)
    url = f"/projects/{project.slug}/rewards/new/"
    good = {**TEXT_SPEC, "transforms": {"words": ["minmax"]}}

    loaded = client.post(url, {"action": "load_json", "spec-json": json.dumps(good)}, **HX)
    broken = client.post(url, {"action": "load_json", "spec-json": '{"components": ['}, **HX)
    wrong = {**TEXT_SPEC, "components": [*TEXT_SPEC["components"],
             {"name": "bleu", "type": "text_metric", "metric": "meteor"}]}  # fmt: skip
    invalid = client.post(url, {"action": "load_json", "spec-json": json.dumps(wrong)}, **HX)

    assert loaded.status_code == 200
    assert 'name="c-1-t-0-kind" value="minmax"' in loaded.content.decode()
    assert broken.status_code == 422
    assert "spec JSON: Expecting value at line 1, column 17" in broken.content.decode()
    assert invalid.status_code == 422
    assert (
        "components[2] (bleu).metric: Input should be &#x27;bleu&#x27;, &#x27;chrf&#x27;, "
        "&#x27;rouge_l&#x27;, &#x27;exact_match&#x27; or &#x27;fuzzy_match&#x27;"
        in invalid.content.decode()
    )
    assert RewardFunction.objects.count() == 0


def test_viewers_read_versions_but_cannot_compose_or_try(project, viewer):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    client = _client(viewer)
    base = f"/projects/{project.slug}/rewards"

    page = client.get(f"{base}/versions/{version.pk}/").content.decode()
    denied = [
        client.get(f"{base}/{version.function_id}/compose/"),
        client.post(f"{base}/{version.function_id}/compose/", _three_components(action="save")),
        client.post(f"{base}/new/", _three_components(action="save", **{"function-name": "v"})),
        client.post(f"{base}/try/", _three_components(try_prompt="Q", try_response="A")),
        client.post(f"{base}/versions/{version.pk}/try/", {"try_prompt": "Q", "try_response": "A"}),
        client.post(f"{base}/formula/", _three_components()),
    ]

    chart = '"labels": ["cites", "words"], "datasets": [{"label": "Weight", "data": [2.0, 1.0]}]'
    assert chart in page
    assert "Try it" not in page
    assert "/compose/" not in page
    assert [r.status_code for r in denied] == [403] * 6
    assert RewardFunctionVersion.objects.count() == 1


def test_annotators_do_not_see_reward_functions(project, annotator):  # type: ignore[no-untyped-def]
    version = version_of(project, TEXT_SPEC)
    client = _client(annotator)

    pages = [client.get(f"/projects/{project.slug}/rewards/"),
             client.get(f"/projects/{project.slug}/rewards/versions/{version.pk}/")]  # fmt: skip

    assert [p.status_code for p in pages] == [403, 403]


def test_a_rubric_judge_is_offered_the_projects_rubric_versions(project, designer):  # type: ignore[no-untyped-def]
    version = rubric_of(project).versions.get()
    form = {"action": "add", "new-component": "rubric_judge", "combine-op": "weighted_sum"}

    html = _client(designer).post(f"/projects/{project.slug}/rewards/new/", form, **HX)
    page = html.content.decode()

    assert 'name="c-0-f-rubric_version" value="" inputmode="numeric" list="rubric-versions"' in page
    assert f'<option value="{version.pk}">Quality v1</option>' in page


def test_enter_in_a_text_box_refreshes_the_composer(project, designer):  # type: ignore[no-untyped-def]
    page = _client(designer).get(f"/projects/{project.slug}/rewards/new/").content.decode()

    first_button = page[page.index('<form id="composer"') :].split("<button", 2)[1]

    assert 'name="action" value="refresh"' in first_button
