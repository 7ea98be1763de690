"""The inspection job's services on the hand-worked project of tests/rewards/inspection_world."""

from __future__ import annotations

import math

import pytest

from apps.core.errors import ApplicationError
from apps.rewards.inspection.services import (
    inspection_accept_weights,
    inspection_claim,
    inspection_create,
    inspection_execute,
    version_comparison,
)
from apps.rewards.models import Inspection, RewardFunctionVersion, Score, ScoreRun
from tests.rewards.factories import version_of
from tests.rewards.inspection_world import EXPECTED, POLITE_SPEC, build, inspect_now
from workers.ml.scoring import Scorer

pytestmark = pytest.mark.django_db


def _run(inspection: Inspection) -> Inspection:
    claimed = inspection_claim(inspection_id=inspection.pk)
    assert claimed is not None
    compute = Scorer(claimed.version.parsed_spec).component_values
    return inspection_execute(inspection=claimed, compute=compute)


def _pair(accuracy: dict) -> tuple[int, int]:
    return accuracy["correct"], accuracy["n"]


def test_it_computes_every_panel_on_a_project_worked_out_by_hand(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    inspection = inspection_create(version=world.version, created_by=designer, enqueue=False)

    done = _run(inspection)

    assert done.status == Inspection.Status.SUCCEEDED, done.error
    assert (done.stage, done.progress) == ("Done", 1.0)
    result = done.result
    # Scored first, in the same job.
    assert Score.objects.filter(version=world.version).count() == 7
    assert ScoreRun.objects.get(version=world.version).status == ScoreRun.Status.SUCCEEDED
    assert result["computed_on"] == {"responses": 7, "prompts": 3, "preferences": 7,
                                     "criterion_preferences": 1, "comparisons": 5}  # fmt: skip
    accuracy = result["accuracy"]
    assert _pair(accuracy["overall"]) == EXPECTED["overall"]
    assert accuracy["overall"]["value"] == pytest.approx(5 / 7)
    low, high = accuracy["overall"]["interval"]
    assert 0 <= low <= 5 / 7 <= high <= 1
    assert {k: _pair(v) for k, v in accuracy["annotators"].items()} == EXPECTED["annotators"]
    assert {k: _pair(v) for k, v in accuracy["groups"].items()} == EXPECTED["groups"]
    assert {k: _pair(v) for k, v in accuracy["criteria"].items()} == EXPECTED["criteria"]
    assert _pair(result["ceiling"]) == EXPECTED["ceiling"]
    assert {r["component"]: r["accuracy"]["value"] for r in result["ablation"]} == {
        name: pytest.approx(value) for name, value in EXPECTED["ablation"].items()
    }
    assert _pair(result["length"]["longer_lost"]) == EXPECTED["longer_lost"]
    assert _pair(result["length"]["longer_won"]) == EXPECTED["longer_won"]
    assert result["histograms"]["total"]["counts"][0] == 2  # r3 and r7 score 0
    assert result["histograms"]["total"]["n"] == 7
    assert set(result["histograms"]) == {"cites", "polite", "total"}
    assert result["correlation"]["names"] == ["cites", "polite"]
    # The one pair the majority decided against the reward: c3, "Lyon." over "Paris, please."
    r = world.responses
    [worst] = result["worst_pairs"]
    assert (worst["comparison"], worst["winner"]["id"], worst["loser"]["id"]) == (
        world.comparisons["c3"].pk, r[2].pk, r[1].pk)  # fmt: skip
    assert (worst["winner"]["text"], worst["loser"]["text"], worst["margin"]) == (
        "Lyon.", "Paris, please.", 1.0)  # fmt: skip
    assert worst["contributions"] == [{"component": "cites", "value": 0.0},
                                      {"component": "polite", "value": -1.0}]  # fmt: skip
    assert result["consistency"]["groups"] == [
        {"group": "capital", "prompts": 2, "mean": 1.25, "spread": 0.25, "range": 0.5}
    ]
    probes = {p["probe"]: p for p in result["probes"]}
    assert result["probed"] == 7
    # Answering ":" removes every citation and "please": 5 of 7 rewards fall, none rise.
    assert (probes["colon"]["raised"], probes["colon"]["lowered"]) == (0.0, pytest.approx(5 / 7))
    assert probes["flattery"]["mean_change"] == 0.0
    assert result["fit"]["n"] == 7
    assert result["fit"]["weights"]["cites"] > 0


def test_the_recorded_result_the_permission_tests_use_has_the_current_shape(
    project, designer
) -> None:  # type: ignore[no-untyped-def]
    import json
    from pathlib import Path

    recorded = json.loads((Path(__file__).parent / "inspection_result.json").read_text())
    fresh = inspect_now(build(project, designer).version, designer).result

    def shape(value):  # type: ignore[no-untyped-def]
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if not k.isdigit()}
        return type(value).__name__ if value is not None else None

    assert shape(recorded) == shape(fresh)
    assert recorded["fit"]["weights"] == fresh["fit"]["weights"]


def test_accepting_fitted_weights_makes_the_next_version(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = _run(inspection_create(version=world.version, created_by=designer, enqueue=False))

    new = inspection_accept_weights(inspection=done, user=designer)

    assert new.number == 2
    assert new.function_id == world.version.function_id
    assert new.spec["components"] == world.version.spec["components"]
    assert new.spec["combine"] == {
        "op": "weighted_sum", "weights": done.result["fit"]["weights"],
        "missing": "skip_renormalise",
    }  # fmt: skip
    held_out = done.result["fit"]["heldout_accuracy"]
    assert new.message == (
        f"Weights fitted to 7 human choices (Bradley–Terry, inspection #{done.pk}; "
        f"held-out accuracy {held_out:.1%}) from v1"
    )
    assert new.created_by == designer


def test_accepting_weights_of_an_unfinished_inspection_changes_nothing(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    queued = inspection_create(version=world.version, created_by=designer, enqueue=False)

    with pytest.raises(ApplicationError, match="has not finished"):
        inspection_accept_weights(inspection=queued, user=designer)

    assert RewardFunctionVersion.objects.filter(function=world.version.function).count() == 1


def test_accepting_all_zero_weights_is_refused(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    done = inspect_now(world.version, designer)
    done.result["fit"]["weights"] = {"cites": 0.0, "polite": 0.0}
    done.save(update_fields=["result"])

    with pytest.raises(ApplicationError, match="Every fitted weight is 0"):
        inspection_accept_weights(inspection=done, user=designer)

    assert RewardFunctionVersion.objects.filter(function=world.version.function).count() == 1


def test_a_second_start_while_one_is_pending_returns_the_pending_one(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    first = inspection_create(version=world.version, created_by=designer, enqueue=False)
    second = inspection_create(version=world.version, created_by=designer, enqueue=False)

    assert second.pk == first.pk
    assert Inspection.objects.count() == 1


def test_a_stale_running_inspection_is_failed_and_replaced(project, designer) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    world = build(project, designer)
    stuck = inspection_create(version=world.version, created_by=designer, enqueue=False)
    Inspection.objects.filter(pk=stuck.pk).update(
        status=Inspection.Status.RUNNING, updated_at=timezone.now() - timedelta(minutes=61)
    )

    fresh = inspection_create(version=world.version, created_by=designer, enqueue=False)

    stuck.refresh_from_db()
    assert fresh.pk != stuck.pk
    assert fresh.status == Inspection.Status.QUEUED
    assert stuck.status == Inspection.Status.FAILED
    assert stuck.error == (
        "The worker stopped reporting progress; a new inspection replaced this one."
    )


def test_a_replaced_run_that_finishes_late_stays_failed(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    created = inspection_create(version=world.version, created_by=designer, enqueue=False)
    claimed = inspection_claim(inspection_id=created.pk)
    assert claimed is not None
    Inspection.objects.filter(pk=created.pk).update(status=Inspection.Status.FAILED)

    late = inspection_execute(
        inspection=claimed, compute=Scorer(world.version.parsed_spec).component_values
    )

    assert (late.status, late.result) == (Inspection.Status.FAILED, None)


def test_a_recently_running_inspection_is_not_replaced(project, designer) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    world = build(project, designer)
    running = inspection_create(version=world.version, created_by=designer, enqueue=False)
    Inspection.objects.filter(pk=running.pk).update(
        status=Inspection.Status.RUNNING, updated_at=timezone.now() - timedelta(minutes=59)
    )

    again = inspection_create(version=world.version, created_by=designer, enqueue=False)

    assert again.pk == running.pk
    assert Inspection.objects.get(pk=running.pk).status == Inspection.Status.RUNNING


def test_a_project_without_responses_cannot_be_inspected(project, designer) -> None:  # type: ignore[no-untyped-def]
    from tests.rewards.inspection_world import SPEC

    version = version_of(project, SPEC)
    with pytest.raises(ApplicationError, match="no responses"):
        inspection_create(version=version, created_by=designer, enqueue=False)

    assert Inspection.objects.count() == 0


def test_comparing_two_versions_gives_the_distance_and_the_flipped_pairs(project, designer) -> None:  # type: ignore[no-untyped-def]
    world = build(project, designer)
    polite = version_of(project, POLITE_SPEC, name="manners only")
    for version in (world.version, polite):
        _run(inspection_create(version=version, created_by=designer, enqueue=False))

    result = version_comparison(first=world.version, second=polite)

    r = world.responses
    # Flipped: c1 (r1 2 > r2 1 becomes 0 < 1), c4? r4 2 > r5 1 becomes 0 < 1; c2 and c5
    # become ties; c3 (r2 1 > r3 0) stays.
    assert [(f["a"], f["b"], f["first_prefers"], f["second_prefers"]) for f in result["flips"]] == [
        (r[0].pk, r[1].pk, r[0].pk, r[1].pk),
        (r[3].pk, r[4].pk, r[3].pk, r[4].pk),
    ]
    assert (result["pairs"], result["flipped"], result["responses"]) == (5, 2, 7)
    # c1: both people chose r1 (the first version's pick); c4: split 1–1.
    assert [(f["votes_a"], f["votes_b"], f["people_prefer"]) for f in result["flips"]] == [
        (2, 0, r[0].pk), (1, 1, None)]  # fmt: skip
    assert (result["first_agrees"], result["second_agrees"]) == (1, 0)
    assert result["flips"][0]["a_text"] == "Paris [1]."
    # Centred per prompt: a = (1, 0, −1, ½, −½, 1, −1), b = (−⅓, ⅔, −⅓, −½, ½, 0, 0);
    # a·b = −½, ‖a‖² = 9/2, ‖b‖² = 7/6, so cos = −½/√5.25 and d = √(2 − 2 cos).
    assert result["distance"] == pytest.approx(math.sqrt(2 + 1 / math.sqrt(5.25)))
