"""Reads for reward models and training runs, scoped to one project."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Q, QuerySet

from apps.accounts.models import Project
from apps.annotation.models import Comparison
from apps.reward_models.models import RetrainRule, RewardModel, TrainingRun
from apps.reward_models.progress import progress_read


def reward_model_list(*, project: Project) -> QuerySet[RewardModel]:
    """A project's reward models, newest first, with the run that trained each."""
    return RewardModel.objects.filter(project=project).select_related("training_run")


def reward_model_get(*, project: Project, pk: int) -> RewardModel | None:
    return reward_model_list(project=project).filter(pk=pk).first()


def reward_model_project_id(*, pk: int) -> int | None:
    return RewardModel.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def reward_model_active(*, project: Project) -> RewardModel | None:
    return reward_model_list(project=project).filter(is_promoted=True).first()


def reward_model_for_scoring(*, project_id: int, model_id: int | None) -> RewardModel | None:
    """The given model of the project, or with no id its promoted model; None if there is none."""
    models = RewardModel.objects.filter(project_id=project_id)
    if model_id is None:
        return models.filter(is_promoted=True).first()
    return models.filter(pk=model_id).first()


def training_run_list(*, project: Project) -> QuerySet[TrainingRun]:
    """A project's runs, newest first, without the (large) snapshot."""
    return (
        TrainingRun.objects.filter(project=project)
        .select_related("created_by", "reward_model", "baseline_model")
        .defer("snapshot", "logs", "pair_rewards")
    )


def training_run_get(
    *, project: Project, pk: int, with_snapshot: bool = True
) -> TrainingRun | None:
    """One run of the project; without its snapshot (which can be large) when not needed."""
    runs = TrainingRun.objects.filter(project=project, pk=pk).select_related(
        "created_by", "reward_model", "baseline_model"
    )
    return (runs if with_snapshot else runs.defer("snapshot", "pair_rewards")).first()


def training_run_project_id(*, pk: int) -> int | None:
    return TrainingRun.objects.filter(pk=pk).values_list("project_id", flat=True).first()


def training_run_live(run: TrainingRun) -> TrainingRun:
    """The run with its progress, stage, loss history and logs as last reported (the cache
    runs ahead of the row while the worker trains)."""
    if run.status != TrainingRun.Status.RUNNING:
        return run
    live: dict[str, Any] | None = progress_read(run.pk)
    if live:
        run.progress, run.stage = live["progress"], live["stage"]
        run.history, run.logs = live["history"], live["logs"]
    return run


def retrain_rule_get(*, project: Project) -> RetrainRule | None:
    return RetrainRule.objects.filter(project=project).first()


# --- held out and in-sample: one rule for the inspector and for promotion ---------------
#
# A comparison is held out by a model when the model's training run did not train on its
# prompt: the prompt is in the run's validation split, or the run never saw it (labelled
# later). The split is per prompt (see apps.reward_models.snapshot), so "trained on this
# comparison" and "trained on this prompt" are the same rule. A model with no training
# run here (uploaded) holds out nothing that anyone can vouch for.

DIFFERENCE_RESAMPLES = 1000
PairKey = tuple[int, int, int]  # (comparison id, chosen response id, rejected response id)


@dataclass(frozen=True)
class ModelSplit:
    """Which prompts a reward model's training run trained on, from its stored split."""

    model_id: int
    model_name: str
    run_id: int | None  # None: no training run here, so what it trained on is unknown
    train_prompts: frozenset[int]
    validation_prompts: frozenset[int]

    def holds_out(self, prompt_id: int) -> bool:
        """True when the model's run did not train on this prompt."""
        return self.run_id is not None and prompt_id not in self.train_prompts

    def describe(self) -> str:
        if self.run_id is None:
            return f"reward model {self.model_id} ({self.model_name}; no training run here)"
        return f"reward model {self.model_id} ({self.model_name}, run {self.run_id})"


def reward_model_splits(*, project_id: int, model_ids: Iterable[int]) -> dict[int, ModelSplit]:
    """Each model's split as its training run stored it (only the prompt → split map is
    read, not the run's items); a model of another project or gone is left out."""
    models = dict(
        RewardModel.objects.filter(project_id=project_id, pk__in=set(model_ids)).values_list(
            "pk", "name"
        )
    )
    runs = {
        model_id: (run_id, splits or {})
        for model_id, run_id, splits in TrainingRun.objects.filter(
            reward_model_id__in=models
        ).values_list("reward_model_id", "pk", "snapshot__prompt_splits")
    }
    found = {}
    for model_id, name in models.items():
        run_id, splits = runs.get(model_id, (None, {}))
        found[model_id] = ModelSplit(
            model_id=model_id,
            model_name=name,
            run_id=run_id,
            train_prompts=frozenset(int(p) for p, s in splits.items() if s == "train"),
            validation_prompts=frozenset(int(p) for p, s in splits.items() if s == "validation"),
        )
    return found


def _pair_rewards(model_ids: set[int]) -> dict[int, dict[PairKey, float]]:
    """Each model's r_chosen − r_rejected on every decided pair a run measured it on: its
    own run's validation pairs and those of the runs that took it as their baseline
    (one query for all the models)."""
    margins: dict[int, dict[PairKey, float]] = {pk: {} for pk in model_ids}
    runs = TrainingRun.objects.filter(
        Q(reward_model_id__in=model_ids) | Q(baseline_model_id__in=model_ids)
    ).values_list("reward_model_id", "baseline_model_id", "pair_rewards")
    for trained_id, baseline_id, stored in runs:
        for model_id, side in ((trained_id, "model"), (baseline_id, "baseline")):
            if model_id not in margins:
                continue
            for comparison_id, chosen_id, rejected_id, margin in (stored or {}).get(side, []):
                key = (int(comparison_id), int(chosen_id), int(rejected_id))
                margins[model_id][key] = float(margin)
    return margins


def _bootstrap(
    items: list[int], first: np.ndarray, second: np.ndarray, *, seed: int = 0
) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    """95% percentile intervals of both accuracies and of their difference (first −
    second), resampling comparisons so that a ranking's pairs move together."""
    keys = sorted(set(items))
    index = {key: i for i, key in enumerate(keys)}
    at = np.array([index[item] for item in items])
    count = np.bincount(at, minlength=len(keys)).astype(float)
    right_first = np.bincount(at, weights=first, minlength=len(keys))
    right_second = np.bincount(at, weights=second, minlength=len(keys))
    draws = np.random.default_rng(seed).integers(
        0, len(keys), size=(DIFFERENCE_RESAMPLES, len(keys))
    )
    n = count[draws].sum(axis=1)
    a, b = right_first[draws].sum(axis=1) / n, right_second[draws].sum(axis=1) / n

    def interval(values: np.ndarray) -> tuple[float, float]:
        low, high = np.quantile(values, [0.025, 0.975])
        return float(low), float(high)

    return interval(a), interval(b), interval(a - b)


@dataclass(frozen=True)
class HeldOutComparison:
    """A candidate and the active model on the decided pairs that both runs held out."""

    candidate: ModelSplit
    active: ModelSplit
    pairs: int
    comparisons: int
    candidate_accuracy: float
    active_accuracy: float
    candidate_interval: tuple[float, float]
    active_interval: tuple[float, float]
    difference_interval: tuple[float, float]  # candidate − active
    in_sample: int  # pairs both were measured on that one of them trained on (left out)

    @property
    def candidate_is_worse(self) -> bool:
        return self.candidate_accuracy < self.active_accuracy

    @property
    def is_separable(self) -> bool:
        """Whether the 95% interval of the difference excludes 0."""
        low, high = self.difference_interval
        return low > 0 or high < 0

    @property
    def interval_width(self) -> float:
        low, high = self.difference_interval
        return high - low

    @property
    def separation_warning(self) -> str | None:
        """Why these pairs cannot tell the two models apart; None when they can."""
        if self.is_separable:
            return None
        low, high = self.difference_interval
        if high == low:
            return (
                f"Both models get the same held-out pair{'s' if self.pairs != 1 else ''} right, "
                f"so {'these' if self.pairs != 1 else 'this'} cannot tell them apart."
            )
        return (
            f"Too few held-out pairs to tell the two models apart: the 95% interval of the "
            f"difference is {low:+.1%} to {high:+.1%}, {self.interval_width:.1%} wide."
        )

    def describe(self) -> str:
        text = (
            f"On the {self.pairs} pair{'s' if self.pairs != 1 else ''} that both runs held out "
            f"({self.comparisons} comparison{'s' if self.comparisons != 1 else ''}): "
            f"{self.candidate_accuracy:.1%} (95% interval {self.candidate_interval[0]:.1%}–"
            f"{self.candidate_interval[1]:.1%}) against {self.active_accuracy:.1%} "
            f"({self.active_interval[0]:.1%}–{self.active_interval[1]:.1%})."
        )
        if warning := self.separation_warning:
            text += f" {warning}"
        return text


def reward_model_comparisons(
    *, candidates: Sequence[RewardModel], active: RewardModel | None
) -> dict[int, HeldOutComparison | None]:
    """Each candidate against the active model on the decided pairs both were measured on
    and both runs held out (the same split or overlapping ones); pairs one of them trained
    on are counted apart. None for a candidate with no such pair (or the active model
    itself). A fixed number of queries, however many candidates."""
    found: dict[int, HeldOutComparison | None] = dict.fromkeys(m.pk for m in candidates)
    others = [m.pk for m in candidates if active is not None and m.pk != active.pk]
    if active is None or not others:
        return found
    ids = {*others, active.pk}
    splits = reward_model_splits(project_id=active.project_id, model_ids=ids)
    margins = _pair_rewards(ids)
    theirs, baseline = splits.get(active.pk), margins[active.pk]
    if theirs is None:
        return found
    prompt_of = dict(
        Comparison.objects.filter(
            pk__in={key[0] for pk in others for key in margins[pk].keys() & baseline.keys()}
        ).values_list("pk", "prompt_id")
    )
    for pk in others:
        if (mine := splits.get(pk)) is not None:
            found[pk] = _held_out_comparison(mine, theirs, margins[pk], baseline, prompt_of)
    return found


def reward_model_comparison(
    *, candidate: RewardModel, active: RewardModel | None
) -> HeldOutComparison | None:
    """One candidate against the active model (see reward_model_comparisons)."""
    return reward_model_comparisons(candidates=[candidate], active=active)[candidate.pk]


def _held_out_comparison(
    mine: ModelSplit,
    theirs: ModelSplit,
    ours: dict[PairKey, float],
    baseline: dict[PairKey, float],
    prompt_of: dict[int, int],
) -> HeldOutComparison | None:
    shared, in_sample = [], 0
    for key in sorted(ours.keys() & baseline.keys()):
        prompt_id = prompt_of.get(key[0])
        if prompt_id is None:
            continue  # the comparison was deleted
        if mine.holds_out(prompt_id) and theirs.holds_out(prompt_id):
            shared.append(key)
        else:
            in_sample += 1
    if not shared:
        return None
    first = np.array([ours[key] > 0 for key in shared], dtype=float)
    second = np.array([baseline[key] > 0 for key in shared], dtype=float)
    first_interval, second_interval, difference = _bootstrap(
        [key[0] for key in shared], first, second
    )
    return HeldOutComparison(
        candidate=mine,
        active=theirs,
        pairs=len(shared),
        comparisons=len({key[0] for key in shared}),
        candidate_accuracy=float(first.mean()),
        active_accuracy=float(second.mean()),
        candidate_interval=first_interval,
        active_interval=second_interval,
        difference_interval=difference,
        in_sample=in_sample,
    )


def training_run_baseline_in_sample(*, run: TrainingRun) -> int:
    """How many of the run's decided validation pairs the model in use when it was made
    (its baseline) had trained on: the baseline's accuracy on those is in-sample."""
    if run.baseline_model_id is None:
        return 0
    split = reward_model_splits(project_id=run.project_id, model_ids=[run.baseline_model_id])
    baseline = split.get(run.baseline_model_id)
    rows = (run.pair_rewards or {}).get("baseline", [])
    if baseline is None or not rows:
        return 0
    prompt_of = dict(
        Comparison.objects.filter(pk__in={row[0] for row in rows}).values_list("pk", "prompt_id")
    )
    return sum(
        1 for row in rows if row[0] in prompt_of and not baseline.holds_out(prompt_of[row[0]])
    )
