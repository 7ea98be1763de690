"""Judge keys go only where the operator says: a spec cannot send a key to a server of its
choosing (designers write specs; the operator holds the keys)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core.errors import ApplicationError
from apps.rewards.models import RewardFunction
from apps.rewards.services import scoring_resources
from apps.rubrics.models import Rubric, RubricVersion
from config.settings import env_judge_endpoints
from tests.rewards.factories import version_of

pytestmark = pytest.mark.django_db

OPERATOR = "https://judge.operator.example/v1"
VENDOR = "https://api.vendor.example/v1"


@pytest.fixture
def judge_settings(settings, monkeypatch):  # type: ignore[no-untyped-def]
    settings.JUDGE_API_URL = OPERATOR
    settings.JUDGE_MODEL = "judge-model"
    settings.JUDGE_API_KEY = "operator-secret"
    settings.JUDGE_KEY_ENDPOINTS = {"JUDGE_VENDOR_KEY": VENDOR}
    # Hosts a judge may call (tests/rewards/test_judge_hosts.py): these tests are about keys.
    settings.JUDGE_ALLOWED_HOSTS = ["other.example", "attacker.example"]
    monkeypatch.setenv("JUDGE_VENDOR_KEY", "vendor-secret")
    monkeypatch.setenv("JUDGE_UNBOUND_KEY", "unbound-secret")
    return settings


def _spec(project, **judge: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    rubric = Rubric.objects.create(project=project, name=f"r{Rubric.objects.count()}")
    version = RubricVersion.objects.create(
        rubric=rubric,
        number=1,
        criteria=[{"name": "helpful", "description": "Helps.", "scale": {"min": 1, "max": 5}}],
    )
    component = {"name": "judge", "type": "rubric_judge", "rubric_version": version.pk, **judge}
    return {"components": [component], "combine": {"op": "min"}}


def _key_sent(version) -> str:  # type: ignore[no-untyped-def]
    (target,) = scoring_resources(version=version).judges.values()
    return target.api_key


def test_the_operators_key_goes_to_the_operators_endpoint_only(project, judge_settings):  # type: ignore[no-untyped-def]
    default = version_of(project, _spec(project), name="default")
    same = version_of(project, _spec(project, endpoint=OPERATOR + "/chat/completions"), name="s")
    elsewhere = version_of(project, _spec(project, endpoint="https://other.example/v1"), name="o")

    assert _key_sent(default) == "operator-secret"
    assert _key_sent(same) == "operator-secret"
    assert _key_sent(elsewhere) == ""  # an endpoint that needs no key still works


def test_a_bound_key_goes_to_its_endpoint(project, judge_settings):  # type: ignore[no-untyped-def]
    spec = _spec(project, endpoint=VENDOR + "/", api_key_setting="JUDGE_VENDOR_KEY")

    assert _key_sent(version_of(project, spec)) == "vendor-secret"


@pytest.mark.parametrize(
    ("judge", "problem"),
    [
        (
            {"endpoint": "https://attacker.example/v1", "api_key_setting": "JUDGE_VENDOR_KEY"},
            f"JUDGE_VENDOR_KEY may be sent only to {VENDOR}, not to https://attacker.example/v1",
        ),
        (
            {"api_key_setting": "JUDGE_VENDOR_KEY"},  # to the operator's endpoint
            f"JUDGE_VENDOR_KEY may be sent only to {VENDOR}, not to {OPERATOR}",
        ),
        (
            {"endpoint": VENDOR, "api_key_setting": "JUDGE_UNBOUND_KEY"},
            "JUDGE_UNBOUND_KEY is bound to no endpoint; the operator binds each judge key to "
            "the one endpoint it may be sent to, in JUDGE_KEY_ENDPOINTS",
        ),
    ],
)
def test_a_spec_that_would_send_a_key_elsewhere_is_refused_and_nothing_is_made(
    project, judge_settings, judge, problem
):  # type: ignore[no-untyped-def]
    with pytest.raises(ApplicationError) as error:
        version_of(project, _spec(project, **judge))

    assert error.value.extra["spec"] == [f"components[0] (judge).api_key_setting: {problem}"]
    assert not RewardFunction.objects.exists()


def test_a_binding_withdrawn_later_stops_the_key_at_scoring(project, judge_settings):  # type: ignore[no-untyped-def]
    version = version_of(
        project, _spec(project, endpoint=VENDOR, api_key_setting="JUDGE_VENDOR_KEY")
    )
    judge_settings.JUDGE_KEY_ENDPOINTS = {"JUDGE_VENDOR_KEY": "https://api.vendor.example/v2"}

    with pytest.raises(ApplicationError, match="^judge: api_key_setting: JUDGE_VENDOR_KEY may "):
        scoring_resources(version=version)


def test_bindings_are_read_from_the_environment(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BOUND", f" JUDGE_A={VENDOR} , JUDGE_B_KEY=http://vllm:8000/v1 ")
    assert env_judge_endpoints("BOUND") == {"JUDGE_A": VENDOR, "JUDGE_B_KEY": "http://vllm:8000/v1"}
    monkeypatch.delenv("BOUND")
    assert env_judge_endpoints("BOUND") == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("JUDGE_A", "write SETTING=URL pairs"),
        ("SECRET_KEY=https://x.example", "each SETTING starting with JUDGE_"),
        ("JUDGE_A=", "write SETTING=URL pairs"),
        ("JUDGE_A=ftp://x.example", "JUDGE_A's endpoint must be an http(s) URL"),
    ],
)
def test_a_bad_binding_stops_the_app_at_start(monkeypatch, raw, message):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BOUND", raw)

    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        env_judge_endpoints("BOUND")
