"""Inspection jobs: start one, run it on a worker, accept the weights it proposes.

The worker task passes in `compute` (the ML engine's `component_values`); everything
else is read here and handed to the pure functions of `workers.rewards.inspection`.
The result is one JSON document stored in the Inspection row.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, transaction

from apps.accounts.models import Project, User
from apps.annotation import quality
from apps.annotation.models import Comparison, Label
from apps.annotation.review import current_labels
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response
from apps.reward_models.selectors import ModelSplit, reward_model_for_scoring, reward_model_splits
from apps.rewards.models import Inspection, RewardFunctionVersion, Score, ScoreRun
from apps.rewards.services import (
    reward_function_version_create,
    score_run_claim,
    score_run_create,
    score_run_execute,
)
from workers.contracts import ScoreItem
from workers.rewards import inspection as numbers
from workers.rewards.fitting import ComputeRaw, Rewards, raw_values
from workers.rewards.spec import RewardModel as RewardModelComponent
from workers.rewards.spec import RewardSpec, RubricJudge

logger = logging.getLogger(__name__)

PROBE_LIMIT = 200  # responses each probe rescores
PROBE_LIMIT_JUDGED = 20  # … when a component calls a judge endpoint (slow, and paid)
WORST_LIMIT = 10
TEXT_LIMIT = 4000  # characters of a response kept in the result
# Intervals per slice (annotator, criterion, prompt group: there can be thousands of
# groups) from fewer resamples than the overall figure's 1000.
SLICE_RESAMPLES = 200
LENGTH_POINTS = 500  # responses drawn on the length scatter plot
IMPORTED = "imported"


@transaction.atomic
def inspection_create(
    *,
    version: RewardFunctionVersion,
    created_by: User | None,
    free_signs: Collection[str] = (),
    enqueue: bool = True,
) -> Inspection:
    """Queue an inspection of the version over its project; an unfinished one is returned
    instead of queuing a second, unless it is stale (its worker died): that one is marked
    failed. The job scores the project first (as a score run) when needed.

    `free_signs` names the components whose weight the fit may flip (every other weight
    keeps its sign, see `workers.rewards.inspection.sign_rules`); an unfinished inspection
    fitting with other free signs is an error rather than an answer that ignores them."""
    project_id = version.function.project_id
    try:
        numbers.sign_rules(version.parsed_spec, free_signs)
    except ValueError as exc:
        raise ApplicationError(
            f"{exc} in v{version.number} (its components: {', '.join(version.parsed_spec.names)})."
        ) from None
    free = sorted(set(free_signs))
    if not Response.objects.filter(prompt__project_id=project_id).exists():
        raise ApplicationError("The project has no responses to inspect the reward on yet.")
    pending = (
        Inspection.objects.select_for_update()
        .filter(version=version, status__in=[Inspection.Status.QUEUED, Inspection.Status.RUNNING])
        .first()
    )
    if pending is not None and not pending.is_stale:
        if pending.free_signs != free:
            raise ApplicationError(
                f"Inspection #{pending.pk} of v{version.number} is still running with "
                f"free signs {_listed(pending.free_signs)}; wait for it, then start one with "
                f"free signs {_listed(free)}."
            )
        return pending
    if pending is not None:
        inspection_fail(
            inspection=pending,
            error="The worker stopped reporting progress; a new inspection replaced this one.",
        )
    inspection = Inspection.objects.create(
        version=version, project_id=project_id, created_by=created_by, free_signs=free
    )
    if enqueue:
        from workers.tasks.inspection import inspect_reward

        inspection.enqueue_after_commit(inspect_reward, inspection_id=inspection.pk)
    return inspection


def fit_sign_rules(*, version: RewardFunctionVersion) -> dict[str, str]:
    """Each component's sign rule in the weight fit when no sign is freed."""
    return numbers.sign_rules(version.parsed_spec)


def _listed(names: Collection[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"


def inspection_claim(*, inspection_id: int) -> Inspection | None:
    """Move a queued inspection to running (compare-and-set); None if gone or not queued."""
    if not Inspection.claim(inspection_id, stage="Starting"):
        logger.info("inspection %s: not queued any more, nothing to do", inspection_id)
        return None
    return Inspection.objects.select_related("version__function", "project").get(pk=inspection_id)


def inspection_fail(*, inspection: Inspection, error: str) -> Inspection:
    """Mark an inspection failed with a message a person can act on."""
    inspection.fail(error)
    return inspection


def _progress(inspection: Inspection, stage: str, fraction: float) -> None:
    inspection.progress_set(stage=stage, progress=round(fraction, 4))


# --- reading the project ----------------------------------------------------------------


@dataclass
class ProjectData:
    """The project's responses as items, with what the statistics group them by."""

    ids: list[int]
    items: list[ScoreItem]
    texts: dict[int, str]
    prompt_of: dict[int, int]
    prompt_text: dict[int, str]
    group_of: dict[int, str]  # prompt id → group ("" for none)


def _project_data(project_id: int) -> ProjectData:
    prompts = {
        pk: (Prompt(input=value).text, str(references[0]) if references else None, group)
        for pk, value, references, group in Prompt.objects.filter(
            project_id=project_id
        ).values_list("id", "input", "references", "group")
    }
    data = ProjectData([], [], {}, {}, {}, {})
    for pk, (text, _, group) in prompts.items():
        data.prompt_text[pk] = text
        data.group_of[pk] = group
    rows = Response.objects.filter(prompt__project_id=project_id).order_by("id")
    for response_id, text, prompt_id in rows.values_list("id", "text", "prompt_id").iterator():
        prompt_text, reference, _ = prompts[prompt_id]
        data.ids.append(response_id)
        data.items.append(ScoreItem(prompt_text, text, reference))
        data.texts[response_id] = text
        data.prompt_of[response_id] = prompt_id
    return data


def preferences_for(*, project: Project, group_of: dict[int, str]) -> list[numbers.Preference]:
    """Every decisive current judgment as winner/loser preferences: pairwise choices a and
    b, rankings expanded to pairs, and (with `criterion` set) each rubric criterion whose
    ratings of two responses differ. Ties and "both bad" say nothing about the order."""
    rows = (
        current_labels(project=project).values_list(
            "comparison_id",
            "annotator__username",
            "choice",
            "ranking",
            "ratings",
            "comparison__kind",
            "comparison__response_a_id",
            "comparison__response_b_id",
            "comparison__prompt_id",
        )  # fmt: skip
    )
    preferences = []
    for item, username, choice, ranking, ratings, kind, a, b, prompt_id in rows:
        annotator = username or IMPORTED
        group = group_of.get(prompt_id, "")
        pairs: list[tuple[Any, Any]] = []
        if kind == Comparison.Kind.PAIR and choice in (Label.Choice.A, Label.Choice.B):
            pairs = [(a, b) if choice == Label.Choice.A else (b, a)]
        elif ranking:
            pairs = quality.ranking_to_pairs([int(r) for r in ranking])
        for winner, loser in pairs:
            preferences.append(numbers.Preference(item, winner, loser, annotator, group))
        by_criterion: dict[str, dict[int, float]] = defaultdict(dict)
        for response_id, values in (ratings or {}).items():
            for name, value in values.items():
                by_criterion[name][int(response_id)] = float(value)
        for name, rated in by_criterion.items():
            ordered = sorted(rated)
            for i, first in enumerate(ordered):
                for second in ordered[i + 1 :]:
                    if rated[first] == rated[second]:
                        continue
                    winner, loser = (first, second) if rated[first] > rated[second] else (
                        second, first)  # fmt: skip
                    preferences.append(
                        numbers.Preference(item, winner, loser, annotator, group, name)
                    )
    return preferences


def _ensure_scores(inspection: Inspection, compute: ComputeRaw, total: int) -> str | None:
    """Score the project with the version first when some response has no score; returns
    an error message when that fails."""
    version = inspection.version
    if Score.objects.filter(version=version).count() >= total:
        return None
    run = score_run_create(version=version, created_by=inspection.created_by, enqueue=False)
    _progress(inspection, f"Scoring {total} responses (score run #{run.pk})", 0.05)
    claimed = score_run_claim(run_id=run.pk)
    assert claimed is not None
    finished = score_run_execute(run=claimed, compute=compute)
    if finished.status != ScoreRun.Status.SUCCEEDED:
        return f"Scoring the project failed: {finished.error}"
    version.refresh_from_db(fields=["fitted", "fitted_at"])
    return None


def _clip(text: str) -> dict[str, Any]:
    return {"text": text[:TEXT_LIMIT], "clipped": len(text) > TEXT_LIMIT}


# --- held out and in-sample ----------------------------------------------------------------


@dataclass(frozen=True)
class AgreementBasis:
    """Which human choices the headline agreement is computed on.

    With no `reward_model` component, all of them. With one or more, the choices on
    comparisons that every model's training run held out (apps.reward_models.selectors:
    the prompt is not in the run's training split); the others are in-sample, reported
    apart. When none is held out the headline is the in-sample figure, and says so.
    """

    models: list[ModelSplit]
    held_out: list[numbers.Preference]
    in_sample: list[numbers.Preference]

    @property
    def kind(self) -> str:
        if not self.models:
            return "all"
        return "held_out" if self.held_out else "in_sample"

    @property
    def headline(self) -> list[numbers.Preference]:
        return self.in_sample if self.kind == "in_sample" else self.held_out

    def describe(self, *, in_sample: numbers.Accuracy | None) -> str:
        if not self.models:
            return f"Computed on all {_count(self.held_out)} (no reward_model component)."
        names = " and ".join(model.describe() for model in self.models)
        whose = "its" if len(self.models) == 1 else "their"
        unknown = [m for m in self.models if m.run_id is None]
        if self.kind == "in_sample":
            one = "" if len(self.models) == 1 else "at least one of "
            why = (
                f"which comparisons {unknown[0].describe()} trained on is unknown"
                if unknown
                else f"every one is on a prompt that {one}{names} trained on"
            )
            return (
                f"In-sample: this agreement is computed on {_count(self.in_sample)}, and "
                f"{why}, so it {'may grade' if unknown else 'grades'} the model on its own "
                "training labels and is not a held-out estimate."
            )
        held, apart = _count(self.held_out), _count(self.in_sample)
        who = f"{names} did not" if len(self.models) == 1 else f"none of {names}"
        text = (
            f"Held out: computed on the {held} on comparisons that {who} train on "
            f"({whose} run's validation split, or labelled after the run)."
        )
        if self.in_sample and in_sample is not None and in_sample.value is not None:
            text += (
                f" The {apart} on prompts {'it' if len(self.models) == 1 else 'they'} trained "
                f"on are reported apart as in-sample: {in_sample.value:.1%}."
            )
        return text

    def as_json(self, *, in_sample: numbers.Accuracy | None) -> dict[str, Any]:
        held, apart = _overall(self.held_out), _overall(self.in_sample)
        return {
            "kind": self.kind,
            "models": [
                {"id": m.model_id, "name": m.model_name, "run": m.run_id} for m in self.models
            ],
            "held_out": held,
            "in_sample": apart,
            "text": self.describe(in_sample=in_sample),
        }


def _overall(preferences: list[numbers.Preference]) -> int:
    return sum(1 for p in preferences if p.criterion is None)


def _count(preferences: list[numbers.Preference]) -> str:
    n = _overall(preferences)
    return f"{n} human choice{'s' if n != 1 else ''}"


def agreement_basis(
    *,
    spec: RewardSpec,
    project_id: int,
    preferences: list[numbers.Preference],
    prompt_of: dict[int, int],
) -> AgreementBasis:
    """Split the human choices into those every reward model in `spec` held out and those
    one of them trained on (a model the spec leaves unpinned is the promoted one)."""
    model_ids = []
    for component in spec.components:
        if isinstance(component, RewardModelComponent):
            model = reward_model_for_scoring(project_id=project_id, model_id=component.model)
            if model is not None and model.pk not in model_ids:
                model_ids.append(model.pk)
    if not model_ids:
        return AgreementBasis([], list(preferences), [])
    splits = reward_model_splits(project_id=project_id, model_ids=model_ids)
    models = [splits[pk] for pk in model_ids if pk in splits]
    held_out, in_sample = [], []
    for preference in preferences:
        prompt_id = prompt_of[preference.winner]
        if all(model.holds_out(prompt_id) for model in models):
            held_out.append(preference)
        else:
            in_sample.append(preference)
    return AgreementBasis(models, held_out, in_sample)


# --- the job ------------------------------------------------------------------------------


def inspection_execute(*, inspection: Inspection, compute: ComputeRaw) -> Inspection:
    """Compute every panel of the inspector and store them as the inspection's result.

    Responses the version has not scored yet are scored first (a score run, fitting the
    version's transforms if it must). Probes rescore up to PROBE_LIMIT perturbed
    responses with `compute`. Running it again computes the same numbers (fixed seeds).
    """
    version = inspection.version
    spec = version.parsed_spec
    data = _project_data(inspection.project_id)
    if not data.ids:
        return inspection_fail(inspection=inspection, error="The project has no responses.")
    try:
        if error := _ensure_scores(inspection, compute, len(data.ids)):
            return inspection_fail(inspection=inspection, error=error)
        fitted = version.fitted_transforms
        if fitted is None:
            return inspection_fail(inspection=inspection, error="The version is not fitted.")
        _progress(inspection, "Reading scores and labels", 0.4)
        stored = dict(
            Score.objects.filter(version=version).values_list("response_id", "components")
        )
        at = {response_id: i for i, response_id in enumerate(data.ids)}
        known = {
            name: {at[r]: comps.get(name) for r, comps in stored.items() if r in at}
            for name in spec.names
        }
        raw = raw_values(spec, data.items, compute, known=known)
        rewards = raw.rewards(spec, fitted)
        totals = dict(zip(data.ids, rewards.totals, strict=True))
        preferences = preferences_for(project=inspection.project, group_of=data.group_of)
        basis = agreement_basis(
            spec=spec,
            project_id=inspection.project_id,
            preferences=preferences,
            prompt_of=data.prompt_of,
        )
        result = _analyse(inspection, spec, data, raw.values, rewards, totals, basis)
        judged = any(isinstance(c, RubricJudge) for c in spec.components)
        limit = PROBE_LIMIT_JUDGED if judged else PROBE_LIMIT
        _progress(inspection, f"Probing {min(len(data.ids), limit)} responses", 0.6)
        sample = numbers.probe_sample(len(data.ids), limit)
        step = 0.35 / len(numbers.PROBES)
        # The version the fitted weights would make is probed on the same perturbed
        # responses (scored once), so accepting them can show what they open up.
        specs = [spec]
        proposed = _proposed_spec(version, result["fit"])
        bases = [rewards.totals]
        if proposed is not None:
            specs.append(proposed)
            bases.append(raw.rewards(proposed, fitted).totals)
        probes = numbers.probe_effects_of(
            specs,
            fitted,
            [data.items[i] for i in sample],
            [[totals_of[i] for i in sample] for totals_of in bases],
            compute,
            on_probe=lambda done: _progress(
                inspection, f"Probes: {done} of {len(numbers.PROBES)}", 0.6 + step * done
            ),
        )
        result["probes"] = probes[0]
        result["probed"] = len(sample)
        if proposed is not None:
            result["fit"]["probes"] = probes[1]
            result["fit"]["newly_gamed"] = numbers.newly_gamed(probes[0], probes[1])
    except ApplicationError as exc:
        return inspection_fail(inspection=inspection, error=exc.message)
    except DatabaseError as exc:
        logger.exception("inspection %s failed", inspection.pk)
        return inspection_fail(inspection=inspection, error=f"could not read the project: {exc}")
    # Only a run still in force stores its result: one replaced as stale stays failed.
    Inspection.end_running(
        inspection.pk, Inspection.Status.SUCCEEDED, result=result, stage="Done", progress=1.0
    )
    inspection.refresh_from_db()
    return inspection


def _analyse(
    inspection: Inspection,
    spec: RewardSpec,
    data: ProjectData,
    raw: dict[str, list[float | None]],
    rewards: Rewards,
    totals: dict[int, float | None],
    basis: AgreementBasis,
) -> dict[str, Any]:
    """Every panel but the probes, as JSON. Every figure graded against people (agreement
    overall and per slice, ablation, length bias, the worst pairs, the weight fit) is on
    the basis' headline choices: held out by the reward models when there are any, so a
    head is never graded, or weighted, on its own training labels."""
    preferences = basis.held_out + basis.in_sample
    overall = [p for p in preferences if p.criterion is None]
    headline = [p for p in basis.headline if p.criterion is None]
    _progress(inspection, "Agreement with people", 0.45)
    in_sample = None
    if basis.kind == "held_out" and basis.in_sample:
        in_sample = numbers.pairwise_accuracy(
            [p for p in basis.in_sample if p.criterion is None], totals
        )
    accuracy = {
        "overall": numbers.pairwise_accuracy(headline, totals).as_json(),
        "in_sample": in_sample.as_json() if in_sample is not None else None,
        "criteria": _json(
            numbers.accuracy_by(
                basis.headline, totals, lambda p: p.criterion, n_resamples=SLICE_RESAMPLES
            )
        ),
        "annotators": _json(
            numbers.accuracy_by(
                headline, totals, lambda p: p.annotator or None, n_resamples=SLICE_RESAMPLES
            )
        ),
        "groups": _json(
            numbers.accuracy_by(
                headline, totals, lambda p: p.group or None, n_resamples=SLICE_RESAMPLES
            )
        ),
    }
    ceiling = numbers.human_agreement([p for p in overall if p.annotator != IMPORTED])
    _progress(inspection, "Ablation and length bias", 0.5)
    ablation = numbers.ablation(spec, rewards.transformed, data.ids, headline)
    lengths = {response_id: len(text) for response_id, text in data.texts.items()}
    worst = []
    at = {response_id: i for i, response_id in enumerate(data.ids)}
    for pair, margin in numbers.worst_pairs(
        numbers.majority_pairs(headline), totals, limit=WORST_LIMIT
    ):
        winner = {n: rewards.transformed[n][at[pair.winner]] for n in spec.names}
        loser = {n: rewards.transformed[n][at[pair.loser]] for n in spec.names}
        prompt_id = data.prompt_of[pair.winner]
        worst.append({
            "comparison": pair.item,
            "prompt": prompt_id,
            "prompt_text": data.prompt_text[prompt_id][:TEXT_LIMIT],
            "votes": pair.votes,
            "judgments": pair.judgments,
            "margin": margin,
            "winner": {"id": pair.winner, "reward": totals[pair.winner],
                       **_clip(data.texts[pair.winner])},
            "loser": {"id": pair.loser, "reward": totals[pair.loser],
                      **_clip(data.texts[pair.loser])},
            "contributions": numbers.contributions(spec, winner, loser),
        })  # fmt: skip
    _progress(inspection, "Distributions and fitting weights", 0.55)
    histograms = {name: numbers.histogram(raw[name]) for name in spec.names}
    histograms["total"] = numbers.histogram(rewards.totals)
    present_totals = [v for v in rewards.totals if v is not None]
    return {
        "computed_on": {
            "responses": len(data.ids),
            "prompts": len(set(data.prompt_of.values())),
            "preferences": len(overall),
            "criterion_preferences": len(preferences) - len(overall),
            "comparisons": len({p.item for p in overall}),
        },
        "components": spec.names,
        "combine": spec.combine.op,
        "histograms": histograms,
        "total_mean": statistics.fmean(present_totals) if present_totals else None,
        "correlation": numbers.correlation_matrix(rewards.transformed),
        "accuracy": accuracy,
        "agreement_basis": basis.as_json(in_sample=in_sample),
        "ceiling": ceiling.as_json(),
        "ablation": ablation,
        "length": numbers.length_bias(totals, lengths, headline),
        "length_points": [
            [lengths[data.ids[i]], round(rewards.totals[i], 6)]
            for i in numbers.probe_sample(len(data.ids), LENGTH_POINTS, seed=1)
            if rewards.totals[i] is not None
        ],
        "worst_pairs": worst,
        "consistency": numbers.consistency(totals, data.prompt_of, data.group_of),
        "fit": numbers.fit_weights(
            spec, rewards.transformed, data.ids, headline, free_signs=inspection.free_signs
        ),
    }


def _proposed_spec(version: RewardFunctionVersion, fit: dict[str, Any]) -> RewardSpec | None:
    """The spec accepting the fitted weights would save; None when there is nothing to save."""
    if not any(fit.get("weights", {}).values()):
        return None
    return RewardSpec.model_validate(numbers.spec_with_weights(version.spec, fit["weights"]))


def _json(accuracies: dict[str, numbers.Accuracy]) -> dict[str, Any]:
    return {name: accuracy.as_json() for name, accuracy in accuracies.items()}


# --- acting on a result ------------------------------------------------------------------


class FittedWeightsNeedConfirmation(ApplicationError):
    """The fitted weights are gamed by a probe that does not game the current version."""


def _gamed_by(rows: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{row['label']} (raises {_share(row['proposed_raised'])} of rewards, against "
        f"{_share(row['current_raised'])} now)"
        for row in rows
    )


def _share(value: float | None) -> str:
    return "an unknown share" if value is None else f"{value:.0%}"


@transaction.atomic
def inspection_accept_weights(
    *, inspection: Inspection, user: User, confirm: bool = False
) -> RewardFunctionVersion:
    """A new version of the function with the weights the inspection fitted (a weighted
    sum over the same components and transforms), through the version-create service.

    When a probe games the fitted version and not the current one, nothing is saved
    unless the caller confirms (FittedWeightsNeedConfirmation names those probes); an
    inspection that did not probe its fitted weights (one computed before they were
    probed) is refused: recomputing it probes them."""
    fit = (inspection.result or {}).get("fit") if inspection.result else None
    if inspection.status != Inspection.Status.SUCCEEDED or not fit:
        raise ApplicationError("This inspection has not finished, so it proposes no weights.")
    if "weights" not in fit:
        raise ApplicationError(f"No weights were fitted: {fit.get('error', 'no labels')}")
    version = inspection.version
    spec = dict(version.spec)
    if set(fit["weights"]) != {c["name"] for c in spec["components"]}:
        raise ApplicationError("The fitted weights do not match the version's components.")
    if not any(fit["weights"].values()):
        raise ApplicationError(
            "Every fitted weight is 0: the components say nothing about the human choices."
        )
    if "probes" not in fit:
        raise ApplicationError(
            f"Inspection #{inspection.pk} did not probe its fitted weights (it ran before "
            "they were probed). Recompute it to see what the fitted version can be gamed by, "
            "then accept."
        )
    gamed = fit["newly_gamed"]
    if gamed and not confirm:
        raise FittedWeightsNeedConfirmation(
            f"The fitted weights can be gamed by {_gamed_by(gamed)}, which v{version.number} "
            "is not. Confirm to save them anyway.",
            extra={"newly_gamed": gamed},
        )
    spec = numbers.spec_with_weights(spec, fit["weights"])
    held_out = fit["heldout_accuracy"]
    message = (
        f"Weights fitted to {fit['n']} human choices (Bradley–Terry, inspection #{inspection.pk};"
        f" held-out accuracy {held_out:.1%}) from v{version.number}"
    )
    if gamed:
        message += "; confirmed although gamed by " + ", ".join(row["probe"] for row in gamed)
    return reward_function_version_create(
        function=version.function, spec=spec, created_by=user, message=message[:300]
    )


def scores_by_response(*, version: RewardFunctionVersion) -> dict[int, float | None]:
    return dict(Score.objects.filter(version=version).values_list("response_id", "total"))


def version_comparison(
    *, first: RewardFunctionVersion, second: RewardFunctionVersion, limit: int = 50
) -> dict[str, Any]:
    """STARC-style distance between two versions over the project's scored responses, and
    the compared pairs whose preferred response flips (largest swing first, at most `limit`),
    each with the people's votes on it and which version they side with."""
    project_id = first.function.project_id
    prompt_of = dict(
        Response.objects.filter(prompt__project_id=project_id).values_list("id", "prompt_id")
    )
    a, b = scores_by_response(version=first), scores_by_response(version=second)
    distance = numbers.starc_distance(a, b, prompt_of)
    pairs = Comparison.objects.filter(
        project_id=project_id, kind=Comparison.Kind.PAIR, response_a__isnull=False
    ).values_list("id", "response_a_id", "response_b_id")
    flipped = numbers.flips(pairs, a, b)
    votes: dict[int, dict[str, int]] = defaultdict(lambda: {"a": 0, "b": 0})
    decisive = current_labels(project=first.function.project).filter(
        comparison_id__in=[f["item"] for f in flipped], choice__in=["a", "b"]
    )
    for comparison_id, choice in decisive.values_list("comparison_id", "choice"):
        votes[comparison_id][choice] += 1
    agree = {"first": 0, "second": 0}
    for flip in flipped:
        count = votes.get(flip["item"], {"a": 0, "b": 0})
        flip["votes_a"], flip["votes_b"] = count["a"], count["b"]
        flip["people_prefer"] = (
            None
            if count["a"] == count["b"]
            else flip["a"]
            if count["a"] > count["b"]
            else flip["b"]
        )
        for side in agree:
            agree[side] += flip["people_prefer"] == flip[f"{side}_prefers"]
    texts = dict(
        Response.objects.filter(
            id__in={f[k] for f in flipped[:limit] for k in ("a", "b")}
        ).values_list("id", "text")
    )
    for flip in flipped[:limit]:
        flip["a_text"] = texts.get(flip["a"], "")[:TEXT_LIMIT]
        flip["b_text"] = texts.get(flip["b"], "")[:TEXT_LIMIT]
    return {
        **distance,
        "pairs": len(pairs),
        "flipped": len(flipped),
        "first_agrees": agree["first"],
        "second_agrees": agree["second"],
        "flips": flipped[:limit],
    }
