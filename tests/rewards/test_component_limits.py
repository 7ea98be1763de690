"""Patterns RE2 cannot run are refused where specs come in (API, composer), and a version
saved before that rule is refused at scoring with the reason, never run (issue 17, defect 6).
The engine's side is in tests/workers/ml/test_component_limits.py."""

from __future__ import annotations

import pytest

from apps.core.errors import ApplicationError
from apps.rewards.models import RewardFunction, RewardFunctionVersion, ScoreRun
from apps.rewards.services import score_run_create, scoring_resources
from tests.api import token_client
from tests.rewards.factories import responses_for, version_of
from tests.rewards.test_composer import HX, _client, _three_components
from workers.tasks.rewards import score_responses

pytestmark = pytest.mark.django_db

RE2 = (
    "patterns run on RE2, which matches in linear time and has no backreferences, lookahead, "
    "lookbehind or possessive repeats"
)
BACKREFERENCE = {
    "components": [{"name": "echo", "type": "regex", "pattern": r"(\w+) \1"}],
    "combine": {"op": "min"},
}


def test_the_api_refuses_a_pattern_re2_cannot_run_and_makes_nothing(project, designer):  # type: ignore[no-untyped-def]
    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/reward-functions/",
        {"name": "r", "spec": BACKREFERENCE},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "spec": [f"components[0] (echo).pattern: RE2 cannot run it (invalid escape sequence: "
                 f"\\1); {RE2}"]
    }  # fmt: skip
    assert RewardFunction.objects.count() == 0


def test_the_api_takes_a_backtracking_pattern_that_re2_runs_in_linear_time(project, designer):  # type: ignore[no-untyped-def]
    spec = {"components": [{"name": "evil", "type": "regex", "pattern": "^(a+)+$"}],
            "combine": {"op": "min"}}  # fmt: skip

    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/reward-functions/", {"name": "r", "spec": spec},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.json()


def test_the_composer_shows_why_a_pattern_is_refused_and_saves_nothing(project, designer):  # type: ignore[no-untyped-def]
    form = _three_components(action="save", **{"function-name": "f",
                                               "c-2-f-pattern": "(?i)sorry(?! not)"})  # fmt: skip

    response = _client(designer).post(f"/projects/{project.slug}/rewards/new/", form, **HX)

    assert response.status_code == 422
    assert (
        f"components[2] (apology).pattern: RE2 cannot run it (invalid perl operator: (?!); {RE2}"
        in response.content.decode()
    )
    assert RewardFunction.objects.count() == 0


def _stored_before_re2(project) -> RewardFunctionVersion:  # type: ignore[no-untyped-def]
    """A version saved when patterns ran on Python's re, which took backreferences."""
    version = version_of(
        project,
        {"components": [{"name": "echo", "type": "regex", "pattern": "hello"}],
         "combine": {"op": "min"}},
    )  # fmt: skip
    RewardFunctionVersion.objects.filter(pk=version.pk).update(spec=BACKREFERENCE)
    version.refresh_from_db()
    return version


REFUSED = (
    f"This version breaks rules made since it was saved: components[0] (echo).pattern: RE2 "
    f"cannot run it (invalid escape sequence: \\1); {RE2}. Save a new version that follows them."
)


def test_a_version_saved_before_re2_still_reads_but_is_refused_at_scoring(project):  # type: ignore[no-untyped-def]
    version = _stored_before_re2(project)

    assert version.parsed_spec.components[0].pattern == r"(\w+) \1"  # pages still read it
    with pytest.raises(ApplicationError) as error:
        scoring_resources(version=version)
    assert error.value.message == REFUSED


def test_a_score_run_of_such_a_version_fails_with_the_reason(project, transactional_db):  # type: ignore[no-untyped-def]
    responses_for(project, {"Say hi twice.": ["hello hello", "hello"]})
    run = score_run_create(version=_stored_before_re2(project), created_by=None, enqueue=False)

    score_responses(run_id=run.pk)

    run.refresh_from_db()
    assert (run.status, run.error, run.responses_scored) == (ScoreRun.Status.FAILED, REFUSED, 0)


def test_the_per_item_budget_comes_from_the_settings(project, settings):  # type: ignore[no-untyped-def]
    settings.SCORE_ITEM_SECONDS = 2
    version = version_of(project, BACKREFERENCE | {"components": [
        {"name": "echo", "type": "regex", "pattern": "hello"}]})  # fmt: skip

    assert scoring_resources(version=version).item_seconds == 2
