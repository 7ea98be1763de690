"""Issue 16 (2): the inspector grades a learned head on the comparisons its training run
held out, and reports the pairs it trained on apart, as in-sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.reward_models.models import RewardModel, TrainingRun
from apps.reward_models.services import (
    reward_model_promote,
    training_run_claim,
    training_run_create,
    training_run_execute,
)
from apps.rewards.inspection.services import inspection_claim, inspection_create, inspection_execute
from apps.rewards.models import Inspection
from apps.rewards.services import scoring_resources
from tests.reward_models.factories import preference_project
from tests.rewards.factories import version_of
from workers.ml.scoring import Scorer
from workers.ml.training import train_reward_model
from workers.training.settings import TrainingSettings

pytestmark = pytest.mark.django_db

FAST = TrainingSettings(head_kind="linear", epochs=30, learning_rate=0.05, validation_fraction=0.3)


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _trained(project, settings=FAST) -> TrainingRun:  # type: ignore[no-untyped-def]
    run = training_run_create(project=project, user=None, settings=settings, enqueue=False)
    claimed = training_run_claim(run_id=run.pk, worker="w")
    assert claimed is not None
    done = training_run_execute(run=claimed, train=train_reward_model)
    assert done.status == "succeeded", done.error
    return done


def _spec(*model_ids: int | None) -> dict[str, Any]:
    names = [f"rm{i}" for i in range(len(model_ids))]
    components = [
        {"name": name, "type": "reward_model", **({"model": pk} if pk else {})}
        for name, pk in zip(names, model_ids, strict=True)
    ]
    return {"components": components,
            "combine": {"op": "weighted_sum", "weights": dict.fromkeys(names, 1.0)}}  # fmt: skip


def _inspect(project, spec: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    version = version_of(project, spec)
    created = inspection_create(version=version, created_by=None, enqueue=False)
    claimed = inspection_claim(inspection_id=created.pk)
    assert claimed is not None
    scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
    done = inspection_execute(inspection=claimed, compute=scorer.component_values)
    assert done.status == Inspection.Status.SUCCEEDED, done.error
    return done.result


def _validation_prompts(run: TrainingRun) -> set[int]:
    return {int(p) for p, split in run.snapshot["prompt_splits"].items() if split == "validation"}


def test_a_learned_head_is_graded_on_the_comparisons_its_run_held_out(project) -> None:  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    run = _trained(project)
    model = run.reward_model
    reward_model_promote(model=model)
    assert len(_validation_prompts(run)) == 6

    result = _inspect(project, _spec(None))  # the promoted model

    accuracy, basis = result["accuracy"], result["agreement_basis"]
    assert (accuracy["overall"]["n"], accuracy["in_sample"]["n"]) == (6, 14)
    assert accuracy["overall"]["correct"] == round(run.metrics["accuracy"] * 6)
    assert {k: v for k, v in basis.items() if k != "text"} == {
        "kind": "held_out", "models": [{"id": model.pk, "name": model.name, "run": run.pk}],
        "held_out": 6, "in_sample": 14,
    }  # fmt: skip
    in_sample = accuracy["in_sample"]["value"]
    assert basis["text"] == (
        f"Held out: computed on the 6 human choices on comparisons that reward model "
        f"{model.pk} ({model.name}, run {run.pk}) did not train on (its run's validation "
        f"split, or labelled after the run). The 14 human choices on prompts it trained on "
        f"are reported apart as in-sample: {in_sample:.1%}."
    )
    assert result["computed_on"]["preferences"] == 20
    assert sum(a["n"] for a in result["accuracy"]["annotators"].values()) == 6
    # Every other figure graded against people is held out too: the weight fit, the length
    # bias and the pairs it gets most wrong never lean on the head's training labels.
    assert result["fit"]["n"] == 6
    length = result["length"]
    assert length["longer_lost"]["n"] + length["longer_won"]["n"] <= 6
    assert {pair["prompt"] for pair in result["worst_pairs"]} <= _validation_prompts(run)


def test_a_function_mixing_models_is_graded_on_what_all_of_them_held_out(project) -> None:  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    first, second = _trained(project), _trained(project, FAST.model_copy(update={"seed": 3}))
    both = _validation_prompts(first) & _validation_prompts(second)
    assert len(both) == 1

    result = _inspect(project, _spec(first.reward_model_id, second.reward_model_id))

    basis = result["agreement_basis"]
    assert (basis["kind"], basis["held_out"], basis["in_sample"]) == ("held_out", 1, 19)
    assert (result["accuracy"]["overall"]["n"], result["accuracy"]["in_sample"]["n"]) == (1, 19)
    assert basis["text"].startswith(
        f"Held out: computed on the 1 human choice on comparisons that none of reward model "
        f"{first.reward_model_id} ({first.reward_model.name}, run {first.pk}) and reward model "
        f"{second.reward_model_id} ({second.reward_model.name}, run {second.pk}) train on "
        "(their run's validation split, or labelled after the run)."
    )


def test_a_head_whose_training_data_is_unknown_gets_an_in_sample_headline(project) -> None:  # type: ignore[no-untyped-def]
    preference_project(project, prompts=20)
    run = _trained(project)
    model = RewardModel.objects.get(pk=run.reward_model_id)
    run.delete()  # as for a model registered from files: no run, no stored split

    result = _inspect(project, _spec(model.pk))

    basis = result["agreement_basis"]
    assert (basis["kind"], basis["held_out"], basis["in_sample"]) == ("in_sample", 0, 20)
    assert result["accuracy"]["overall"]["n"] == 20
    assert result["accuracy"]["in_sample"] is None
    assert basis["text"] == (
        f"In-sample: this agreement is computed on 20 human choices, and which comparisons "
        f"reward model {model.pk} ({model.name}; no training run here) trained on is unknown, "
        "so it may grade the model on its own training labels and is not a held-out estimate."
    )
