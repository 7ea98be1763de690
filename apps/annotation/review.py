"""Label quality on the database: gold accuracy and the pause rule, reviewers' decisions,
the review queue, the consensus label of each comparison, and agreement figures.

The statistics themselves are pure functions in `apps.annotation.quality`; this module
turns current labels (those no later label supersedes) into their inputs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.accounts.settings_schema import ConsensusRule
from apps.annotation import quality
from apps.annotation.models import AnnotatorStatus, Comparison, Flag, Label, ReviewDecision
from apps.annotation.quality import resampling
from apps.annotation.schema import Choice
from apps.core.errors import ApplicationError

BOOTSTRAP_RESAMPLES = 1000
GROUP_INTERVALS = 50


def current_labels(*, project: Project) -> QuerySet[Label]:
    """Labels in force: annotators' and imported ones that no later label supersedes."""
    return Label.objects.filter(comparison__project=project, superseded_by__isnull=True)


def _request_refresh(project_id: int) -> None:
    """Reports read consensus and gold answers: queue their recompute (see reports)."""
    from apps.annotation.reports import agreement_request  # reports builds on this module

    agreement_request(project_id=project_id)


# --- gold -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GoldAccuracy:
    correct: int
    total: int

    @property
    def share(self) -> float | None:
        return self.correct / self.total if self.total else None


def gold_accuracy(*, project: Project, user: User) -> GoldAccuracy:
    """How many of this person's current judgments of gold items match the known answer."""
    rows = current_labels(project=project).filter(annotator=user, comparison__is_gold=True)
    pairs = list(rows.values_list("choice", "comparison__gold_choice"))
    return GoldAccuracy(correct=sum(a == b for a, b in pairs), total=len(pairs))


def annotator_paused(*, project: Project, user: User) -> AnnotatorStatus | None:
    return AnnotatorStatus.objects.filter(
        project=project, user=user, paused_at__isnull=False
    ).first()


def paused_users(*, project: Project) -> QuerySet[AnnotatorStatus]:
    """The statuses of the project's annotators whose queue is paused now."""
    return AnnotatorStatus.objects.filter(project=project, paused_at__isnull=False)


def gold_check(*, project: Project, user: User) -> AnnotatorStatus | None:
    """Apply the project's pause rule after a gold judgment; return the status if paused."""
    threshold = project.settings.gold_pause_below
    if threshold is None:
        return None
    accuracy = gold_accuracy(project=project, user=user)
    if accuracy.total < project.settings.gold_min_items or accuracy.share >= threshold:  # type: ignore[operator]
        return None
    reason = (
        f"Gold accuracy {accuracy.correct}/{accuracy.total} ({accuracy.share:.0%}) is below "
        f"{threshold:.0%}."
    )
    status, _ = AnnotatorStatus.objects.update_or_create(
        project=project,
        user=user,
        defaults={"paused_at": timezone.now(), "pause_reason": reason, "resumed_at": None},
    )
    return status


@transaction.atomic
def annotator_resume(*, project: Project, user: User, by: User) -> AnnotatorStatus:
    """Let a paused annotator work again (an admin's call, after talking to them)."""
    status = AnnotatorStatus.objects.select_for_update().filter(project=project, user=user).first()
    if status is None or status.paused_at is None:
        raise ApplicationError(f"{user} is not paused in this project.")
    status.paused_at = None
    status.resumed_at = timezone.now()
    status.resumed_by = by
    status.save(update_fields=["paused_at", "resumed_at", "resumed_by", "updated_at"])
    return status


@transaction.atomic
def comparison_mark_gold(*, comparison: Comparison, gold_choice: str | None) -> Comparison:
    """Make a pair a gold item with its known answer, or (None) an ordinary item again."""
    if comparison.kind != Comparison.Kind.PAIR:
        raise ApplicationError("Only pairs can be gold items.")
    if gold_choice is not None and gold_choice not in {choice.value for choice in Choice}:
        raise ApplicationError("gold_choice: must be a, b, tie or both_bad.")
    comparison.is_gold = gold_choice is not None
    comparison.gold_choice = gold_choice or ""
    comparison.save(update_fields=["is_gold", "gold_choice", "updated_at"])
    _request_refresh(comparison.project_id)
    return comparison


# --- review -----------------------------------------------------------------------------


def review_queue(*, project: Project) -> QuerySet[Comparison]:
    """Pairs whose current labels disagree, or with an open flag, and no reviewer decision."""
    disagreeing = (
        current_labels(project=project)
        .filter(comparison__kind=Comparison.Kind.PAIR)
        .values("comparison")
        .annotate(choices=Count("choice", distinct=True))
        .filter(choices__gt=1)
        .values("comparison")
    )
    flagged = Flag.objects.filter(comparison=OuterRef("pk"), resolved_at__isnull=True)
    decided = ReviewDecision.objects.filter(comparison=OuterRef("pk"))
    return (
        Comparison.objects.filter(project=project)
        .filter(Q(pk__in=disagreeing) | Exists(flagged))
        .exclude(Exists(decided))
        .select_related("prompt", "response_a", "response_b")
        .order_by("-priority", "pk")
    )


@transaction.atomic
def review_decide(
    *,
    comparison: Comparison,
    reviewer: User,
    choice: str,
    strength: int | None = None,
    note: str = "",
) -> ReviewDecision:
    """Record a reviewer's final judgment; it resolves the comparison's open flags."""
    if comparison.kind != Comparison.Kind.PAIR:
        raise ApplicationError("Review decisions are for pairs.")
    if choice not in {c.value for c in Choice}:
        raise ApplicationError("choice: must be a, b, tie or both_bad.")
    scale = comparison.project.settings.strength_scale
    if strength is not None and (choice not in ("a", "b") or not 0 <= strength < len(scale)):
        raise ApplicationError(f"strength: goes with a or b, from 0 to {len(scale) - 1}.")
    decision = ReviewDecision.objects.create(
        comparison=comparison, reviewer=reviewer, choice=choice, strength=strength,
        note=note.strip(),
    )  # fmt: skip
    Flag.objects.filter(comparison=comparison, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )
    _request_refresh(comparison.project_id)
    return decision


# --- consensus --------------------------------------------------------------------------


@dataclass(frozen=True)
class Consensus:
    """The label a comparison stands for downstream."""

    choice: str | None  # a, b, tie, both_bad; None when the vote is tied
    p_a: float | None  # P(A preferred): ties and both-bad count half
    strength: float | None  # |P(a) − P(b)|, 0..1
    rule: str  # review, majority or dawid_skene
    labels: int


def consensus_of_votes(answers: Sequence[str]) -> Consensus:
    """The majority rule on one item's current answers (one per annotator or imported label).

    The plurality choice, None when two choices share the top count (no tie-break: review
    decides); the soft label from the vote shares. Plain counting, so exports can apply it
    item by item to millions of labels.
    """
    if not answers:
        raise ValueError("an item needs at least one answer")
    counts: dict[str, int] = {}
    for answer in answers:
        counts[answer] = counts.get(answer, 0) + 1
    top = max(counts.values())
    winners = [answer for answer, count in counts.items() if count == top]
    n = len(answers)
    a, b = counts.get("a", 0), counts.get("b", 0)
    undecided = counts.get("tie", 0) + counts.get("both_bad", 0)
    return Consensus(
        choice=winners[0] if len(winners) == 1 else None,
        p_a=(a + undecided / 2) / n,
        strength=abs(a - b) / n,
        rule=ConsensusRule.MAJORITY.value,
        labels=n,
    )


def consensus_of_judgments(
    judgments: Sequence[quality.Judgment], *, rule: ConsensusRule
) -> dict[Hashable, Consensus]:
    """Each item's consensus under a project's rule, before reviewers' decisions.

    Majority works item by item (`consensus_of_votes`); Dawid–Skene weighs each annotator by
    the reliability it estimates from all the judgments, so it needs them all at once.
    """
    if rule == ConsensusRule.DAWID_SKENE and judgments:
        counts: dict[Hashable, int] = defaultdict(int)
        for judgment in judgments:
            counts[judgment.item] += 1
        fitted = quality.dawid_skene(judgments, quality.PREFERENCE_CLASSES)
        result: dict[Hashable, Consensus] = {}
        for item, posterior in fitted.posteriors.items():
            soft = quality.soft_label(posterior)
            best = max(posterior, key=posterior.__getitem__)
            result[item] = Consensus(best, soft.p_a_preferred, soft.strength,
                                     ConsensusRule.DAWID_SKENE.value, counts[item])  # fmt: skip
        return result
    return {
        item: consensus_of_votes([str(value) for value in votes.values()])
        for item, votes in quality.judgments_by_item(judgments).items()
    }


def consensus_of_decision(*, choice: str, labels: int) -> Consensus:
    """A reviewer's decision as the consensus: it overrides the rule."""
    p_a = {"a": 1.0, "b": 0.0}.get(choice, 0.5)
    return Consensus(choice, p_a, abs(2 * p_a - 1), "review", labels)


def review_decisions_latest(*, project: Project) -> dict[int, ReviewDecision]:
    """Each reviewed comparison's latest decision (a later decision replaces an earlier one)."""
    decisions = ReviewDecision.objects.filter(comparison__project=project).order_by("pk")
    return {decision.comparison_id: decision for decision in decisions}


def _pair_judgments(project: Project) -> list[quality.Judgment]:
    """The current choices on pairs, one judgment per label; an imported label votes as its
    own voter (`import-<label id>`), an annotator's under their user id."""
    return [
        quality.Judgment(item=comparison_id, annotator=annotator_id or f"import-{pk}", value=choice)
        for pk, comparison_id, annotator_id, choice in current_labels(project=project)
        .filter(comparison__kind=Comparison.Kind.PAIR)
        .exclude(choice="")
        .values_list("pk", "comparison_id", "annotator_id", "choice")
    ]


def consensus_compute(*, project: Project) -> dict[int, Consensus]:
    """Each labelled pair's consensus: the reviewer's decision if any, else the project's rule.

    Imported labels count as one judgment each, like an annotator's.
    """
    judgments = _pair_judgments(project)
    result = consensus_of_judgments(judgments, rule=project.settings.consensus)
    for comparison_id, decision in review_decisions_latest(project=project).items():
        labels = result[comparison_id].labels if comparison_id in result else 0
        result[comparison_id] = consensus_of_decision(choice=decision.choice, labels=labels)
    return result  # type: ignore[return-value]


# --- leave-one-out consensus: what an annotator is compared with ------------------------


def consensus_of_others(
    judgments: Sequence[quality.Judgment], *, rule: ConsensusRule
) -> dict[tuple[Hashable, Hashable], Consensus | None]:
    """Each judgment's item consensus formed without that annotator's label (leave-one-out).

    Keyed (item, annotator). Majority: the vote of the item's other labels
    (`consensus_of_votes`, so `choice` is None where they split evenly). Dawid–Skene: the
    item's posterior given its other labels, with the reliabilities fitted on all
    (`quality.dawid_skene_without_own`). None where no other label is left. Comparing a
    person with a consensus that holds their own vote rewards them for agreeing with
    themselves: with two annotators, each would agree fully wherever the other abstained
    or the vote was split.
    """
    if rule == ConsensusRule.DAWID_SKENE and judgments:
        counts: dict[Hashable, int] = defaultdict(int)
        for judgment in judgments:
            counts[judgment.item] += 1
        fitted = quality.dawid_skene(judgments, quality.PREFERENCE_CLASSES)
        result: dict[tuple[Hashable, Hashable], Consensus | None] = {}
        for key, posterior in quality.dawid_skene_without_own(judgments, fitted).items():
            if posterior is None:
                result[key] = None
                continue
            soft = quality.soft_label(posterior)
            best = max(posterior, key=posterior.__getitem__)
            result[key] = Consensus(
                str(best),
                soft.p_a_preferred,
                soft.strength,
                ConsensusRule.DAWID_SKENE.value,
                counts[key[0]] - 1,
            )
        return result
    result = {}
    # The majority depends only on which answers the others gave: few distinct sets.
    known: dict[tuple[str, ...], Consensus] = {}
    for item, answers in quality.judgments_by_item(judgments).items():
        for annotator in answers:
            others = tuple(sorted(str(v) for voter, v in answers.items() if voter != annotator))
            if not others:
                result[(item, annotator)] = None
                continue
            if (found := known.get(others)) is None:
                found = known[others] = consensus_of_votes(others)
            result[(item, annotator)] = found
    return result


def consensus_of_others_compute(
    *, project: Project
) -> dict[tuple[int, Hashable], Consensus | None]:
    """What each current pair label is compared with: its item's consensus without it.

    Keyed (comparison id, voter): the annotator's user id, or `import-<label id>` for an
    imported label. A reviewer's decision stands for the item as in `consensus_compute`,
    except against the reviewer's own label (the decision is their judgment again): there
    the project's rule over the other labels decides. None: no consensus is left (nobody
    else judged the item); a Consensus whose choice is None: the others split evenly. Every
    figure that compares an annotator with the crowd reads this, and skips both cases.
    """
    decisions = review_decisions_latest(project=project)
    result = consensus_of_others(_pair_judgments(project), rule=project.settings.consensus)
    for (comparison_id, voter), crowd in list(result.items()):
        decision = decisions.get(comparison_id)  # type: ignore[call-overload]
        if decision is not None and decision.reviewer_id != voter:
            labels = crowd.labels if crowd is not None else 0
            result[(comparison_id, voter)] = consensus_of_decision(
                choice=decision.choice, labels=labels
            )
    return result  # type: ignore[return-value]


# --- agreement --------------------------------------------------------------------------


def _estimate(judgments: list[quality.Judgment], statistic: Any, interval: Any) -> dict[str, Any]:
    """The statistic, the number of items, and (when defined) its bootstrap interval.

    `interval` is the vectorised bootstrap of the same statistic (see
    `quality.resampling`): it gives what `quality.bootstrap_interval` gives, much faster.
    """
    if not judgments:
        return {"value": None, "n_items": 0, "n_pairs": 0, "interval": None}
    estimate = statistic(judgments)
    bounds = None
    if estimate.value is not None:
        bounds = interval(judgments, n_resamples=BOOTSTRAP_RESAMPLES, seed=0)
    return {**asdict(estimate), "interval": list(bounds) if bounds else None}


def _group_estimates(groups: dict[str, list[quality.Judgment]]) -> dict[str, dict[str, Any]]:
    """Raw agreement per prompt group; the GROUP_INTERVALS largest get a bootstrap interval
    (a project may have thousands of small groups, and each interval costs resamples)."""
    sized = sorted(groups, key=lambda name: (-len({j.item for j in groups[name]}), name))
    with_interval = set(sized[:GROUP_INTERVALS])
    return {
        name: _estimate(js, quality.raw_agreement, resampling.raw_agreement_interval)
        if name in with_interval
        else {**asdict(quality.raw_agreement(js)), "interval": None}
        for name, js in sorted(groups.items())
    }


def agreement_compute(*, project: Project) -> dict[str, Any]:
    """Agreement between annotators over current labels, as JSON-ready figures.

    Choice: raw agreement (ties count as their own answer) and nominal α; signed strength:
    ordinal α; each rubric criterion: ordinal α over the ratings of each response; per
    prompt group: raw agreement; Cohen's κ for every pair of annotators. Each with the
    number of items it is computed on and a bootstrap interval.
    """
    rows = list(
        current_labels(project=project)
        .filter(source=Label.Source.ANNOTATOR, comparison__kind=Comparison.Kind.PAIR)
        .exclude(choice="")
        .values_list(
            "comparison_id",
            "annotator_id",
            "choice",
            "strength",
            "ratings",
            "comparison__prompt__group",
        )  # fmt: skip
    )
    scale_size = len(project.settings.strength_scale)
    choices = [quality.Judgment(c, a, choice) for c, a, choice, *_ in rows]
    strengths = [
        quality.Judgment(c, a, signed)
        for c, a, choice, strength, *_ in rows
        if (signed := quality.signed_strength(choice, strength, scale_size)) is not None
    ]
    criteria: dict[str, list[quality.Judgment]] = defaultdict(list)
    for c, a, _, _, ratings, _ in rows:
        for response_id, values in (ratings or {}).items():
            for name, value in values.items():
                criteria[name].append(quality.Judgment((c, response_id), a, int(value)))
    groups: dict[str, list[quality.Judgment]] = defaultdict(list)
    for c, a, choice, _, _, group in rows:
        if group:
            groups[group].append(quality.Judgment(c, a, choice))
    kappa = quality.cohen_kappa_matrix(choices) if choices else None
    ordinal = quality.signed_scale(scale_size)
    return {
        "labels": len(rows),
        "annotators": len({a for _, a, *_ in rows}),
        "choice": {
            "raw": _estimate(choices, quality.raw_agreement, resampling.raw_agreement_interval),
            "alpha": _estimate(
                choices,
                partial(quality.krippendorff_alpha, level="nominal"),
                partial(resampling.alpha_interval, level="nominal"),
            ),
        },
        "strength": _estimate(
            strengths,
            partial(quality.krippendorff_alpha, level="ordinal", value_domain=ordinal),
            partial(resampling.alpha_interval, level="ordinal", value_domain=ordinal),
        ),
        "criteria": {
            name: _estimate(
                js,
                partial(quality.krippendorff_alpha, level="ordinal"),
                partial(resampling.alpha_interval, level="ordinal"),
            )
            for name, js in sorted(criteria.items())
        },
        "groups": _group_estimates(groups),
        "kappa": [
            {"annotators": [a, b], **asdict(estimate)}
            for (a, b), estimate in sorted(kappa.pairs.items(), key=lambda kv: str(kv[0]))
        ]
        if kappa
        else [],
    }
