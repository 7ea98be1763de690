"""JSON inside page forms keeps to the API's limits (apps.core.json_limits): the marked spans
of the workbench and the reward composer's JSON answer a readable 422, never a 500, and
nothing is saved."""

from __future__ import annotations

import json

import pytest

from apps.accounts.models import Project, User
from apps.annotation.models import Label
from apps.core.json_limits import MAX_JSON_DEPTH
from apps.rewards.models import RewardFunction
from tests.annotation.test_views import _client, _configure, _open, _pair, _submit
from tests.rewards.factories import TEXT_SPEC
from tests.rewards.test_composer import HX

pytestmark = pytest.mark.django_db

DEEP = "[" * 2000 + "]" * 2000
NUL = "contains a NUL character (\\u0000)"


def test_marked_spans_nested_too_deeply_or_with_a_nul_are_refused(
    project: Project, annotator: User
) -> None:
    _configure(project)
    comparison = _pair(project)
    client = _client(annotator)
    assignment = _open(client, project)
    span = {"response": comparison.response_a_id, "start": 0, "end": 2, "category": "style"}

    deep = _submit(client, project, assignment, choice="left", spans=DEEP)
    nul = _submit(client, project, assignment, choice="left",
                  spans=json.dumps([{**span, "note": "a\x00"}]))  # fmt: skip

    assert (deep.status_code, nul.status_code) == (422, 422)
    assert "spans: could not read the marked spans." in deep.content.decode()
    assert f"spans: 0.note: {NUL}." in nul.content.decode()
    assert not Label.objects.exists()


def test_the_composers_json_nested_too_deeply_or_with_a_nul_is_refused(
    project: Project, designer: User
) -> None:
    client = _client(designer)
    url = f"/projects/{project.slug}/rewards/new/"
    cites = {"name": "cites", "type": "contains", "substrings": ["[1]\x00"]}
    with_nul = {**TEXT_SPEC, "components": [cites, TEXT_SPEC["components"][1]]}
    schema = {
        "c-0-type": "json_valid", "c-0-name": "js", "c-0-f-schema": '{"title": "a\\u0000"}',
        "c-0-f-valid": "1", "c-0-f-invalid": "0", "c-0-weight": "1",
        "combine-op": "weighted_sum", "combine-missing": "skip_renormalise",
        "combine-expression": "",
    }  # fmt: skip

    answers = [
        client.post(url, {"action": "load_json", "spec-json": DEEP}, **HX),
        client.post(url, {"action": "load_json", "spec-json": json.dumps(with_nul)}, **HX),
        client.post(url, {"action": "save", "name": "r", **schema}, **HX),
    ]

    assert [answer.status_code for answer in answers] == [422] * 3
    html = [answer.content.decode() for answer in answers]
    assert f"spec JSON: nested deeper than {MAX_JSON_DEPTH} levels" in html[0]
    assert f"spec JSON: components.0.substrings.0: {NUL}" in html[1]
    assert f"title: {NUL}" in html[2]
    assert not RewardFunction.objects.exists()
