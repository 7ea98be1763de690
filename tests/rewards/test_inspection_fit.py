"""The weight fit keeps the signs the designer set, and accepting fitted weights that a probe
games (and the current version does not) needs a confirmation: services, API and page."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.core.errors import ApplicationError
from apps.rewards.inspection.services import (
    FittedWeightsNeedConfirmation,
    inspection_accept_weights,
    inspection_create,
)
from apps.rewards.models import Inspection, RewardFunctionVersion
from tests.api import token_client
from tests.rewards.inspection_world import build_flattery, inspect_now

pytestmark = pytest.mark.django_db

FLATTERY_NEWLY_GAMED = [{
    "probe": "flattery", "label": 'prefixing "Great question!"', "current_raised": 0.0,
    "current_verdict": "robust", "proposed_raised": 6 / 9,
}]  # fmt: skip


def _versions(world) -> int:  # type: ignore[no-untyped-def]
    return RewardFunctionVersion.objects.filter(function=world.version.function).count()


def test_the_fit_keeps_the_anti_flattery_penalty_a_penalty(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)

    fit = inspect_now(world.version, designer).result["fit"]

    assert fit["signs"] == {"flattery": "non-negative", "cites": "non-negative"}
    assert fit["weights"]["flattery"] == 0.0
    assert fit["weights"]["cites"] > 0
    assert fit["held_at_zero"] == ["flattery"]
    # Probed like the current version, on the same responses: nothing new games it.
    assert [p["probe"] for p in fit["probes"]] == [
        "empty", "truncated", "repeated", "padded", "flattery", "colon", "step_by_step",
    ]  # fmt: skip
    flattery = {p["probe"]: p for p in fit["probes"]}["flattery"]
    assert (flattery["raised"], flattery["verdict"]) == (0.0, "robust")
    assert fit["newly_gamed"] == []


def test_a_freed_sign_flips_and_the_fitted_version_names_the_probe_that_games_it(
    project, designer
) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)

    done = inspect_now(world.version, designer, free_signs=("flattery",))

    fit = done.result["fit"]
    assert done.free_signs == ["flattery"]
    assert fit["signs"] == {"flattery": "free", "cites": "non-negative"}
    assert fit["weights"]["flattery"] < 0
    assert fit["held_at_zero"] == []
    assert fit["newly_gamed"] == [
        {**FLATTERY_NEWLY_GAMED[0], "proposed_raised": pytest.approx(6 / 9)}
    ]


def test_accepting_weights_a_new_probe_games_needs_a_confirmation(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    done = inspect_now(world.version, designer, free_signs=("flattery",))

    with pytest.raises(FittedWeightsNeedConfirmation) as refused:
        inspection_accept_weights(inspection=done, user=designer)

    assert refused.value.message == (
        'The fitted weights can be gamed by prefixing "Great question!" (raises 67% of rewards,'
        " against 0% now), which v1 is not. Confirm to save them anyway."
    )
    assert refused.value.extra["newly_gamed"][0]["probe"] == "flattery"
    assert _versions(world) == 1

    new = inspection_accept_weights(inspection=done, user=designer, confirm=True)

    assert new.number == 2
    assert new.spec["combine"]["weights"] == done.result["fit"]["weights"]
    assert new.message.endswith("; confirmed although gamed by flattery")


def test_accepting_weights_that_were_not_probed_is_refused(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    done = inspect_now(world.version, designer)
    # An inspection stored before fitted weights were probed.
    del done.result["fit"]["probes"], done.result["fit"]["newly_gamed"]
    done.save(update_fields=["result"])

    with pytest.raises(ApplicationError, match="did not probe its fitted weights"):
        inspection_accept_weights(inspection=done, user=designer, confirm=True)

    assert _versions(world) == 1


def test_free_signs_must_name_components(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)

    with pytest.raises(ApplicationError) as refused:
        inspection_create(version=world.version, created_by=designer, free_signs=["length"])

    assert refused.value.message == (
        "free_signs: no component named 'length' in v1 (its components: flattery, cites)."
    )
    assert Inspection.objects.count() == 0


def test_a_pending_inspection_with_other_free_signs_is_not_answered_instead(
    project, designer
) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    first = inspection_create(version=world.version, created_by=designer, enqueue=False)

    with pytest.raises(ApplicationError) as refused:
        inspection_create(
            version=world.version, created_by=designer, free_signs=["flattery"], enqueue=False
        )

    assert refused.value.message == (
        f"Inspection #{first.pk} of v1 is still running with free signs none; wait for it, "
        "then start one with free signs `flattery`."
    )
    assert Inspection.objects.count() == 1


# --- API -----------------------------------------------------------------------------------


def test_the_api_starts_an_inspection_with_free_signs(
    project, designer, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    client = token_client(designer)
    url = f"/api/v1/reward-function-versions/{world.version.pk}/inspections/"

    with django_capture_on_commit_callbacks(execute=False):
        bad = client.post(url, {"free_signs": ["length"]}, format="json")
        good = client.post(url, {"free_signs": ["flattery"]}, format="json")

    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == (
        "free_signs: no component named 'length' in v1 (its components: flattery, cites)."
    )
    assert good.status_code == 202
    assert good.json()["free_signs"] == ["flattery"]
    assert Inspection.objects.get().free_signs == ["flattery"]


def test_the_api_refuses_newly_gamed_weights_without_confirm(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    done = inspect_now(world.version, designer, free_signs=("flattery",))
    client = token_client(designer)
    url = f"/api/v1/inspections/{done.pk}/accept-weights/"

    refused = client.post(url)

    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"].startswith('The fitted weights can be gamed by prefixing "Great')
    assert [row["probe"] for row in error["details"]["newly_gamed"]] == ["flattery"]
    assert _versions(world) == 1

    accepted = client.post(url, {"confirm": True}, format="json")

    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["spec"]["combine"]["weights"] == done.result["fit"]["weights"]


# --- page ----------------------------------------------------------------------------------


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_the_newly_gamed_probe_and_the_accept_needs_the_box(
    project, designer
) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    done = inspect_now(world.version, designer, free_signs=("flattery",))
    client = _client(designer)

    page = client.get(f"/projects/{project.slug}/inspector/versions/{world.version.pk}/")

    html = page.content.decode()
    assert "Gamed by, fitted only" in html
    assert "1 of 7 probes" in html
    assert (
        "Prefixing &quot;Great question!&quot;: raises 67% of rewards with the fitted weights,"
        " 0% now (robust)." in html
    )
    assert 'name="confirm" value="1" required' in html
    assert 'name="free_sign" value="flattery" checked' in html

    url = f"/projects/{project.slug}/inspector/inspections/{done.pk}/accept-weights/"
    refused = client.post(url, follow=True)

    assert "Confirm to save them anyway." in refused.content.decode()
    assert _versions(world) == 1

    accepted = client.post(url, {"confirm": "1"})

    new = RewardFunctionVersion.objects.get(function=world.version.function, number=2)
    assert accepted["Location"] == f"/projects/{project.slug}/inspector/versions/{new.pk}/"


def test_the_start_form_frees_the_signs_ticked(
    project, designer, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)

    with django_capture_on_commit_callbacks(execute=False):
        response = _client(designer).post(
            f"/projects/{project.slug}/inspector/versions/{world.version.pk}/inspect/",
            {"free_sign": ["flattery"]},
        )

    assert response.status_code == 302
    assert Inspection.objects.get().free_signs == ["flattery"]
