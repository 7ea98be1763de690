"""The training data of a run, frozen when the run is made.

An *item* is a pair of responses of one comparison: a pairwise comparison is one item;
a ranking label votes on every pair of its responses (the better-ranked one wins), so a
ranking comparison gives one item per pair. Each item gets the project's consensus:
the reviewer's latest decision when there is one, else the project's rule (majority
vote, or Dawid–Skene) over the current labels, an imported label voting like one
annotator (or not at all, when the run leaves imported labels out).

Ties and both-bad verdicts state no preference between the two responses: with
`ties="half"` they are kept as 0.5 targets, with `ties="drop"` they are left out. An
item whose top answer is shared by two answers has no consensus and is left out.

The split is drawn per prompt (seeded) and stored as `prompt_id -> split`, so a prompt
cannot be in both splits; `snapshot_pairs` refuses a snapshot where an item's prompt has
no split.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from apps.accounts.models import Project
from apps.accounts.settings_schema import ConsensusRule
from apps.annotation import quality
from apps.annotation.models import Comparison, Label, ReviewDecision
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response
from apps.rubrics.models import RubricVersion
from workers.contracts import RatedResponse, TrainingPair
from workers.training.settings import TrainingSettings

SPLITS = ("train", "validation")
# Item fields as stored, one list per item (compact for tens of thousands of pairs).
ITEM_FIELDS = (
    "comparison_id", "prompt_id", "chosen_id", "rejected_id", "target", "strength", "agreement",
)  # fmt: skip
NO_PREFERENCE = ("tie", "both_bad")
MIN_VALIDATION_PAIRS = 2  # what the engine needs to measure accuracy

ItemKey = tuple[int, int, int]  # (comparison id, lower response id, higher response id)


class _LabelRow(NamedTuple):
    """A current label as the snapshot reads it (plain tuples: no model instances)."""

    pk: int
    annotator_id: int | None
    choice: str
    strength: int | None
    ratings: dict[str, dict[str, Any]]
    ranking: list[int]
    rubric_version_id: int | None
    comparison_id: int
    kind: str
    prompt_id: int
    response_a_id: int | None
    response_b_id: int | None


_LABEL_FIELDS = (
    "pk", "annotator_id", "choice", "strength", "ratings", "ranking", "rubric_version_id",
    "comparison_id", "comparison__kind", "comparison__prompt_id", "comparison__response_a_id",
    "comparison__response_b_id",
)  # fmt: skip


@dataclass(frozen=True)
class _Vote:
    label_id: int
    voter: Hashable
    choice: str  # a: the lower response id wins; b: the higher one
    strength: int | None


def _votes(labels: Iterable[_LabelRow]) -> tuple[dict[ItemKey, list[_Vote]], dict[ItemKey, int]]:
    """Each item's votes (a voter's latest only) and each item's prompt."""
    votes: dict[ItemKey, dict[Hashable, _Vote]] = defaultdict(dict)
    prompts: dict[ItemKey, int] = {}
    for label in labels:
        voter = label.annotator_id if label.annotator_id is not None else ("import", label.pk)
        if label.kind == Comparison.Kind.PAIR and label.choice:
            key = (label.comparison_id, label.response_a_id, label.response_b_id)  # type: ignore[assignment]
            votes[key][voter] = _Vote(label.pk, voter, label.choice, label.strength)
            prompts[key] = label.prompt_id
        elif label.kind == Comparison.Kind.RANKING and label.ranking:
            for winner, loser in quality.ranking_to_pairs([int(pk) for pk in label.ranking]):
                low, high = sorted((int(winner), int(loser)))  # type: ignore[call-overload]
                key = (label.comparison_id, low, high)
                votes[key][voter] = _Vote(label.pk, voter, "a" if winner == low else "b", None)
                prompts[key] = label.prompt_id
    return {key: list(by_voter.values()) for key, by_voter in votes.items()}, prompts


def _decisions(project: Project) -> dict[ItemKey, str]:
    """The latest review decision of each comparison, as answers per item."""
    latest: dict[int, ReviewDecision] = {}
    for decision in (
        ReviewDecision.objects.filter(comparison__project=project)
        .select_related("comparison")
        .order_by("pk")
    ):
        latest[decision.comparison_id] = decision
    answers: dict[ItemKey, str] = {}
    for decision in latest.values():
        comparison = decision.comparison
        if comparison.kind == Comparison.Kind.PAIR and decision.choice:
            key = (comparison.pk, comparison.response_a_id, comparison.response_b_id)
            answers[key] = decision.choice  # type: ignore[index]
        elif decision.ranking:
            for winner, loser in quality.ranking_to_pairs([int(pk) for pk in decision.ranking]):
                low, high = sorted((int(winner), int(loser)))  # type: ignore[call-overload]
                answers[(comparison.pk, low, high)] = "a" if winner == low else "b"
    return answers


def _consensus(votes: dict[ItemKey, list[_Vote]], rule: ConsensusRule) -> dict[ItemKey, str | None]:
    judgments = [
        quality.Judgment(key, vote.voter, vote.choice)
        for key, item in votes.items()
        for vote in item
    ]
    if rule == ConsensusRule.DAWID_SKENE and judgments:
        fitted = quality.dawid_skene(judgments, quality.PREFERENCE_CLASSES)
        return {
            key: str(max(posterior, key=posterior.__getitem__))  # type: ignore[misc]
            for key, posterior in fitted.posteriors.items()
        }
    return {
        key: (str(v) if v is not None else None)
        for key, v in quality.majority_vote(judgments).items()
    }  # type: ignore[misc]


def _ratings(labels: list[_LabelRow]) -> list[list[Any]]:
    """Each rated response's mean rating per criterion, scaled to 0..1 by the criterion's
    scale in the label's rubric version: `[response_id, prompt_id, {criterion: mean}]`."""
    version_ids = {label.rubric_version_id for label in labels if label.ratings}
    scales = {
        version.pk: {c.name: (c.scale.min, c.scale.max) for c in version.spec.criteria}
        for version in RubricVersion.objects.filter(pk__in=version_ids)
    }
    sums: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for label in labels:
        bounds = scales.get(label.rubric_version_id or 0, {})
        for response_id, values in (label.ratings or {}).items():
            for name, value in values.items():
                if name in bounds and isinstance(value, int | float):
                    low, high = bounds[name]
                    sums[int(response_id)][name].append((value - low) / (high - low))
    if not sums:
        return []
    prompt_of = dict(Response.objects.filter(pk__in=sums).values_list("pk", "prompt_id"))
    return [
        [pk, prompt_of[pk], {name: round(sum(v) / len(v), 6) for name, v in sorted(by.items())}]
        for pk, by in sorted(sums.items())
        if pk in prompt_of
    ]


def split_prompts(prompt_ids: Iterable[int], *, fraction: float, seed: int) -> dict[int, str]:
    """Draw `fraction` of the prompts (at least one, when there are two or more) for
    validation, the rest for training; the same prompts and seed give the same split."""
    ordered = sorted(set(prompt_ids))
    random.Random(seed).shuffle(ordered)
    count = (
        min(max(1, math.ceil(fraction * len(ordered))), len(ordered) - 1) if len(ordered) > 1 else 0
    )
    validation = set(ordered[:count])
    return {pk: ("validation" if pk in validation else "train") for pk in sorted(ordered)}


def snapshot_take(*, project: Project, settings: TrainingSettings) -> dict[str, Any]:
    """Freeze the run's training data: the items with their answers, and where they came from.

    Raises ApplicationError when there is nothing to train on.
    """
    rows = Label.objects.filter(comparison__project=project, superseded_by__isnull=True)
    if not settings.include_imported:
        rows = rows.exclude(source=Label.Source.IMPORT)
    labels = [_LabelRow(*row) for row in rows.order_by("pk").values_list(*_LABEL_FIELDS)]
    votes, prompts = _votes(labels)
    rule = project.settings.consensus
    answers: dict[ItemKey, str | None] = _consensus(votes, rule)
    reviewed = _decisions(project)
    skipped: dict[str, int] = defaultdict(int)
    kept: list[tuple[ItemKey, str, int | None, float | None]] = []
    for key in sorted(set(votes) | set(reviewed)):
        if key not in votes:
            continue  # a decision on a pair nobody's included label voted on
        choice = reviewed.get(key, answers.get(key))
        if choice is None:
            skipped["no consensus (votes split evenly)"] += 1
            continue
        if choice in NO_PREFERENCE and settings.ties == "drop":
            skipped["tie or both bad (ties: drop)"] += 1
            continue
        winning = [vote for vote in votes[key] if vote.choice == choice]
        strengths = sorted(vote.strength for vote in winning if vote.strength is not None)
        strength = strengths[(len(strengths) - 1) // 2] if strengths else None  # lower median
        agreement = len(winning) / len(votes[key])
        kept.append((key, choice, strength, agreement))
    if not kept:
        raise ApplicationError(
            "There are no usable labels to train on: label some comparisons first "
            "(ties and both-bad count only with ties: half; imported labels only with "
            "include_imported)."
        )
    rated = _ratings(labels)
    splits = split_prompts(
        [prompts[key] for key, *_ in kept] + [prompt_id for _, prompt_id, _ in rated],
        fraction=settings.validation_fraction,
        seed=settings.seed,
    )
    items = []
    for (comparison_id, low, high), choice, strength, agreement in kept:
        chosen, rejected = (high, low) if choice == "b" else (low, high)
        target = 0.5 if choice in NO_PREFERENCE else 1.0
        items.append(
            [comparison_id, prompts[(comparison_id, low, high)], chosen, rejected, target,
             strength if choice not in NO_PREFERENCE else None, round(agreement, 6)]
        )  # fmt: skip
    counts = dict.fromkeys(SPLITS, 0)
    for item in items:
        counts[splits[item[1]]] += 1
    return {
        "consensus_rule": "review decisions, else " + rule.value,
        "label_ids": [label.pk for label in labels],
        "rubric_version_ids": sorted(
            {label.rubric_version_id for label in labels if label.rubric_version_id is not None}
        ),
        "ties": settings.ties,
        "include_imported": settings.include_imported,
        "seed": settings.seed,
        "validation_fraction": settings.validation_fraction,
        "prompt_splits": {str(pk): split for pk, split in splits.items()},
        "item_fields": list(ITEM_FIELDS),
        "items": items,
        "rated": rated,
        "counts": counts,
        "skipped": dict(skipped),
    }


def snapshot_check_trainable(snapshot: dict[str, Any]) -> None:
    """Refuse a snapshot that cannot measure a model: too few decided validation pairs."""
    splits = snapshot["prompt_splits"]
    decided = sum(
        1 for item in snapshot["items"] if splits[str(item[1])] == "validation" and item[4] != 0.5
    )
    if decided < MIN_VALIDATION_PAIRS:
        raise ApplicationError(
            f"Too few labelled prompts to measure a model: {len(splits)} prompt(s) with usable "
            f"labels put {decided} pair(s) with a preferred side in the validation split, and "
            f"at least {MIN_VALIDATION_PAIRS} are needed. Label more prompts, or raise "
            "validation_fraction."
        )


def snapshot_check(snapshot: dict[str, Any]) -> None:
    """Refuse a snapshot where an item's prompt has no split or an unknown one."""
    splits = snapshot.get("prompt_splits", {})
    for item in snapshot.get("items", []):
        split = splits.get(str(item[1]))
        if split not in SPLITS:
            raise ApplicationError(
                f"The snapshot puts prompt {item[1]} in no known split ({split!r}); "
                "a prompt must be in exactly one of train and validation."
            )


def snapshot_rated(snapshot: dict[str, Any]) -> list[RatedResponse]:
    """The snapshot's rated responses (per-criterion means, 0..1) with their texts."""
    rows = snapshot.get("rated", [])
    splits = snapshot["prompt_splits"]
    prompts = {
        p.pk: p for p in Prompt.objects.filter(pk__in={row[1] for row in rows}).only("pk", "input")
    }
    texts = dict(Response.objects.filter(pk__in={row[0] for row in rows}).values_list("pk", "text"))
    return [
        RatedResponse(
            prompt_id=prompt_id,
            prompt=tuple((str(m["role"]), str(m["content"])) for m in prompts[prompt_id].messages),
            response=texts[response_id],
            split=splits[str(prompt_id)],
            ratings=ratings,
        )
        for response_id, prompt_id, ratings in rows
        if prompt_id in prompts and response_id in texts and str(prompt_id) in splits
    ]


def snapshot_pairs(snapshot: dict[str, Any]) -> list[TrainingPair]:
    """The snapshot's items as the training engine's pairs, with their texts."""
    snapshot_check(snapshot)
    items = snapshot.get("items", [])
    splits = snapshot["prompt_splits"]
    prompt_ids = {item[1] for item in items}
    response_ids = {item[2] for item in items} | {item[3] for item in items}
    prompts = {p.pk: p for p in Prompt.objects.filter(pk__in=prompt_ids).only("pk", "input")}
    texts = dict(Response.objects.filter(pk__in=response_ids).values_list("pk", "text"))
    pairs = []
    for comparison_id, prompt_id, chosen, rejected, target, strength, agreement in items:
        prompt = prompts.get(prompt_id)
        if prompt is None or chosen not in texts or rejected not in texts:
            continue  # deleted since the snapshot; the run reports the counts it trained on
        turns = tuple((str(m["role"]), str(m["content"])) for m in prompt.messages)
        pairs.append(
            TrainingPair(
                pair_id=comparison_id,
                prompt_id=prompt_id,
                prompt=turns,
                chosen=texts[chosen],
                rejected=texts[rejected],
                split=splits[str(prompt_id)],
                target=float(target),
                strength=strength,
                agreement=agreement,
                chosen_id=chosen,
                rejected_id=rejected,
            )
        )
    return pairs
